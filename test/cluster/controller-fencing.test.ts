/**
 * Deadlines and fencing (issue #26), with two real controller processes on a
 * real apiserver. Replica A reaches the apiserver through a loopback proxy
 * that freezes (nothing forwarded, nothing closed: a dead apiserver behind a
 * load balancer); replica B directly.
 * - A leads, then its connections freeze: A stops leading (its leader gauge
 *   goes to 0, and it sends no write from then on) by its renew deadline,
 *   before B takes the Lease; B reconciles a resource created meanwhile;
 *   A's /healthz and /readyz fail; SIGTERM ends A promptly while frozen.
 * - Start-up against a listener that accepts and never answers: the process
 *   logs that it is waiting, serves a failing /healthz, and SIGTERM ends it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApi, KubeObject } from '../../src/controller/kube';
import { INFERENCE_MONITORING, resourcePath } from '../../src/controller/resources';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, startControlPlane } from '../harness/control-plane';
import { ControllerProcess, startControllerProcess } from '../harness/controller-process';
import { FreezeProxy, startFreezeProxy } from '../harness/freeze-proxy';
import { waitFor } from '../harness/wait';

const NS = 'llm';
const SPEC = { models: [{ name: 'm', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' }], grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } };
const LEADER = 'inference_monitoring_leader';
const WRITES = 'inference_monitoring_kube_requests{kind="write"}';
/** client-go's defaults, which the controller uses. */
const RENEW_DEADLINE_MS = 10_000;
const LEASE_MS = 15_000;

