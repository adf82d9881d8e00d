/**
 * What the controller benchmarks share: the stacks they create, a watch that
 * records when objects reach a state, the controller as its own process (the
 * CLI, with the install's V8 flags and environment), and its memory.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CONTROLLER_ENV, controllerNodeOptions } from '../src/install/controller-install';
import { KubeApi, KubeObject } from '../src/controller/kube';
import { Informer } from '../src/controller/informer';
import { ResourceKind } from '../src/controller/resources';
import { InferenceMonitoringSpecInput } from '../src/api/spec-input';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'inference-monitoring.js');

/** One model per stack, full monitoring; GPU metrics off so a DaemonSet per stack does not put N pods on every node. */
export const spec = (i: number): InferenceMonitoringSpecInput => ({ models: [{ name: `m${i}`, model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' }], gpuMetrics: { enabled: false } });

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };

export async function pool<T>(items: T[], concurrency: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next < items.length) await fn(items[next++]); }));
}

/**
 * Watches `kind` in `ns` and records when each object first satisfies `done`; resolves once `n` have.
 * Runs observe through one watch, so none pays for polling lists of N objects.
 */
export function watchUntil(api: KubeApi, kind: ResourceKind, ns: string, n: number, done: (o: KubeObject) => boolean): { ready: Promise<Map<string, number>>; stop(): void } {
  const at = new Map<string, number>();
  let resolve!: (m: Map<string, number>) => void;
  const ready = new Promise<Map<string, number>>((r) => { resolve = r; });
  const informer = new Informer(api, kind, {
    namespace: ns,
    onEvent: (type, o) => {
      if (type === 'delete' || at.has(o.metadata.name) || !done(o)) return;
      at.set(o.metadata.name, Date.now());
      if (at.size >= n) resolve(at);
    },
  });
  informer.start();
  return { ready, stop: () => informer.stop() };
}

/** Waits for `p`, failing after `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} not done after ${ms / 60_000} min`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A process's resident memory now (VmRSS) and its peak (VmHWM). */
export function rss(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
}

/** The sum of every sample of `name` whose labels start with `labels` on the controller's /metrics. */
export async function metric(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  // Without labels, every series of the family (the name followed by `{` or a space).
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}${labels}`) && (labels !== '' || l[name.length] === '{' || l[name.length] === ' '));
  return lines.length ? lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0) : NaN;
}

export interface RunningController { proc: ChildProcess; port: number; stop(): Promise<void> }

/**
 * Starts `inference-monitoring controller` on the cluster of `kubeconfig` and waits for /readyz.
 * `wrap` is a command the process is started through (a cgroup, e.g.). `nodeArgs` from
 * BENCH_CONTROLLER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
export async function startController(opts: { kubeconfig: string; namespace: string; workers: number; resyncS: number; log: string; wrap?: string[]; memoryLimit?: string }): Promise<RunningController> {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const log = fs.openSync(opts.log, 'a');
  // The V8 flags (for the memory limit) and environment of the install manifest, so the memory figures are those of the deployed controller.
  const env = { ...process.env, ...CONTROLLER_ENV, NODE_OPTIONS: [controllerNodeOptions(opts.memoryLimit), process.env.NODE_OPTIONS ?? ''].join(' ').trim() };
  const nodeArgs = (process.env.BENCH_CONTROLLER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...nodeArgs, BIN, 'controller', `--kubeconfig=${opts.kubeconfig}`, `--metrics-port=${port}`, `--workers=${opts.workers}`, `--resync-seconds=${opts.resyncS}`, `--namespace=${opts.namespace}`];
  const [cmd, ...rest] = [...(opts.wrap ?? []), process.execPath, ...args];
  const proc = spawn(cmd, rest, { stdio: ['ignore', log, log], env });
  const exited = new Promise((r) => proc.once('exit', r));
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the controller exited (${proc.exitCode ?? proc.signalCode}) before it was ready; see ${opts.log}`);
    try { if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) break; } catch { /* starting */ }
    await sleep(100);
  }
  return {
    proc, port,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
