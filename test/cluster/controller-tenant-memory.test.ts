/**
 * Memory bounded by what the controller owns, not by what tenants create
 * (issue #26). A tenant allowed only to create ConfigMaps in its own
 * namespace creates hundreds of ~1 MiB ConfigMaps carrying the owner label:
 * half name no resource (`not-a-resource`), half name a real resource of
 * another namespace (which the reconciler never looks at there). The controller runs as its own
 * process with the install's V8 flags for its 256Mi limit, inside a memory
 * cgroup of that limit where the machine has one, and is restarted among
 * them and again with all of them in place. It must stay alive and go on
 * reconciling a legitimate resource; the heap and RSS it reaches are printed, and
 * its heap may not grow by more than a tenth of the tenant's bytes.
 *
 * Before the fix its informers kept each object's compacted content (~1 MiB
 * of short strings each): it died at V8's heap limit after ~135 of them, and
 * again seconds after each restart, on a LIST page of 100 such objects.
 */
import * as fs from 'fs';
import { KubeConfig } from '@kubernetes/client-node';
import { CONTROLLER_MEMORY } from '../../src/install/controller-install';
import { StaticConnection } from '../../src/controller/connection';
import { KubeApi, KubeObject } from '../../src/controller/kube';
import { OWNER_LABEL } from '../../src/controller/reconciler';
import { INFERENCE_MONITORING, kindOf, resourcePath } from '../../src/controller/resources';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { quantityValue } from '../../src/api/quantity';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, startControlPlane } from '../harness/control-plane';
import { ControllerProcess, startControllerProcess } from '../harness/controller-process';
import { MemoryCgroup, memoryCgroup } from '../harness/memory-cgroup';
import { waitFor } from '../harness/wait';

