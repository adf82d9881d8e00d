/**
 * The controller against a real kube-apiserver + etcd (no mocks): create,
 * status, spec edits, pruning, repair of hand edits and deletions, invalid
 * specs, cross-namespace cleanup, no writes once converged, and leader
 * election between two controllers.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from '../../src/controller/manager';
import { ChildEntry } from '../../src/controller/compact';
import { KubeApi, KubeObject } from '../../src/controller/kube';
import { Informer, LIST_PAGE } from '../../src/controller/informer';
import { ALLOW_FROM_ANNOTATION, OWNER_LABEL } from '../../src/controller/reconciler';
import { INFERENCE_MONITORING, OWNED_KINDS, kindOf, resourcePath } from '../../src/controller/resources';
import { CHILD_VERBS, CONTROLLER_CLUSTER_RULES, CONTROLLER_LEASE_RULES, HELD_WITHOUT_REQUEST } from '../../src/controller/rbac';
import { renderManifests } from '../../src/render';
import { vllm } from '../../src/engines/vllm';
import { renderInstall } from '../harness/install';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, installPrometheusOperatorCrds, startControlPlane } from '../harness/control-plane';
import { waitFor as poll } from '../harness/wait';
import { LIBRARY_ONLY_SPECS } from '../harness/hostile-specs';
import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';

const NS = 'llm';
const SPEC: InferenceMonitoringSpecInput = {
  models: [
    { name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { data: 2, tensor: 2 } },
    { name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' },
  ],
  monitoring: { mode: 'operator' },
};

const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000) => poll(what, check, timeoutMs, 200);

const quiet = (msg: string, fields?: Record<string, unknown>) => { if (process.env.CIM_DEBUG) console.log(msg, JSON.stringify(fields)); };
const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('controller against a real kube-apiserver', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let controller: Controller;
  /** Every client a controller in this file used: the RBAC audit reads what they were authorized for. */
  const controllerApis: KubeApi[] = [];
  const track = (a: KubeApi) => { controllerApis.push(a); return a; };
  const cr = (name: string) => api.get(INFERENCE_MONITORING, NS, name);
  const children = async (uid: string) => {
    const out: KubeObject[] = [];
    for (const k of controller.ownedInformers.keys()) {
      const [g, v, kind] = k.split('/').length === 3 ? k.split('/') : ['', ...k.split('/')];
      const rk = kindOf(g ? `${g}/${v}` : v, kind);
      out.push(...(await api.list(rk, undefined, `${OWNER_LABEL}=${uid}`)).items);
    }
    return out;
  };
  const loadKubeConfig = (file: string) => { const kc = new KubeConfig(); kc.loadFromFile(file); return kc; };
  const names = (objs: Array<{ kind: string; metadata: { name: string; namespace?: string } }>) => objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort();

  beforeAll(async () => {
    cp = await startControlPlane();
    await ensureNamespace(cp, NS);
    // Its administrator lets llm's resources discover pods there.
    await ensureNamespace(cp, 'serving', { [ALLOW_FROM_ANNOTATION]: NS });
    await installCrd(cp, inferenceMonitoringCrd());
    await installPrometheusOperatorCrds(cp);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    controller = new Controller({ api: track(new KubeApi(kc)), resyncMs: 2000, metricsPort: 0, log: quiet });
    await controller.start();
  }, 180_000);
  afterAll(async () => { await controller?.stop(); await cp?.stop(); });

  test('create: every object `cdk8s synth` would produce exists, owned and labelled, and status is reported', async () => {
    const created = await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'demo', namespace: NS }, spec: SPEC });
    const expected = names(renderManifests({ name: 'demo', namespace: NS, spec: SPEC }));
    const live = await waitFor('children', async () => { const c = await children(created.metadata.uid); return names(c).length === expected.length ? c : undefined; });
    expect(names(live)).toEqual(expected);
    for (const o of live) {
      expect(o.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'InferenceMonitoring', name: 'demo', uid: created.metadata.uid, controller: true })]);
      expect(o.metadata.managedFields!.some((m: any) => m.manager === 'inference-monitoring-controller' && m.operation === 'Apply')).toBe(true);
    }
    const status = await waitFor('status', async () => { const s = (await cr('demo'))?.status; return s?.observedGeneration === created.metadata.generation ? s : undefined; });
    expect(status.modelsReady).toBe('0/2');
    expect(status.urls).toEqual({ prometheus: 'http://kube-prometheus-stack-prometheus.monitoring.svc:9090', grafana: 'http://demo-grafana.llm.svc:3000', tempo: 'http://demo-tempo.llm.svc:3200' });
    const ready = status.conditions.find((c: any) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ModelsNotReady', observedGeneration: created.metadata.generation });
  });

  test('models become Ready when their Deployments report ready replicas', async () => {
    for (const dep of ['demo-qwen', 'demo-llama']) {
      const d = await api.get(kindOf('apps/v1', 'Deployment'), NS, dep);
      await api.request('PATCH', `${resourcePath(kindOf('apps/v1', 'Deployment'), NS, dep)}/status`, { status: { observedGeneration: d!.metadata.generation, replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 } }, 'application/merge-patch+json');
    }
    const status = await waitFor('Ready', async () => { const s = (await cr('demo'))?.status; return s?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? s : undefined; });
    expect(status.modelsReady).toBe('2/2');
    expect(status.models).toEqual([{ name: 'qwen', replicas: 1, readyReplicas: 1, ready: true }, { name: 'llama', replicas: 1, readyReplicas: 1, ready: true }]);
    expect(status.conditions.find((c: any) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'Converged' });
  });

  test('converged: three resync periods pass without a single write', async () => {
    const before = controller['opts'].api.counts.writes;
    const reconciles = () => controller.registry.getSingleMetric('inference_monitoring_reconcile_total')!.get();
    const r0 = (await reconciles()).values.reduce((a, v) => a + v.value, 0);
    await new Promise((r) => setTimeout(r, 6500));
    const r1 = (await reconciles()).values.reduce((a, v) => a + v.value, 0);
    expect(r1 - r0).toBeGreaterThanOrEqual(3); // it did reconcile...
    expect(controller['opts'].api.counts.writes - before).toBe(0); // ...and wrote nothing
    // Once judged, the caches keep summaries only, not the children's content (memory at 1000 resources).
    const entries = [...controller.ownedInformers.values()].flatMap((i) => i.list()) as ChildEntry[];
    expect(entries.length).toBeGreaterThanOrEqual(renderManifests({ name: 'demo', namespace: NS, spec: SPEC }).length);
    expect(entries.filter((e) => e.content !== undefined || e.satisfies === undefined).map((e) => `${e.kind}/${e.metadata.name}`)).toEqual([]);
  });

  test('a child deleted by hand is recreated; a field edited by another manager is restored', async () => {
    const cm = kindOf('v1', 'ConfigMap');
    await api.request('DELETE', resourcePath(cm, NS, 'demo-grafana-datasources'));
    await waitFor('ConfigMap recreated', () => api.get(cm, NS, 'demo-grafana-datasources'));
    const dep = kindOf('apps/v1', 'Deployment');
    await api.request('PATCH', `${resourcePath(dep, NS, 'demo-llama')}?fieldManager=kubectl-edit`, { spec: { template: { spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:hacked' }] } } } }, 'application/strategic-merge-patch+json');
    const ours = vllm.image(vllm.defaultVersion);
    const repaired = await waitFor('image restored', async () => { const d = await api.get(dep, NS, 'demo-llama'); return d?.spec.template.spec.containers[0].image === ours ? d : undefined; });
    expect(repaired.spec.template.spec.containers[0].image).toBe(ours);
  });

  test('a spec edit changes the children and observedGeneration follows', async () => {
    const current = await cr('demo');
    const spec = JSON.parse(JSON.stringify(current!.spec));
    spec.models[1].replicas = 3;
    // A merge patch of the spec: the controller may have just written status (a PUT could conflict).
    const updated = await api.request('PATCH', resourcePath(INFERENCE_MONITORING, NS, 'demo'), { spec }, 'application/merge-patch+json');
    await waitFor('replicas 3', async () => (await api.get(kindOf('apps/v1', 'Deployment'), NS, 'demo-llama'))?.spec.replicas === 3);
    await waitFor('observedGeneration', async () => (await cr('demo'))?.status?.observedGeneration === updated.metadata.generation);
  });

  test('a model removed from the spec has its objects pruned', async () => {
    const current = await cr('demo');
    const spec = JSON.parse(JSON.stringify(current!.spec));
    spec.models = spec.models.filter((m: any) => m.name !== 'qwen');
    await api.request('PATCH', resourcePath(INFERENCE_MONITORING, NS, 'demo'), { spec }, 'application/merge-patch+json');
    // Pruning deletes one object after another: wait for the whole set, not the first deletion.
    const expected = names(renderManifests({ name: 'demo', namespace: NS, spec }));
    const left = await waitFor('pruned', async () => { const c = await children(current!.metadata.uid!); return JSON.stringify(names(c)) === JSON.stringify(expected) ? c : undefined; });
    expect(names(left)).toEqual(expected);
    expect(names(left).some((n) => n.includes('lmdeploy'))).toBe(false); // its LMDeploy dashboard went with it
  });

  test('an invalid spec the CRD lets through is reported as Degraded with the reason and an Event, and nothing is applied', async () => {
    const capi = controller['opts'].api;
    const orig = capi.raw.bind(capi);
    const writes: string[] = [];
    capi.raw = ((m: string, p: string, ...rest: any[]) => { if (m !== 'GET') writes.push(`${m} ${p.split('?')[0]}`); return (orig as any)(m, p, ...rest); }) as any;
    try {
      // LMDeploy 0.8.0 passes the CRD schema but predates the metrics the profile needs.
      const created = await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'broken', namespace: NS },
        spec: { models: [{ name: 'old', model: 'x/y', engine: 'lmdeploy', engineVersion: '0.8.0' }] } });
      const degraded = await waitFor('Degraded', async () => (await cr('broken'))?.status?.conditions?.find((c: any) => c.type === 'Degraded' && c.status === 'True'));
      expect(degraded).toMatchObject({ reason: 'InvalidSpec', observedGeneration: created.metadata.generation, message: 'spec.models[0].engineVersion: Unsupported value: "0.8.0": LMDeploy exports the metrics we monitor from 0.9.2 on; use 0.9.2 or later' });
      await new Promise((r) => setTimeout(r, 2500)); // a resync passes
      expect(await children(created.metadata.uid)).toEqual([]);
      // Writes for this resource: its status and one Event (the other resource may still be converging).
      expect(writes.filter((w) => !w.includes('/inferencemonitorings/demo'))).toEqual([`PATCH ${resourcePath(INFERENCE_MONITORING, NS, 'broken')}/status`, `POST /api/v1/namespaces/${NS}/events`]);
      const events = await api.request('GET', `/api/v1/namespaces/${NS}/events`);
      expect(events.items.find((e: any) => e.involvedObject.name === 'broken')).toMatchObject({ type: 'Warning', reason: 'InvalidSpec', message: degraded.message });
      await api.request('DELETE', resourcePath(INFERENCE_MONITORING, NS, 'broken'));
    } finally {
      capi.raw = orig;
    }
  });

  test('what the CRD admits and the library refuses (issue #26: selector keys, a host only Go parses) is Degraded with the field path, never a throw, and nothing is applied', async () => {
    for (const [i, c] of LIBRARY_ONLY_SPECS.entries()) {
      const name = `lib-only-${i}`;
      const created = await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name, namespace: NS }, spec: c.spec });
      const degraded = await waitFor(`Degraded ${name}`, async () => (await cr(name))?.status?.conditions?.find((x: any) => x.type === 'Degraded' && x.status === 'True'));
      expect({ case: c.name, reason: degraded.reason }).toEqual({ case: c.name, reason: 'InvalidSpec' });
      expect(degraded.message).toContain(`${c.path}: `);
      expect(degraded.message).toContain(c.message);
      expect(await children(created.metadata.uid)).toEqual([]);
      await api.request('DELETE', resourcePath(INFERENCE_MONITORING, NS, name));
    }
  });

  test('children in another namespace (a monitored target) are cleaned up through the finalizer', async () => {
    const created = await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'watcher', namespace: NS },
      spec: { targets: [{ name: 'legacy', engine: 'vllm', selector: { app: 'legacy' }, port: 8000, namespace: 'serving' }] } });
    const role = kindOf('rbac.authorization.k8s.io/v1', 'Role');
    await waitFor('role in serving', () => api.get(role, 'serving', 'watcher-prometheus'));
    expect((await cr('watcher'))!.metadata.finalizers).toEqual(['monitoring.inference.dev/cleanup']);
    await api.request('DELETE', resourcePath(INFERENCE_MONITORING, NS, 'watcher'));
    await waitFor('cross-namespace role deleted', async () => (await api.get(role, 'serving', 'watcher-prometheus')) === undefined);
    await waitFor('resource gone', async () => (await cr('watcher')) === undefined);
    expect(created.metadata.uid).toBeDefined();
  });

  test('two stacks of one namespace on the shared Prometheus naming a model alike: both report SeriesConflict at the field, with an Event; a rename clears both', async () => {
    const spec = (model: string): InferenceMonitoringSpecInput => ({ models: [{ name: model, model: 'x/y', engine: 'vllm' }], monitoring: { mode: 'operator' } });
    const create = (name: string, model: string) => api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind, metadata: { name, namespace: NS }, spec: spec(model) });
    const conflict = async (name: string) => (await cr(name))?.status?.conditions?.find((c: any) => c.type === 'SeriesConflict');
    const reconciledAt = (name: string, generation: number) => waitFor(`${name} reconciled`, async () => { const o = await cr(name); return o?.status?.observedGeneration === generation ? o : undefined; });
    const a = await create('team-a', 'mistral');
    const alone = await reconciledAt('team-a', a.metadata.generation);
    expect(alone.status.conditions.map((c: any) => c.type)).not.toContain('SeriesConflict');
    // team-b arrives with the same model: team-a is told too (its peer's arrival enqueues it; a resync would, later).
    await create('team-b', 'mistral');
    const [ca, cb] = await Promise.all(['team-a', 'team-b'].map((n) => waitFor(`SeriesConflict on ${n}`, () => conflict(n))));
    expect(ca).toMatchObject({ status: 'True', reason: 'SharedSeries', observedGeneration: a.metadata.generation });
    expect(ca.message).toBe('spec.models[0].name: Invalid value: "mistral": InferenceMonitoring llm/team-b also sends series with namespace="llm", model="mistral" to the shared Prometheus (release kube-prometheus-stack); each stack\'s rules, alerts and dashboards would count both: rename the model in one of them');
    expect(cb.message).toMatch(/^spec\.models\[0\]\.name: Invalid value: "mistral": InferenceMonitoring llm\/team-a also sends/);
    // Applied all the same: one team's stack never stops another's.
    expect((await cr('team-b'))!.status.conditions.find((c: any) => c.type === 'Degraded')).toMatchObject({ status: 'False', reason: 'Reconciled' });
    const events = await waitFor('SeriesConflict Events', async () => {
      const list = (await api.request('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=reason%3DSeriesConflict`)).items as any[];
      const on = new Set(list.map((e) => e.involvedObject.name));
      return on.has('team-a') && on.has('team-b') ? list : undefined;
    });
    expect(events.every((e: any) => e.type === 'Warning')).toBe(true);
    // team-b renames its model: both conditions go.
    await api.request('PATCH', resourcePath(INFERENCE_MONITORING, NS, 'team-b'), { spec: spec('mistral-b') }, 'application/merge-patch+json');
    await Promise.all(['team-a', 'team-b'].map((n) => waitFor(`no SeriesConflict on ${n}`, async () => (await cr(n))?.status && !(await conflict(n)))));
    for (const n of ['team-a', 'team-b']) await api.request('DELETE', resourcePath(INFERENCE_MONITORING, NS, n));
    await Promise.all(['team-a', 'team-b'].map((n) => waitFor(`${n} gone`, async () => (await cr(n)) === undefined)));
  });

  test('an informer lists page by page, keeping each object as its transform makes it before the next is parsed', async () => {
    await ensureNamespace(cp, 'paging');
    const n = 2 * LIST_PAGE + 50;
    const cm = kindOf('v1', 'ConfigMap');
    for (let i = 0; i < n; i++) await api.request('POST', resourcePath(cm, 'paging'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}`, labels: { paging: 'yes' } }, data: { big: 'x'.repeat(4096) } });
    const pages: number[] = [];
    /** Objects parsed so far, and how many had been parsed when the transform ran for each object. */
    let parsed = 0;
    const parsedWhenKept: number[] = [];
    const pagedApi = new KubeApi(loadKubeConfig(cp.kubeconfig));
    const listPaged = pagedApi.listPaged.bind(pagedApi);
    pagedApi.listPaged = (k, ns, sel, limit, onItem) => listPaged(k, ns, sel, limit, (item, page) => { pages[page - 1] = (pages[page - 1] ?? 0) + 1; parsed++; onItem(item, page); });
    let synced!: () => void;
    const done = new Promise<void>((r) => { synced = r; });
    const informer = new Informer(pagedApi, cm, {
      namespace: 'paging', labelSelector: 'paging=yes', onEvent: () => undefined, onSynced: () => synced(),
      transform: (o) => { parsedWhenKept.push(parsed); return { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } }; },
    });
    informer.start();
    try {
      await done;
      expect(pages).toEqual([LIST_PAGE, LIST_PAGE, 50]);
      expect(informer.cache.size).toBe(n);
      // Each object was reduced right after it was parsed, before the next (ListItemSplitter): never a page at once.
      expect(parsedWhenKept).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    } finally {
      informer.stop();
    }
  });

  test('after the apiserver restarts (watches broken, resource versions expired), it resumes without losing changes', async () => {
    const relists = controller.crInformer.relists + [...controller.ownedInformers.values()].reduce((n, i) => n + i.relists, 0);
    await cp.restartApiserver(3000);
    // Changes right after the restart: both must be picked up through the re-established watches.
    const cm = kindOf('v1', 'ConfigMap');
    await api.request('DELETE', resourcePath(cm, NS, 'demo-tempo'));
    const created = await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'after-restart', namespace: NS }, spec: { models: [{ name: 'm', model: 'x/y', engine: 'sglang' }], monitoring: { mode: 'operator' } } });
    await waitFor('deleted child repaired', () => api.get(cm, NS, 'demo-tempo'), 60_000);
    await waitFor('new resource reconciled', async () => (await cr('after-restart'))?.status?.observedGeneration === created.metadata.generation, 60_000);
    expect(controller.crInformer.relists + [...controller.ownedInformers.values()].reduce((n, i) => n + i.relists, 0)).toBeGreaterThanOrEqual(relists);
  }, 120_000);

  test('serves /metrics with reconcile counts, durations and queue depth, and /healthz and /readyz', async () => {
    const text = await (await fetch(`http://127.0.0.1:${controller.port}/metrics`)).text();
    expect(text).toMatch(/inference_monitoring_reconcile_total\{result="success"\} \d+/);
    expect(text).toContain('inference_monitoring_reconcile_duration_seconds_bucket');
    expect(text).toContain('inference_monitoring_workqueue_depth');
    expect((await fetch(`http://127.0.0.1:${controller.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${controller.port}/readyz`)).status).toBe(200);
  });

  test('with only its install RBAC (no wildcards), the controller reconciles a new resource', async () => {
    await controller.stop();
    const install = renderInstall();
    const rbac = install.filter((o) => ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount'].includes(o.kind));
    for (const r of rbac.filter((o) => o.kind.endsWith('Role'))) {
      for (const rule of r.rules) {
        expect(rule.verbs).not.toContain('*');
        expect(rule.resources).not.toContain('*');
        expect(rule.apiGroups).not.toContain('*');
      }
    }
    await ensureNamespace(cp, 'inference-monitoring-system');
    for (const o of rbac) await cp.request('PATCH', `${o.kind === 'ServiceAccount' ? `/api/v1/namespaces/${o.metadata.namespace}/serviceaccounts` : `/apis/rbac.authorization.k8s.io/v1${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ''}/${o.kind.toLowerCase()}s`}/${o.metadata.name}?fieldManager=test`, o, 'application/apply-patch+yaml');
    const token = await cp.request('POST', '/api/v1/namespaces/inference-monitoring-system/serviceaccounts/inference-monitoring-controller/token', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    expect(token.status).toBe(201);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: cp.server, caFile: `${cp.dir}/pki/apiserver.crt` }],
      users: [{ name: 'controller', token: token.body.status.token }],
      contexts: [{ name: 'test', cluster: 'test', user: 'controller' }],
      currentContext: 'test',
    });
    const limited = new Controller({ api: track(new KubeApi(kc)), resyncMs: 2000, log: quiet, leaderElection: { namespace: 'inference-monitoring-system' } });
    await limited.start();
    try {
      const created = await api.request('POST', resourcePath(INFERENCE_MONITORING, NS), { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'least', namespace: NS }, spec: SPEC });
      const expected = names(renderManifests({ name: 'least', namespace: NS, spec: SPEC }));
      await waitFor('children under least privilege', async () => names(await children(created.metadata.uid)).length === expected.length);
      const status = await waitFor('status', async () => (await cr('least'))?.status?.conditions?.find((c: any) => c.type === 'Degraded'));
      expect(status).toMatchObject({ status: 'False', reason: 'Reconciled' });
    } finally {
      await limited.stop();
    }
  }, 60_000);

  test('two controllers with leader election: exactly one leads, and the standby writes nothing', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const apiA = track(new KubeApi(kc));
    const apiB = track(new KubeApi(kc));
    const a = new Controller({ api: apiA, resyncMs: 1000, log: quiet, leaderElection: { namespace: 'default', name: 'test-election', identity: 'a' } });
    const b = new Controller({ api: apiB, resyncMs: 1000, log: quiet, leaderElection: { namespace: 'default', name: 'test-election', identity: 'b' } });
    await a.start();
    await waitFor('a leads', async () => a.isLeader);
    await b.start();
    await new Promise((r) => setTimeout(r, 4000));
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    const lease = await api.request('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases/test-election');
    expect(lease.spec.holderIdentity).toBe('a');
    // b only tried to take the Lease (GETs); it never wrote.
    expect(apiB.counts.writes).toBe(0);
    await a.stop();
    await waitFor('b takes over', async () => b.isLeader, 20_000);
    await b.stop();
  }, 60_000);
  test('RBAC audit: every permission the install grants is one the controller used in this file, or is listed with its reason', () => {
    const used = new Map<string, number>();
    for (const a of controllerApis) for (const [k, n] of a.authorized) used.set(k, (used.get(k) ?? 0) + n);
    const grants = (rules: typeof CONTROLLER_CLUSTER_RULES) => rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${g}/${res}`))));
    const granted = new Set([...grants(CONTROLLER_CLUSTER_RULES), ...grants(CONTROLLER_LEASE_RULES)]);
    const held = new Set(HELD_WITHOUT_REQUEST.map((h) => h.permission));
    const childResource = (k: { apiVersion: string; plural: string }) => `${k.apiVersion.includes('/') ? k.apiVersion.split('/')[0] : ''}/${k.plural}`;
    const children = new Set(OWNED_KINDS.map(childResource));
    console.log(`RBAC audit, requests by permission:\n${[...used].sort().map(([k, n]) => `  ${String(n).padStart(5)}  ${k}`).join('\n')}`);

    // Nothing the controller sent was outside its grant (it would have been refused).
    expect([...used.keys()].filter((k) => !granted.has(k))).toEqual([]);
    // Held but never sent: only the documented exceptions.
    const unusedOwn = [...granted].filter((g) => !used.has(g) && !held.has(g) && !children.has(g.split(' ')[1]));
    expect(unusedOwn).toEqual([]);
    // Children share one code path (informer list+watch, apply, prune), so each child verb must be sent
    // for some child kind, and every child kind this file's specs produce must have been listed, watched and created.
    for (const verb of CHILD_VERBS) expect({ verb, sent: [...used.keys()].some((k) => k.startsWith(`${verb} `) && children.has(k.split(' ')[1])) }).toEqual({ verb, sent: true });
    // LeaderWorkerSet: this file's cluster has no LeaderWorkerSet API (controller-multi-node.test.ts lists, watches and creates them).
    for (const k of OWNED_KINDS.filter((o) => !['StatefulSet', 'DaemonSet', 'PersistentVolumeClaim', 'ScaledObject', 'Prometheus', 'LeaderWorkerSet'].includes(o.kind))) {
      for (const verb of ['list', 'watch', 'create']) expect(used.has(`${verb} ${childResource(k)}`) ? `${verb} ${childResource(k)}` : `never: ${verb} ${childResource(k)}`).toBe(`${verb} ${childResource(k)}`);
    }
    // And each documented exception is still granted (the list cannot outlive the grant).
    for (const h of held) expect(granted).toContain(h);
  });
});
