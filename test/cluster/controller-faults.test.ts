/**
 * Faults, tried for real: the controller runs as its own process (the CLI)
 * against etcd + kube-apiserver + kube-controller-manager + scheduler + kwok.
 * etcd is restarted, the apiserver is down for 30 s, another field manager
 * overwrites owned fields, a child's namespace is stuck terminating, and the
 * controller is SIGKILLed between applying children and writing status. After
 * each, it converges, and the objects it owns are counted: exactly the
 * rendered set, each once, none lost.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess, spawn } from 'child_process';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApi, KubeObject } from '../../src/controller/kube';
import { ALLOW_FROM_ANNOTATION, OWNER_LABEL } from '../../src/controller/reconciler';
import { INFERENCE_MONITORING, OWNED_KINDS, kindOf, resourcePath } from '../../src/controller/resources';
import { planOrThrow, renderPlan } from '../../src/render';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, installPrometheusOperatorCrds, startControlPlane } from '../harness/control-plane';
import { waitFor as poll } from '../harness/wait';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'inference-monitoring.js');
const NS = 'llm';
const TARGET_NS = 'serving';
const SPEC = {
  models: [{ name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' }],
  targets: [{ name: 'legacy', engine: 'vllm', selector: { app: 'legacy' }, port: 8000, namespace: TARGET_NS }],
};

const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) => poll(what, check, timeoutMs, 250);

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('controller faults (separate process, real control plane)', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let proc: ChildProcess;
  let procLog = '';
  const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
  const startController = () => {
    const logFile = path.join(cp.dir, `controller-${Date.now()}.log`);
    procLog = logFile;
    const out = fs.openSync(logFile, 'a');
    proc = spawn(process.execPath, [BIN, 'controller', `--kubeconfig=${cp.kubeconfig}`, '--metrics-port=0', '--resync-seconds=2'], { stdio: ['ignore', out, out] });
  };
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const cr = (name: string) => api.get(INFERENCE_MONITORING, NS, name);
  const expected = (name: string, spec: unknown) => renderPlan(planOrThrow({ name, namespace: NS, spec })).map((m) => `${m.kind}/${m.metadata.namespace}/${m.metadata.name}`).sort();
  /** Every object carrying the owner label, in every namespace, by kind/namespace/name (duplicates would show twice). */
  const inventory = async (uid: string) => {
    const out: string[] = [];
    for (const k of OWNED_KINDS.filter((o) => !['keda.sh/v1alpha1', 'leaderworkerset.x-k8s.io/v1'].includes(o.apiVersion))) out.push(...(await api.list(k, undefined, `${OWNER_LABEL}=${uid}`)).items.map(key));
    return out.sort();
  };
  const converged = async (name: string, spec: unknown) => {
    let last: KubeObject | undefined;
    const obj = await waitFor(`${name} Ready at its generation`, async () => {
      const o = last = await cr(name);
      const ready = o?.status?.conditions?.find((c: any) => c.type === 'Ready');
      return o && o.status?.observedGeneration === o.metadata.generation && ready?.status === 'True' && ready.observedGeneration === o.metadata.generation ? o : undefined;
    }, 180_000).catch(async (e) => {
      const pods = await cp.kubectl(['get', 'pods,replicasets,nodes', '-A', '-o', 'wide']);
      throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last?.status)}\n${pods.stdout}${pods.stderr}`);
    });
    // Ready means applied: the inventory is then exactly the rendered set. After an etcd or apiserver
    // restart a kind's watch cache may still answer 503 "storage is (re)initializing": the read is retried.
    expect(await poll('inventory', () => inventory(obj.metadata.uid!), 60_000)).toEqual(expected(name, spec));
    return obj;
  };

  beforeAll(async () => {
    cp = await startControlPlane({ nodes: [{ name: 'gpu-node-0', gpus: 8 }] });
    await ensureNamespace(cp, NS);
    await ensureNamespace(cp, TARGET_NS, { [ALLOW_FROM_ANNOTATION]: NS });
    await installCrd(cp, inferenceMonitoringCrd());
    await installPrometheusOperatorCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    startController();
    await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name: 'f', namespace: NS }, spec: SPEC });
    await converged('f', SPEC);
  }, 240_000);
  afterAll(async () => {
    if (proc && alive()) proc.kill('SIGTERM');
    if (process.env.CIM_DEBUG && procLog) console.log(fs.readFileSync(procLog, 'utf8').slice(-5000));
    await cp?.stop();
  });

  test('a conflicting field manager force-applies owned fields (scrape config, an opened NetworkPolicy): the controller takes them back', async () => {
    const cm = kindOf('v1', 'ConfigMap');
    const np = kindOf('networking.k8s.io/v1', 'NetworkPolicy');
    const config = (await api.get(cm, NS, 'f-prometheus'))!.data['prometheus.yml'];
    const policy = (await api.get(np, NS, 'f-prometheus'))!.spec;
    const intrude = (k: typeof cm, name: string, body: Record<string, unknown>) => cp.request('PATCH', `${resourcePath(k, NS, name)}?fieldManager=intruder&force=true`,
      { apiVersion: k.apiVersion, kind: k.kind, metadata: { name, namespace: NS }, ...body }, 'application/apply-patch+yaml');
    expect((await intrude(cm, 'f-prometheus', { data: { 'prometheus.yml': 'global: {scrape_interval: 1h}\n' } })).status).toBe(200);
    expect((await intrude(np, 'f-prometheus', { spec: { podSelector: {}, ingress: [{}] } })).status).toBe(200);
    await waitFor('scrape config restored', async () => (await api.get(cm, NS, 'f-prometheus'))?.data['prometheus.yml'] === config);
    await waitFor('policy restored', async () => JSON.stringify((await api.get(np, NS, 'f-prometheus'))?.spec.ingress) === JSON.stringify(policy.ingress));
    const after = (await api.get(cm, NS, 'f-prometheus'))!;
    const owners = (after.metadata.managedFields ?? []).filter((m: any) => JSON.stringify(m.fieldsV1 ?? {}).includes('prometheus.yml'));
    expect(owners.map((m: any) => m.manager)).toEqual(['inference-monitoring-controller']);
    await converged('f', SPEC);
  }, 240_000);

  test("a child's namespace stuck terminating: reported as Degraded with the reason; nothing elsewhere lost; converges once it is back", async () => {
    const cm = kindOf('v1', 'ConfigMap');
    const role = kindOf('rbac.authorization.k8s.io/v1', 'Role');
    // A bystander with a finalizer keeps the namespace in Terminating after its content is deleted.
    await api.request('POST', resourcePath(cm, TARGET_NS), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hold', namespace: TARGET_NS, finalizers: ['test.example/hold'] } });
    await api.request('DELETE', `/api/v1/namespaces/${TARGET_NS}`);
    await waitFor('our Role removed by the namespace controller', async () => (await api.get(role, TARGET_NS, 'f-prometheus')) === undefined, 120_000);
    const degraded = await waitFor('Degraded reported', async () => (await cr('f'))?.status?.conditions?.find((c: any) => c.type === 'Degraded' && c.status === 'True'));
    console.log(`status while ${TARGET_NS} terminates: ${degraded.reason}: ${degraded.message}`);
    expect(degraded.reason).toBe('ApplyFailed');
    expect(degraded.message).toMatch(/(Role|RoleBinding) serving\/f-prometheus: .*being terminated/);
    expect(alive()).toBe(true);
    const uid = (await cr('f'))!.metadata.uid!;
    const inLlm = (await inventory(uid)).filter((k) => k.split('/')[1] === NS);
    expect(inLlm).toEqual(expected('f', SPEC).filter((k) => k.split('/')[1] === NS));

    await api.request('PATCH', resourcePath(cm, TARGET_NS, 'hold'), { metadata: { finalizers: null } }, 'application/merge-patch+json');
    await waitFor('namespace gone', async () => (await cp.request('GET', `/api/v1/namespaces/${TARGET_NS}`)).status === 404);
    await ensureNamespace(cp, TARGET_NS, { [ALLOW_FROM_ANNOTATION]: NS });
    await converged('f', SPEC);
    const deg = (await cr('f'))!.status.conditions.find((c: any) => c.type === 'Degraded');
    expect(deg).toMatchObject({ status: 'False', reason: 'Reconciled' });
  }, 180_000);

  test('killed (SIGKILL) between applying children and writing status: a new process converges with no lost or duplicated object', async () => {
    let caught = '';
    for (let attempt = 0; attempt < 4 && !caught; attempt++) {
      const name = `k${attempt}`;
      const created = await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: NS }, spec: SPEC });
      // The first object of the apply order appears before the status is written: kill right then.
      const sa = kindOf('v1', 'ServiceAccount');
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !(await api.list(sa, NS, `${OWNER_LABEL}=${created.metadata.uid}`)).items.length) { /* poll as fast as the apiserver answers */ }
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
      const partial = await inventory(created.metadata.uid);
      const status = (await cr(name))!.status;
      if (partial.length > 0 && !status?.conditions) caught = `${name}: ${partial.length} of ${expected(name, SPEC).length} children applied, no status`;
      startController();
      await converged(name, SPEC);
      // Exactly one controller owner reference per namespaced child in the resource's namespace.
      for (const k of OWNED_KINDS.filter((o) => !['keda.sh/v1alpha1', 'leaderworkerset.x-k8s.io/v1'].includes(o.apiVersion))) {
        for (const o of (await api.list(k, NS, `${OWNER_LABEL}=${created.metadata.uid}`)).items) expect((o.metadata.ownerReferences ?? []).filter((r: any) => r.controller)).toHaveLength(1);
      }
    }
    console.log(`killed between apply and status: ${caught}`);
    expect(caught).not.toBe('');
    await converged('f', SPEC);
  }, 300_000);
  test('etcd restarted: requests fail meanwhile, then it repairs a deletion and follows a spec edit', async () => {
    await cp.restartEtcd(8000);
    expect(alive()).toBe(true);
    const cm = kindOf('v1', 'ConfigMap');
    await api.request('DELETE', resourcePath(cm, NS, 'f-prometheus'));
    const edited = { ...SPEC, monitoring: { interval: '30s' } };
    await api.mergePatch(INFERENCE_MONITORING, NS, 'f', { spec: { monitoring: { interval: '30s' } } });
    await waitFor('config map repaired', async () => (await api.get(cm, NS, 'f-prometheus'))?.data?.['prometheus.yml']?.includes('scrape_interval: 30s'));
    await converged('f', edited);
    await api.mergePatch(INFERENCE_MONITORING, NS, 'f', { spec: { monitoring: { interval: null } } });
    await converged('f', SPEC);
  }, 180_000);

  test('apiserver unavailable for 30 s: the process stays up and converges afterwards', async () => {
    await cp.restartApiserver(30_000);
    expect(alive()).toBe(true);
    const svc = kindOf('v1', 'Service');
    await api.request('DELETE', resourcePath(svc, NS, 'f-llama'));
    await waitFor('service recreated', () => api.get(svc, NS, 'f-llama'), 90_000);
    await converged('f', SPEC);
  }, 240_000);

});
