/**
 * Two `inference-monitoring controller` processes against a real apiserver:
 * exactly one holds the Lease and reports itself leader on /metrics; when it
 * is stopped with SIGTERM the other takes over.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { inferenceMonitoringCrd } from '../src/spec/crd';
import { ControlPlane, freePort, haveK8sBinaries, installCrd, startControlPlane } from './harness/control-plane';

const BIN = path.resolve(__dirname, '..', 'bin', 'inference-monitoring.js');

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
});
