/**
 * A memory cgroup of a given limit (v1 or v2), as the kubelet gives a
 * container with that limit: the kernel OOM-kills what it holds beyond it.
 * Used by the capacity benchmark and the tenant-memory test; needs root.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface MemoryCgroup {
  readonly dir: string;
  /** Command prefix that runs a process inside the cgroup (the shell execs it: same pid). */
  readonly wrap: readonly string[];
  oomKills(): number;
  usageMiB(): number;
  /** The highest usage so far (v1 max_usage_in_bytes, v2 memory.peak where the kernel has it). */
  peakMiB(): number | undefined;
  remove(): void;
}

/** A memory cgroup with `limitBytes`, or undefined (with a message) where none can be made. */
export function memoryCgroup(limitBytes: number, name = `cim-capacity-${process.pid}`): MemoryCgroup | undefined {
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/memory';
  const wrap = (dir: string) => ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir];
  const num = (file: string) => (fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) / 2 ** 20 : undefined);
  try {
    if (fs.existsSync(path.join(v2, 'cgroup.controllers')) && fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').includes('memory')) {
      const dir = path.join(v2, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'memory.max'), String(limitBytes));
      if (fs.existsSync(path.join(dir, 'memory.swap.max'))) fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0');
      const events = () => fs.readFileSync(path.join(dir, 'memory.events'), 'utf8');
      return { dir, wrap: wrap(dir), oomKills: () => Number(/oom_kill (\d+)/.exec(events())?.[1] ?? 0), usageMiB: () => num(path.join(dir, 'memory.current'))!, peakMiB: () => num(path.join(dir, 'memory.peak')), remove: () => fs.rmdirSync(dir) };
    }
    if (fs.existsSync(v1)) {
      const dir = path.join(v1, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(limitBytes));
      // No swap beyond the limit, where the kernel offers that knob (the kubelet runs without swap).
      if (fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes'))) fs.writeFileSync(path.join(dir, 'memory.memsw.limit_in_bytes'), String(limitBytes));
      const control = () => fs.readFileSync(path.join(dir, 'memory.oom_control'), 'utf8');
      return { dir, wrap: wrap(dir), oomKills: () => Number(/oom_kill (\d+)/.exec(control())?.[1] ?? 0), usageMiB: () => num(path.join(dir, 'memory.usage_in_bytes'))!, peakMiB: () => num(path.join(dir, 'memory.max_usage_in_bytes')), remove: () => fs.rmdirSync(dir) };
    }
  } catch (e) {
    console.error(`no memory cgroup (${(e as Error).message}): the controller runs without a limit, and only its memory is measured`);
  }
  return undefined;
}
