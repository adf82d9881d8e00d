/**
 * A real Prometheus 3 (built from the Go module proxy) on a loopback port,
 * with a temp data dir, for end-to-end tests.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { prometheusBinDir } from './binaries';
import { freePort } from './control-plane';

export interface RunningPrometheus {
  readonly url: string;
  readonly dir: string;
  query(expr: string): Promise<any[]>;
  targets(): Promise<any[]>;
  stop(): Promise<void>;
}

export function promtool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(prometheusBinDir(), 'promtool'), args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
    });
  });
}

/** Writes `config` (and rule files, whose paths the config must reference via `rulesDir`) and starts Prometheus in a temp dir it removes on stop. */
export async function startPrometheus(config: object, ruleFiles: Record<string, object> = {}): Promise<RunningPrometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-prom-'));
  fs.mkdirSync(path.join(dir, 'rules'));
  for (const [name, rules] of Object.entries(ruleFiles)) fs.writeFileSync(path.join(dir, 'rules', name), Yaml.stringify(rules));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), Yaml.stringify(config));
  const prom = await startPrometheusIn(dir);
  return { ...prom, async stop() { await prom.stop(); if (!process.env.CIM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true }); } };
}

export interface StartOptions {
  /** More command-line flags. */
  readonly args?: readonly string[];
  /** How long to wait for /-/ready (replaying a large TSDB takes a while). @default 60 s */
  readonly readyTimeoutMs?: number;
}

/** Starts Prometheus on `dir/prometheus.yml` with its TSDB in `dir/data`; the caller owns the directory (it can restart on the same data). */
export async function startPrometheusIn(dir: string, opts: StartOptions = {}): Promise<RunningPrometheus> {
  const port = await freePort();
  const log = fs.openSync(path.join(dir, 'prometheus.log'), 'a');
  const child: ChildProcess = spawn(path.join(prometheusBinDir(), 'prometheus'), [
    `--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`,
    `--web.listen-address=127.0.0.1:${port}`, '--web.enable-otlp-receiver', '--web.enable-remote-write-receiver',
    '--log.level=warn', ...(opts.args ?? []),
  ], { stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    try { if ((await fetch(`${url}/-/ready`)).ok) break; } catch { /* starting */ }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`prometheus did not start:\n${fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8').slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const api = async (p: string) => {
    const res = await fetch(`${url}${p}`);
    const body: any = await res.json();
    if (body.status !== 'success') throw new Error(`${p}: ${JSON.stringify(body)}`);
    return body.data;
  };
  return {
    url, dir,
    query: async (expr) => (await api(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    targets: async () => (await api('/api/v1/targets?state=active')).activeTargets,
    async stop() {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => { clearTimeout(t); resolve(); });
        child.kill('SIGTERM');
      });
      fs.closeSync(log);
    },
  };
}

/** Polls `check` until it returns a value or the time is up. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`${what}: timed out${last ? ` (${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
