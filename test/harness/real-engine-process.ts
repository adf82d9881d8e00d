/**
 * What the real-engine harnesses (real-vllm.ts, real-transformers.ts) share: the rendered command line with
 * only host and port changed, the rendered probes, and the engine as its own process group stopped as the
 * kubelet stops a container.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';

/** Kubernetes' expansion of command and args: `$(VAR)` from the container env, `$$` an escaped `$`. */
export function expandKubernetes(arg: string, env: Readonly<Record<string, string>>): string {
  return arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name) => (whole === '$$' ? '$' : name in env ? env[name] : whole));
}

export interface RenderedProbe { kind: 'startupProbe' | 'readinessProbe' | 'livenessProbe'; path: string; periodSeconds: number; failureThreshold: number }

/** The container's command line as the kubelet expands it, listening on loopback `port` instead of 0.0.0.0:8000. */
export function renderedArgv(container: any, env: Record<string, string>, port: number, changes: string): string[] {
  const argv = [...container.command, ...(container.args ?? [])].map((a: string) => expandKubernetes(a, env));
  const replace = (flag: string, want: string, value: string) => {
    const i = argv.indexOf(flag);
    if (i < 0 || argv[i + 1] !== want) throw new Error(`rendered ${flag} is not ${want}: update ${changes} (${argv.join(' ')})`);
    argv[i + 1] = value;
  };
  replace('--host', '0.0.0.0', '127.0.0.1');
  replace('--port', '8000', String(port));
  return argv;
}

/** The rendered httpGet probes, and the seconds the startup probe allows (or `readyTimeoutSeconds`). */
export function renderedProbes(container: any, readyTimeoutSeconds?: number): { probes: RenderedProbe[]; budget: number } {
  const probes = (['startupProbe', 'readinessProbe', 'livenessProbe'] as const).filter((k) => container[k]).map((k): RenderedProbe => {
    const p = container[k];
    if (!p.httpGet || String(p.httpGet.port) !== '8000') throw new Error(`rendered ${k} is not an httpGet on port 8000: ${JSON.stringify(p)}`);
    return { kind: k, path: p.httpGet.path as string, periodSeconds: p.periodSeconds ?? 10, failureThreshold: p.failureThreshold ?? 3 };
  });
  const startup = probes.find((p) => p.kind === 'startupProbe');
  return { probes, budget: readyTimeoutSeconds ?? (startup ? startup.periodSeconds * startup.failureThreshold : 600) };
}

export interface EngineProcess {
  readonly child: ChildProcess;
  readonly started: number;
  /** Exit code or signal, null while running. */
  exited(): number | string | null;
  /** The last 40 lines of its log. */
  tail(): string;
  /** As the kubelet stops a container: SIGTERM to the main process, SIGKILL after 30 s, then what is left of its group. */
  stop(): Promise<void>;
}

/** Starts argv in its own process group (so stop() ends the engine's worker processes too), output to `log`. */
export function spawnEngine(argv: string[], opts: { cwd: string; env: Record<string, string>; processEnv: NodeJS.ProcessEnv; log: string }): EngineProcess {
  const out = fs.openSync(opts.log, 'w');
  fs.writeSync(out, `$ ${argv.join(' ')}\n# env: ${JSON.stringify(opts.env)}\n`);
  const started = Date.now();
  const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd, env: opts.processEnv, stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  let exited: number | string | null = null;
  child.on('exit', (code, signal) => { exited = code ?? signal; });
  return {
    child, started,
    exited: () => exited,
    tail: () => fs.readFileSync(opts.log, 'utf8').split('\n').slice(-40).join('\n'),
    stop: async () => {
      if (exited !== null || child.pid === undefined) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* already gone */ }
      const kill = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 30_000);
      await gone;
      clearTimeout(kill);
      // Workers left in the group after the parent exited.
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* none */ }
    },
  };
}
