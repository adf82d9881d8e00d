/**
 * A real Alertmanager (built from the Go module proxy by tools/build-alertmanager.sh) on a loopback
 * port, clustering off, with its silences and notification log in a temp dir, for notification tests.
 * Its web UI is a placeholder page (see the build script); the HTTP API (/api/v2/) is the real one.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cacheRoot, versions } from './binaries';
import { freePort } from './control-plane';

/** The version tools/build-alertmanager.sh builds when tools/versions.env does not name one. */
const DEFAULT_VERSION = 'v0.35.0';

/** Directory of alertmanager and amtool built by tools/build-alertmanager.sh. */
export function alertmanagerDir(): string {
  return process.env.CIM_ALERTMANAGER_BIN
    ?? path.join(cacheRoot(), 'alertmanager', versions().ALERTMANAGER_VERSION ?? DEFAULT_VERSION);
}

/** True when the binaries exist; in CI they must (`tools/setup.sh` builds them). */
export function haveAlertmanager(): boolean {
  const ok = ['alertmanager', 'amtool'].every((b) => fs.existsSync(path.join(alertmanagerDir(), b)));
  if (!ok && process.env.CI) throw new Error(`alertmanager binaries missing in ${alertmanagerDir()}: run tools/setup.sh`);
  return ok;
}

export function amtool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(alertmanagerDir(), 'amtool'), args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
    });
  });
}

export interface AlertmanagerOptions {
  /** The configuration file's YAML text (alertmanager.yml). */
  readonly config: string;
  /** Directory for alertmanager.yml, data/ and alertmanager.log; the caller owns it. @default a temp dir removed on stop */
  readonly dir?: string;
  /** More command-line flags. */
  readonly args?: readonly string[];
  /** How long to wait for /-/ready. @default 30 s */
  readonly readyTimeoutMs?: number;
}

export interface RunningAlertmanager {
  /** http://127.0.0.1:<port>, no trailing slash. */
  readonly url: string;
  readonly dir: string;
  /** The last `chars` characters of its log. */
  logTail(chars?: number): string;
  stop(): Promise<void>;
}

export async function startAlertmanager(opts: AlertmanagerOptions): Promise<RunningAlertmanager> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cim-am-'));
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'alertmanager.yml'), opts.config);
  const logFile = path.join(dir, 'alertmanager.log');
  const logTail = (chars = 3000) => { try { return fs.readFileSync(logFile, 'utf8').slice(-chars); } catch { return ''; } };
  const port = await freePort();
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(path.join(alertmanagerDir(), 'alertmanager'), [
    `--config.file=${dir}/alertmanager.yml`, `--storage.path=${dir}/data`,
    `--web.listen-address=127.0.0.1:${port}`,
    // An empty address turns the gossip cluster off (no listener on 9094, no peers to wait for).
    '--cluster.listen-address=',
    '--log.level=info', ...(opts.args ?? []),
  ], { stdio: ['ignore', log, log] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(t);
    }
    fs.closeSync(log);
    if (ownDir && !process.env.CIM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    try { if ((await fetch(`${url}/-/ready`)).status === 200) break; } catch { /* starting */ }
    if (child.exitCode !== null || Date.now() > deadline) {
      const tail = logTail();
      await stop();
      throw new Error(`alertmanager did not start:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, dir, logTail, stop };
}
