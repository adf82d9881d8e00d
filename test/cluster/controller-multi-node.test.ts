/**
 * A model whose replicas span several pods, through the controller against a real kube-apiserver + etcd: it applies
 * the LeaderWorkerSet exactly as `cdk8s synth` renders it, reports each model's groups ready from the
 * LeaderWorkerSet's status (groups, not pods), and on a cluster without LeaderWorkerSet says why in the status
 * instead of failing silently. The LeaderWorkerSet controller itself runs in test/node/lws.test.ts and
 * test/node/multi-node.test.ts; here its CRD is enough.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from '../../src/controller/manager';
import { KubeApi } from '../../src/controller/kube';
import { INFERENCE_MONITORING, kindOf, resourcePath } from '../../src/controller/resources';
import { CONTROLLER_CLUSTER_RULES } from '../../src/controller/rbac';
import { renderManifests } from '../../src/render';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, startControlPlane } from '../harness/control-plane';
import { haveLws, installLwsCrds } from '../harness/lws';
import { waitFor as poll } from '../harness/wait';
import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';

const SPEC: InferenceMonitoringSpecInput = {
  models: [
    { name: 'big', model: 'deepseek-ai/DeepSeek-V3', engine: 'vllm', engineVersion: '0.34.0', gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 } },
    { name: 'small', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' },
  ],
  gpuMetrics: { enabled: false },
};
const LWS = kindOf('leaderworkerset.x-k8s.io/v1', 'LeaderWorkerSet');
const DEPLOYMENT = kindOf('apps/v1', 'Deployment');
const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000) => poll(what, check, timeoutMs, 200);
const quiet = () => undefined;
const runIf = haveK8sBinaries() && haveLws() ? describe : describe.skip;

runIf('a multi-node model through the controller', () => {
  let cp: ControlPlane;
  let api: KubeApi;
  let controller: Controller;
  let controllerApi: KubeApi;
  const cr = (ns: string) => api.get(INFERENCE_MONITORING, ns, 'demo');
  const create = (ns: string) => api.request('POST', resourcePath(INFERENCE_MONITORING, ns), { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'demo', namespace: ns }, spec: SPEC });

  beforeAll(async () => {
    cp = await startControlPlane();
    await installCrd(cp, inferenceMonitoringCrd());
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    api = new KubeApi(kc);
    controllerApi = new KubeApi(kc);
    controller = new Controller({ api: controllerApi, resyncMs: 2000, metricsPort: 0, log: quiet });
    await controller.start();
  }, 180_000);
  afterAll(async () => { await controller?.stop(); await cp?.stop(); });

  test('without LeaderWorkerSet installed: Degraded, naming the missing API; the single-pod model is applied all the same', async () => {
    await ensureNamespace(cp, 'no-lws');
    await create('no-lws');
    const status = await waitFor('status', async () => { const s = (await cr('no-lws'))?.status; return s?.conditions?.some((c: any) => c.type === 'Degraded' && c.status === 'True') ? s : undefined; });
    const degraded = status.conditions.find((c: any) => c.type === 'Degraded');
    expect(degraded.message).toContain('LeaderWorkerSet demo-big: the leaderworkerset.x-k8s.io/v1 API is not installed in the cluster');
    expect(await api.get(DEPLOYMENT, 'no-lws', 'demo-small')).toBeDefined();
  });

  test('LeaderWorkerSet installed after the controller started: picked up without a restart, the LeaderWorkerSet applied as rendered, its groups the model\'s readiness', async () => {
    await installLwsCrds(cp);
    await ensureNamespace(cp, 'llm');
    const created = await create('llm');
    const rendered = renderManifests({ name: 'demo', namespace: 'llm', spec: SPEC }).find((m) => m.kind === 'LeaderWorkerSet')!;
    const lws = await waitFor('LeaderWorkerSet', () => api.get(LWS, 'llm', 'demo-big'), 60_000);
    expect(lws!.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'InferenceMonitoring', name: 'demo', uid: created.metadata.uid, controller: true })]);
    // What the controller applied is what `cdk8s synth` renders (the apiserver adds defaults, never changes ours).
    expect(lws!.spec).toMatchObject(rendered.spec);

    const notReady = await waitFor('status', async () => { const s = (await cr('llm'))?.status; return s?.models?.length === 2 ? s : undefined; });
    expect(notReady.models).toEqual([
      { name: 'big', replicas: 1, readyReplicas: 0, podsPerReplica: 2, ready: false },
      { name: 'small', replicas: 1, readyReplicas: 0, ready: false },
    ]);

    // The LeaderWorkerSet controller's status: one group, every pod of it ready.
    await api.request('PATCH', `${resourcePath(LWS, 'llm', 'demo-big')}/status`, { status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1 } }, 'application/merge-patch+json');
    const d = await api.get(DEPLOYMENT, 'llm', 'demo-small');
    await api.request('PATCH', `${resourcePath(DEPLOYMENT, 'llm', 'demo-small')}/status`, { status: { observedGeneration: d!.metadata.generation, replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 } }, 'application/merge-patch+json');
    const ready = await waitFor('Ready', async () => { const s = (await cr('llm'))?.status; return s?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? s : undefined; });
    expect(ready.modelsReady).toBe('2/2');
    expect(ready.models[0]).toEqual({ name: 'big', replicas: 1, readyReplicas: 1, podsPerReplica: 2, ready: true });

    // A worker fails: LeaderWorkerSet recreates the group and reports it not ready; so does the resource.
    await api.request('PATCH', `${resourcePath(LWS, 'llm', 'demo-big')}/status`, { status: { readyReplicas: 0 } }, 'application/merge-patch+json');
    const degraded = await waitFor('not Ready', async () => { const s = (await cr('llm'))?.status; return s?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'False' ? s : undefined; });
    expect(degraded.models[0]).toEqual({ name: 'big', replicas: 1, readyReplicas: 0, podsPerReplica: 2, ready: false });
    expect(degraded.modelsReady).toBe('1/2');
  }, 120_000);

  test('RBAC: the install grants every verb the controller sent for LeaderWorkerSets (list, watch, create, patch)', () => {
    const sent = [...controllerApi.authorized.keys()].filter((k) => k.endsWith(' leaderworkerset.x-k8s.io/leaderworkersets')).map((k) => k.split(' ')[0]).sort();
    expect(sent).toEqual(expect.arrayContaining(['create', 'list', 'watch']));
    const granted = CONTROLLER_CLUSTER_RULES.find((r) => r.apiGroups.includes('leaderworkerset.x-k8s.io'))!;
    for (const verb of sent) expect(granted.verbs).toContain(verb);
  });
});
