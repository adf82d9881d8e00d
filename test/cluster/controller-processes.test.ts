/**
 * Two `inference-monitoring controller` processes against a real apiserver:
 * exactly one holds the Lease and reports itself leader on /metrics; when it
 * is stopped with SIGTERM the other takes over. `--metrics-bind-address` listens
 * only where it is told.
 */
import { ChildProcess, spawn } from 'child_process';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, freePort, haveK8sBinaries, installCrd, startControlPlane } from '../harness/control-plane';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'inference-monitoring.js');

async function leaderGauge(port: number): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m = /^inference_monitoring_leader (\d)/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('two controller processes', () => {
  let cp: ControlPlane;
  const procs: ChildProcess[] = [];
  beforeAll(async () => {
    cp = await startControlPlane();
    await installCrd(cp, inferenceMonitoringCrd());
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await cp?.stop();
  });

  test('one leads, the other stands by, and takes over when the leader stops', async () => {
    const ports = [await freePort(), await freePort()];
    for (const port of ports) {
      procs.push(spawn(process.execPath, [BIN, 'controller', `--kubeconfig=${cp.kubeconfig}`, '--leader-election-namespace=default', `--metrics-port=${port}`], { stdio: 'ignore' }));
    }
    await until('one leader', async () => {
      const g = await Promise.all(ports.map(leaderGauge));
      return g.every((x) => x !== undefined) && g.filter((x) => x === 1).length === 1;
    });
    await new Promise((r) => setTimeout(r, 3000));
    const gauges = await Promise.all(ports.map(leaderGauge));
    expect(gauges.sort()).toEqual([0, 1]);
    const leader = (await leaderGauge(ports[0])) === 1 ? 0 : 1;
    const exited = new Promise<number | null>((resolve) => procs[leader].once('exit', (code) => resolve(code)));
    procs[leader].kill('SIGTERM');
    expect(await exited).toBe(0); // graceful shutdown
    await until('standby took over', async () => (await leaderGauge(ports[1 - leader])) === 1, 30_000);
  }, 120_000);

  /** HTTP status of GET /healthz at host:port, or the connection error's code. */
  const healthz = (host: string, port: number) => new Promise<number | string>((resolve) => {
    const req = http.get({ host, port, path: '/healthz', timeout: 3000 }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.on('timeout', () => { req.destroy(); resolve('timeout'); });
  });
  /** This machine's addresses other than loopback (where "every interface" would also answer). */
  const external = Object.values(os.networkInterfaces()).flat().filter((a) => a && !a.internal && a.family === 'IPv4' && !a.address.startsWith('169.254.')).map((a) => a!.address);

  test('--metrics-bind-address 127.0.0.1:<port>: /healthz answers on loopback and nowhere else; by default on every interface', async () => {
    expect(external.length).toBeGreaterThan(0);
    const [local, all] = [await freePort(), await freePort()];
    const start = (...args: string[]) => { const p = spawn(process.execPath, [BIN, 'controller', `--kubeconfig=${cp.kubeconfig}`, ...args], { stdio: 'ignore' }); procs.push(p); return p; };
    const a = start(`--metrics-bind-address=127.0.0.1:${local}`);
    const b = start(`--metrics-port=${all}`);
    await until('both serve /healthz on loopback', async () => (await healthz('127.0.0.1', local)) === 200 && (await healthz('127.0.0.1', all)) === 200);
    for (const addr of external) {
      expect({ addr, bound: await healthz(addr, local) }).toEqual({ addr, bound: 'ECONNREFUSED' });
      expect({ addr, default: await healthz(addr, all) }).toEqual({ addr, default: 200 });
    }
    console.log(`127.0.0.1:${local} answers on loopback only (refused on ${external.join(', ')}); --metrics-port ${all} answers on all of them`);
    for (const p of [a, b]) { const exited = new Promise((r) => p.once('exit', r)); p.kill('SIGTERM'); await exited; }
  }, 120_000);

  test('an address it cannot bind ends the command with one line and exit code 1', async () => {
    const p = spawn(process.execPath, [BIN, 'controller', `--kubeconfig=${cp.kubeconfig}`, '--metrics-bind-address=192.0.2.123:8080'], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    let stderr = '';
    p.stderr!.on('data', (d) => { stderr += d; });
    const code = await new Promise((r) => p.once('exit', r));
    expect(code).toBe(1);
    expect(stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual(['error: listen EADDRNOTAVAIL: address not available 192.0.2.123:8080']);
  }, 60_000);
});
