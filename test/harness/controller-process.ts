/**
 * The controller as its own process (`bin/inference-monitoring.js controller`),
 * as the install runs it: its /metrics, /healthz and /readyz read over HTTP,
 * its JSON log in a file, SIGTERM timed. Optionally with the install's V8
 * flags and environment for a memory limit, and inside a wrapper (a memory
 * cgroup, see memory-cgroup.ts).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CONTROLLER_ENV, controllerNodeOptions } from '../../src/install/controller-install';
import { freePort } from './control-plane';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'inference-monitoring.js');

export interface ControllerProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly logFile: string;
  alive(): boolean;
  /** Status and body of GET /healthz, /readyz or /metrics; undefined when the port does not answer. */
  get(urlPath: string): Promise<{ status: number; text: string } | undefined>;
  /** A sample's value from /metrics (`name{labels}` as written there, e.g. `inference_monitoring_kube_requests{kind="write"}`). */
  metric(sample: string): Promise<number | undefined>;
  /** Sends SIGTERM and resolves with the exit code (or signal) and the milliseconds it took. */
  terminate(): Promise<{ code: number | string | null; ms: number }>;
  log(): string;
}

export interface ControllerProcessOptions {
  readonly kubeconfig: string;
  readonly dir: string;
  readonly name: string;
  readonly args?: readonly string[];
  /** Run with the install's NODE_OPTIONS and environment for this limit (controllerNodeOptions). */
  readonly memoryLimit?: string;
  /** Command prefix, e.g. to enter a cgroup. */
  readonly wrap?: readonly string[];
}

export async function startControllerProcess(o: ControllerProcessOptions): Promise<ControllerProcess> {
  const port = await freePort();
  const logFile = path.join(o.dir, `${o.name}-${Date.now()}.log`);
  const out = fs.openSync(logFile, 'a');
  const env = o.memoryLimit ? { ...process.env, ...CONTROLLER_ENV, NODE_OPTIONS: controllerNodeOptions(o.memoryLimit) } : process.env;
  const args = [BIN, 'controller', `--kubeconfig=${o.kubeconfig}`, `--metrics-port=${port}`, ...(o.args ?? [])];
  const [cmd, ...rest] = [...(o.wrap ?? []), process.execPath, ...args];
  const proc = spawn(cmd, rest, { stdio: ['ignore', out, out], env });
  proc.once('exit', () => fs.closeSync(out));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const get = async (urlPath: string) => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(3000) });
      return { status: res.status, text: await res.text() };
    } catch {
      return undefined;
    }
  };
  return {
    proc, port, logFile, alive, get,
    async metric(sample) {
      const text = (await get('/metrics'))?.text;
      const line = text?.split('\n').find((l) => l.startsWith(`${sample} `));
      return line === undefined ? undefined : Number(line.slice(sample.length + 1));
    },
    async terminate() {
      const t0 = performance.now();
      if (!alive()) return { code: proc.exitCode ?? proc.signalCode, ms: 0 };
      const exited = new Promise<number | string | null>((r) => proc.once('exit', (code, signal) => r(code ?? signal)));
      proc.kill('SIGTERM');
      const code = await exited;
      return { code, ms: performance.now() - t0 };
    },
    log: () => fs.readFileSync(logFile, 'utf8'),
  };
}