const NS = 'llm';
const TENANT = 'tenant';
const OBJECTS = 300;
const RESTART_AFTER = 150;
/** ~1 MiB of data in short strings: below the 512-character length compaction replaces by a digest. */
const KEYS = 2000;
const VALUE = 480;
const SPEC = { models: [{ name: 'm', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' }], grafana: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false } };
const MiB = 2 ** 20;

const reconciled = (o?: KubeObject) => {
  const d = o?.status?.conditions?.find((c: { type: string }) => c.type === 'Degraded');
  return !!o && d?.status === 'False' && d.reason === 'Reconciled' && d.observedGeneration === o.metadata.generation;
};

function bigConfigMap(i: number, owner: string): KubeObject {
  const data: Record<string, string> = {};
  const fill = `${i}-`.padEnd(VALUE, 'abcdefghijklmnopqrstuvwxyz0123456789');
  for (let k = 0; k < KEYS; k++) data[`k${k}`] = `${k}${fill}`.slice(0, VALUE);
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `junk-${i}`, namespace: TENANT, labels: { [OWNER_LABEL]: owner } }, data };
}

/** VmRSS and VmHWM (peak) of a process, MiB. */
function rss(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('tenant memory: hundreds of large labelled objects from a tenant, with restarts, in the install memory limit', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let tenant: KubeApi;
  let cgroup: MemoryCgroup | undefined;
  const procs: ControllerProcess[] = [];

  beforeAll(async () => {
    cp = await startControlPlane();
    await ensureNamespace(cp, NS);
    await ensureNamespace(cp, TENANT);
    await installCrd(cp, inferenceMonitoringCrd());
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    // The tenant: a ServiceAccount that may only create ConfigMaps in its namespace.
    const rbac = kindOf('rbac.authorization.k8s.io/v1', 'Role');
    await api.request('POST', `/api/v1/namespaces/${TENANT}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'writer' } });
    await api.request('POST', resourcePath(rbac, TENANT), { apiVersion: rbac.apiVersion, kind: 'Role', metadata: { name: 'configmap-writer' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }] });
    await api.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${TENANT}/rolebindings`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'configmap-writer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-writer' }, subjects: [{ kind: 'ServiceAccount', name: 'writer', namespace: TENANT }] });
    const token = await api.request('POST', `/api/v1/namespaces/${TENANT}/serviceaccounts/writer/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    tenant = new KubeApi(new StaticConnection({ server: cp.server, ca: fs.readFileSync(`${cp.dir}/pki/apiserver.crt`), token: token.status.token }));
    cgroup = memoryCgroup(quantityValue(CONTROLLER_MEMORY.limit), `cim-tenant-memory-${process.pid}`);
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) if (p.alive()) p.proc.kill('SIGKILL');
    if (process.env.CIM_DEBUG) for (const p of procs) console.log(p.logFile, p.log().slice(-3000));
    await new Promise((r) => setTimeout(r, 500));
    try { cgroup?.remove(); } catch { /* a process may still be leaving it */ }
    await cp?.stop();
  });

  const start = async (name: string) => {
    const p = await startControllerProcess({ kubeconfig: cp.kubeconfig, dir: cp.dir, name, memoryLimit: CONTROLLER_MEMORY.limit, wrap: cgroup?.wrap, args: ['--workers=2'] });
    procs.push(p);
    return p;
  };
  /** Ready, or an error saying how the process died (its last log lines about memory). */
  const ready = (p: ControllerProcess, what: string) => waitFor(what, async () => {
    if (!p.alive()) throw new Error(`the controller exited (${p.proc.exitCode ?? p.proc.signalCode}): ${p.log().split('\n').filter((l) => /heap|FATAL|memory|Killed/i.test(l)).slice(-3).join(' ')}`);
    return (await p.get('/readyz'))?.status === 200;
  }, 120_000, 250);
  /** Heap used, MiB: the lowest of five samples over two seconds, so that garbage a collection is about to free counts less. */
  const heapMiB = async (p: ControllerProcess) => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(((await p.metric('nodejs_heap_size_used_bytes')) ?? NaN) / MiB);
      if (i < 4) await new Promise((r) => setTimeout(r, 500));
    }
    return Math.min(...samples);
  };
  const reconcile = async (p: ControllerProcess, name: string) => {
    const t0 = performance.now();
    await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: NS }, spec: SPEC });
    await waitFor(`${name} reconciled`, async () => {
      if (!p.alive()) throw new Error(`the controller exited (${p.proc.exitCode ?? p.proc.signalCode}): ${p.log().split('\n').filter((l) => /heap|FATAL|memory|Killed/i.test(l)).slice(-3).join(' ')}`);
      return reconciled(await api.get(INFERENCE_MONITORING, NS, name));
    }, 120_000, 250);
    return performance.now() - t0;
  };

  test(`${OBJECTS} ConfigMaps of ~1 MiB labelled ${OWNER_LABEL}=not-a-resource or another namespace's resource, a restart among them and one after: alive, and it reconciles`, async () => {
    let c = await start('first');
    await reconcile(c, 'legit-0');
    const legitUid = (await api.get(INFERENCE_MONITORING, NS, 'legit-0'))!.metadata.uid!;
    const owner = (i: number) => (i % 2 ? legitUid : 'not-a-resource');
    const baseline = { heap: await heapMiB(c), ...rss(c.proc.pid!) };

    const create = async (from: number, to: number) => {
      for (let i = from; i < to; i += 4) {
        await Promise.all([0, 1, 2, 3].filter((k) => i + k < to).map((k) => tenant.request('POST', `/api/v1/namespaces/${TENANT}/configmaps`, bigConfigMap(i + k, owner(i + k)))));
      }
    };
    const sample = bigConfigMap(0, 'not-a-resource');
    const bytesEach = Buffer.byteLength(JSON.stringify(sample));
    await create(0, RESTART_AFTER);
    // Restarted among them, while the tenant goes on creating.
    expect((await c.terminate()).code).toBe(0);
    c = await start('restarted');
    await Promise.all([create(RESTART_AFTER, OBJECTS), ready(c, 'restarted controller ready')]);
    await new Promise((r) => setTimeout(r, 5000));
    expect(c.alive()).toBe(true);
    const afterCreate = { heap: await heapMiB(c), ...rss(c.proc.pid!) };
    const reconcileMs = await reconcile(c, 'legit-1');

    // Restarted with all of them in place: it lists them all.
    expect((await c.terminate()).code).toBe(0);
    const t0 = performance.now();
    c = await start('with-all-in-place');
    await ready(c, 'ready with all of them in place');
    const readyMs = performance.now() - t0;
    const reconcileAfterRestartMs = await reconcile(c, 'legit-2');
    await new Promise((r) => setTimeout(r, 10_000));
    expect(c.alive()).toBe(true);
    const afterRestart = { heap: await heapMiB(c), ...rss(c.proc.pid!) };

    const f = (x: number) => x.toFixed(1);
    console.log([
      `tenant objects: ${OBJECTS} ConfigMaps of ${f(bytesEach / MiB)} MiB (${f((OBJECTS * bytesEach) / MiB)} MiB), limit ${CONTROLLER_MEMORY.limit}${cgroup ? ` enforced by cgroup ${cgroup.dir}` : ' (no memory cgroup here: V8 flags only)'}`,
      `before them:          heap used ${f(baseline.heap)} MiB, RSS ${f(baseline.rss)} MiB (peak ${f(baseline.peak)})`,
      `after them (restarted at ${RESTART_AFTER}): heap used ${f(afterCreate.heap)} MiB, RSS ${f(afterCreate.rss)} MiB (peak ${f(afterCreate.peak)}); a new resource reconciled in ${Math.round(reconcileMs)} ms`,
      `restarted with all in place: ready in ${Math.round(readyMs)} ms, a new resource reconciled in ${Math.round(reconcileAfterRestartMs)} ms; heap used ${f(afterRestart.heap)} MiB, RSS ${f(afterRestart.rss)} MiB (peak ${f(afterRestart.peak)})`,
      cgroup ? `cgroup: peak ${f(cgroup.peakMiB() ?? NaN)} MiB, OOM kills ${cgroup.oomKills()}` : '',
    ].join('\n'));
    if (cgroup) expect(cgroup.oomKills()).toBe(0);
    // What it keeps of the tenant's ~300 MiB is a stub each (child-cache.test.ts checks the stub itself):
    // the heap grows by a small fraction of their size, not by it. Heap used includes garbage V8 has not
    // collected yet (a 16 MiB bound failed once in CI at 19 MiB), so the bound is a tenth of their bytes;
    // kept content would be at least all of them. The figures are printed, not tuned for.
    const tenantMiB = (OBJECTS * bytesEach) / MiB;
    expect(afterCreate.heap - baseline.heap).toBeLessThan(tenantMiB / 10);
    expect(afterRestart.heap - baseline.heap).toBeLessThan(tenantMiB / 10);
    expect(afterRestart.peak).toBeLessThan(quantityValue(CONTROLLER_MEMORY.limit) / MiB);
    // The ones naming legit-0 are in a namespace it does not use: neither compared nor pruned.
    expect((await api.list(kindOf('v1', 'ConfigMap'), TENANT, `${OWNER_LABEL}=${legitUid}`)).items).toHaveLength(OBJECTS / 2);
    expect((await c.terminate()).code).toBe(0);
  }, 600_000);
});