/** Every object applied at the resource's generation (nothing runs Deployments here, so never Ready). */
const reconciled = (o?: KubeObject) => {
  const d = o?.status?.conditions?.find((c: { type: string }) => c.type === 'Degraded');
  return !!o && d?.status === 'False' && d.reason === 'Reconciled' && d.observedGeneration === o.metadata.generation;
};

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('deadlines and fencing: two controller processes, one behind a connection that freezes', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let proxy: FreezeProxy;
  const procs: ControllerProcess[] = [];
  /** A kubeconfig like the control plane's, reaching it at another address. */
  const kubeconfigVia = (port: number, name: string) => {
    const file = path.join(cp.dir, name);
    fs.writeFileSync(file, fs.readFileSync(cp.kubeconfig, 'utf8').replace(cp.server, `https://127.0.0.1:${port}`));
    return file;
  };
  const create = (name: string) => api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: NS }, spec: SPEC });

  beforeAll(async () => {
    cp = await startControlPlane();
    await ensureNamespace(cp, NS);
    await installCrd(cp, inferenceMonitoringCrd());
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    proxy = await startFreezeProxy({ host: '127.0.0.1', port: Number(new URL(cp.server).port) });
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) if (p.alive()) p.proc.kill('SIGKILL');
    if (process.env.CIM_DEBUG) for (const p of procs) console.log(p.logFile, p.log().slice(-4000));
    await proxy?.close();
    await cp?.stop();
  });

  test('a frozen leader stops writing by its renew deadline, before the healthy replica takes over and reconciles; its probes fail; SIGTERM ends it', async () => {
    const args = ['--leader-election-namespace=default'];
    const a = await startControllerProcess({ kubeconfig: kubeconfigVia(proxy.port, 'via-proxy.kubeconfig'), dir: cp.dir, name: 'a', args });
    procs.push(a);
    await waitFor('A leads', async () => (await a.metric(LEADER)) === 1, 60_000, 200);
    const b = await startControllerProcess({ kubeconfig: cp.kubeconfig, dir: cp.dir, name: 'b', args });
    procs.push(b);
    await waitFor('B ready, standing by', async () => (await b.get('/readyz'))?.status === 200 && (await b.metric(LEADER)) === 0, 60_000, 200);
    await create('before');
    await waitFor('A reconciles a resource', async () => reconciled(await api.get(INFERENCE_MONITORING, NS, 'before')), 60_000, 200);
    expect((await a.get('/healthz'))?.status).toBe(200);

    // Sample both replicas every 100 ms from the freeze on.
    const samples: Array<{ t: number; aLeader?: number; aWrites?: number; bLeader?: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [aLeader, aWrites, bLeader] = await Promise.all([a.metric(LEADER), a.metric(WRITES), b.metric(LEADER)]);
        samples.push({ t: performance.now(), aLeader, aWrites, bLeader });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const frozenAt = performance.now();
    proxy.freeze();
    await create('during');
    const reconciledDuring = await waitFor('B reconciles the resource created during the freeze', async () => (reconciled(await api.get(INFERENCE_MONITORING, NS, 'during')) ? performance.now() : undefined), 90_000, 200);
    const probes = { healthz: await a.get('/healthz'), readyz: await a.get('/readyz') };
    await new Promise((r) => setTimeout(r, 3000));
    sampling = false;
    await sampler;

    const aLost = samples.find((s) => s.aLeader === 0);
    const bLeads = samples.find((s) => s.bLeader === 1);
    expect(aLost).toBeDefined();
    expect(bLeads).toBeDefined();
    const since = (t: number) => Math.round(t - frozenAt);
    console.log(`frozen at 0 ms: A stopped leading at ${since(aLost!.t)} ms, B took the Lease at ${since(bLeads!.t)} ms, `
      + `B reconciled the resource created during the freeze at ${since(reconciledDuring)} ms; A's probes while frozen: `
      + `/healthz ${probes.healthz?.status} (${probes.healthz?.text.split('\n')[0]}), /readyz ${probes.readyz?.status}`);
    // A's own clock ends its leadership within its renew deadline of its last renewal (renewals every 2 s).
    expect(aLost!.t - frozenAt).toBeLessThanOrEqual(RENEW_DEADLINE_MS + 1000);
    // B can take the Lease only a lease duration after it last saw it renewed.
    expect(bLeads!.t - frozenAt).toBeGreaterThanOrEqual(LEASE_MS - 2000 - 500);
    expect(aLost!.t).toBeLessThan(bLeads!.t);
    // At most one writer: never both leaders in one sample, and A sent no write from the moment it stopped leading.
    expect(samples.filter((s) => s.aLeader === 1 && s.bLeader === 1)).toEqual([]);
    const writesWhenLost = aLost!.aWrites!;
    expect(samples.filter((s) => s.t >= aLost!.t && s.aWrites !== undefined).map((s) => s.aWrites).filter((w) => w !== writesWhenLost)).toEqual([]);
    expect(await b.metric('inference_monitoring_resource_reconcile_total{resource_namespace="llm",resource_name="during",result="success"}')).toBeGreaterThanOrEqual(1);
    expect(probes.healthz?.status).toBe(503);
    expect(probes.readyz?.status).toBe(503);

    // SIGTERM while still frozen: within the install's 30 s grace period, and cleanly.
    const stopped = await a.terminate();
    console.log(`A, frozen, exited ${stopped.code} ${Math.round(stopped.ms)} ms after SIGTERM`);
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);
    expect((await b.terminate()).code).toBe(0);
  }, 240_000);

  test('start-up against a listener that accepts and never answers: it logs, serves a failing /healthz, and SIGTERM ends it', async () => {
    const silent = await startFreezeProxy({ host: '127.0.0.1', port: 1 }, { frozen: true });
    try {
      const c = await startControllerProcess({ kubeconfig: kubeconfigVia(silent.port, 'silent.kubeconfig'), dir: cp.dir, name: 'silent', args: ['--leader-election-namespace=default'] });
      procs.push(c);
      const t0 = performance.now();
      const failing = await waitFor('/healthz answers 503', async () => { const r = await c.get('/healthz'); return r?.status === 503 ? r : undefined; }, 30_000, 200);
      const at = performance.now() - t0;
      await waitFor('a log line says what it waits for', async () => c.log().includes('waiting for the apiserver'), 30_000, 200);
      console.log(`no answer from the apiserver: /healthz 503 after ${Math.round(at)} ms ("${failing.text.split('\n')[0]}"); log: ${c.log().split('\n').find((l) => l.includes('waiting for the apiserver'))}`);
      expect(c.alive()).toBe(true);
      const stopped = await c.terminate();
      console.log(`exited ${stopped.code} ${Math.round(stopped.ms)} ms after SIGTERM`);
      expect(stopped.code).toBe(0);
      expect(stopped.ms).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  }, 60_000);
});
