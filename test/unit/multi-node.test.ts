/**
 * Models whose replicas span several pods (`parallelism.nodes` > 1): what admission refuses and why, the
 * LeaderWorkerSet each becomes, and the scrape that counts every rank once. The same objects run on the real
 * LeaderWorkerSet controller in test/node/multi-node.test.ts.
 */
import { parse } from 'yaml';
import { planStack } from '../../src/plan/plan';
import { renderManifests, Manifest } from '../../src/render';
import { validateSpec } from '../../src/api/validate';
import type { InferenceMonitoringSpecInput, ModelInput } from '../../src/api/spec-input';
import type { EngineName } from '../../src/engines/profile';

const model = (engine: EngineName, extra: Partial<ModelInput>): ModelInput => ({ name: 'big', model: 'org/big', engine, ...extra });
const errorsOf = (m: unknown) => {
  const r = validateSpec({ models: [m] });
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
};
const render = (m: ModelInput, extra: Partial<InferenceMonitoringSpecInput> = {}) => renderManifests({ name: 'demo', namespace: 'llm', spec: { models: [m], ...extra } });
const lwsOf = (objs: Manifest[]) => objs.find((o) => o.kind === 'LeaderWorkerSet')!;
const scrapeOf = (objs: Manifest[]) => parse(objs.find((o) => o.kind === 'ConfigMap' && o.data?.['prometheus.yml'])!.data['prometheus.yml']).scrape_configs.find((s: any) => s.job_name === 'demo-big');
const args = (pod: any) => pod.spec.containers[0].args as string[];

describe('admission', () => {
  test.each<[EngineName, Partial<ModelInput>, string]>([
    ['tgi', { gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2 } }, 'spec.models[0].parallelism.nodes: Forbidden: tgi cannot serve one model over several pods: text-generation-launcher shards a model over the GPUs of one machine only'],
    ['transformers', { gpu: { count: 1 }, parallelism: { nodes: 2 } }, 'spec.models[0].parallelism.nodes: Forbidden: transformers cannot serve one model over several pods'],
    ['vllm', { gpu: { count: 2 }, parallelism: { tensor: 2, nodes: 2 } }, 'spec.models[0].parallelism: Invalid value: parallelism.tensor × parallelism.pipeline × parallelism.data must equal gpu.count × parallelism.nodes'],
    // 2 × 3 = 3 GPUs × 2 pods, but 3 ranks cannot be split evenly over 2 pods.
    ['vllm', { gpu: { count: 3 }, parallelism: { tensor: 2, data: 3, nodes: 2 } }, 'spec.models[0].parallelism.data: Invalid value: parallelism.data must be a multiple of parallelism.nodes'],
    ['lmdeploy', { gpu: { count: 2 }, parallelism: { tensor: 2, pipeline: 2, nodes: 2 } }, 'spec.models[0].parallelism.pipeline: Forbidden: lmdeploy has no pipeline parallelism'],
    ['vllm', { gpu: { count: 4 }, parallelism: { tensor: 4, multiNodeMode: 'native' } }, 'spec.models[0].parallelism.multiNodeMode: Forbidden: multiNodeMode applies to a replica over several pods'],
    ['sglang', { gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2, multiNodeMode: 'hybrid' } }, 'spec.models[0].parallelism.multiNodeMode: Invalid value: Unsupported value: hybrid: sglang runs native'],
  ])('%s %j is refused with the field path and the reason', (engine, extra, message) => {
    expect(errorsOf(model(engine, extra)).join('\n')).toContain(message);
  });

  test('a mode that does not fit the parallelism is refused by the plan, naming the modes that do', () => {
    const r = planStack({ name: 'demo', namespace: 'llm', spec: { models: [model('vllm', { gpu: { count: 4 }, parallelism: { tensor: 4, pipeline: 2, nodes: 2, multiNodeMode: 'hybrid' } })] } });
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.errors).toContainEqual({ path: 'spec.models[0].parallelism.multiNodeMode', message: 'Unsupported value: "hybrid": with tensor × pipeline parallelism (data 1) vLLM runs "native"' });
  });

  test('vLLM hybrid with one rank per pod needs a mixture-of-experts model (its own rule), and says so', () => {
    const plan = (expert: boolean) => planStack({ name: 'demo', namespace: 'llm', spec: { models: [model('vllm', { gpu: { count: 1 }, parallelism: { data: 2, nodes: 2, expert } })] } });
    expect(plan(false)).toMatchObject({ ok: false, errors: [{ path: 'spec.models[0].parallelism', message: expect.stringContaining('refuses for models without experts') }] });
    expect(plan(true).ok).toBe(true);
  });

  test('an engine version older than the checked multi-node command lines is refused', () => {
    const r = planStack({ name: 'demo', namespace: 'llm', spec: { models: [model('vllm', { engineVersion: '0.11.0', gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2 } })] } });
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toContain('spec.models[0].engineVersion');
  });
});

describe('vLLM hybrid data parallelism over 2 pods', () => {
  const objs = render(model('vllm', { engineVersion: '0.34.0', gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 }, args: ['--served-model-name=$(NAME)'], modelCache: { type: 'persistentVolumeClaim', size: '500Gi' } }));
  const lws = lwsOf(objs);
  const t = lws.spec.leaderWorkerTemplate;

  test('one LeaderWorkerSet group of 2 pods, no Deployment; workers start with the leader; a failed pod recreates the group', () => {
    expect(objs.filter((o) => o.kind === 'Deployment' && o.metadata.name === 'demo-big')).toEqual([]);
    expect(lws.spec).toMatchObject({ replicas: 1, startupPolicy: 'LeaderCreated', leaderWorkerTemplate: { size: 2, restartPolicy: 'RecreateGroupOnPodRestart' } });
  });

  test('each pod runs its local ranks; the rank comes from LeaderWorkerSet\'s variables, expanded by the kubelet; the user\'s `$` stays literal', () => {
    expect(args(t.leaderTemplate)).toEqual(expect.arrayContaining(['--data-parallel-size', '4', '--data-parallel-size-local', '2', '--nnodes', '2', '--data-parallel-hybrid-lb']));
    expect(args(t.leaderTemplate).join(' ')).toContain('--node-rank 0 --data-parallel-address $(LWS_LEADER_ADDRESS)');
    expect(args(t.workerTemplate).join(' ')).toContain('--node-rank $(LWS_WORKER_INDEX) --data-parallel-address $(LWS_LEADER_ADDRESS)');
    expect(args(t.workerTemplate)).toContain('--served-model-name=$$(NAME)');
    // Both pods serve their engines' /metrics on the API port and are probed on their own health route.
    for (const pod of [t.leaderTemplate, t.workerTemplate]) {
      expect(pod.spec.containers[0].ports).toEqual([{ containerPort: 8000, name: 'http', protocol: 'TCP' }]);
      expect(pod.spec.containers[0].readinessProbe.httpGet.path).toBe('/health');
      expect(pod.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe('2');
    }
  });

  test('one claim per pod for the weights (a shared ReadWriteOnce claim cannot be mounted on several nodes)', () => {
    expect(objs.filter((o) => o.kind === 'PersistentVolumeClaim')).toEqual([]);
    expect(t.volumeClaimTemplates).toEqual([expect.objectContaining({ metadata: expect.objectContaining({ name: 'model-cache' }), spec: expect.objectContaining({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '500Gi' } } }) })]);
    expect(t.leaderTemplate.spec.volumes.map((v: any) => v.name)).toEqual(['dshm']);
    expect(t.leaderTemplate.spec.containers[0].volumeMounts.map((v: any) => v.name)).toEqual(['dshm', 'model-cache']);
  });

  test('clients reach the leaders only', () => {
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'demo-big')!;
    expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/instance': 'demo', 'monitoring.inference.dev/model': 'big', 'leaderworkerset.sigs.k8s.io/worker-index': '0' });
  });

  test('LeaderWorkerSet\'s headless Service per group is named after the leader pod, never like the clients\' Service', () => {
    // Shared (the default) would make a headless Service named like the LeaderWorkerSet: `demo-big`, ours.
    expect(lws.spec.networkConfig).toEqual({ subdomainPolicy: 'UniquePerReplica' });
    const r = planStack({ name: 'demo', namespace: 'llm', spec: { models: [model('vllm', { engineVersion: '0.34.0', gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 } }), { name: 'big-0', model: 'org/small', engine: 'vllm' }] } });
    expect(r.ok ? [] : r.errors).toEqual([{ path: 'spec.models[1].name', message: 'Invalid value: "big-0": its objects would be named demo-big-0, like the headless Service LeaderWorkerSet creates for a group of spec.models[0]; choose another name' }]);
  });

  test('every pod is scraped with its group and worker index; each pod\'s samples are kept (global `engine` ranks)', () => {
    const job = scrapeOf(objs);
    expect(job.relabel_configs).toEqual(expect.arrayContaining([
      { source_labels: ['__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_group_index'], target_label: 'group' },
      { source_labels: ['__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_worker_index'], target_label: 'worker' },
    ]));
    expect(job.metric_relabel_configs).toBeUndefined();
    expect(planStack({ name: 'demo', namespace: 'llm', spec: { models: [model('vllm', { gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 } })] } }))
      .toMatchObject({ ok: true, value: { models: [{ group: { size: 2, mode: 'hybrid', dataLocal: 2, targetsPerGroup: 2, rankLabel: 'engine' } }] } });
  });

  test('the group\'s pods may reach each other on every port (collectives, rendezvous)', () => {
    const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'demo-big')!;
    expect(np.spec.ingress).toContainEqual({ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'demo', 'monitoring.inference.dev/model': 'big' } } }] });
  });
});

test('vLLM native tensor × pipeline: the leader alone serves; workers are headless, unprobed and unscraped', () => {
  const t = lwsOf(render(model('vllm', { gpu: { count: 4 }, parallelism: { tensor: 4, pipeline: 2, nodes: 2 } }))).spec.leaderWorkerTemplate;
  expect(args(t.workerTemplate)).toContain('--headless');
  expect(args(t.leaderTemplate)).not.toContain('--headless');
  expect(t.workerTemplate.spec.containers[0].ports).toBeUndefined();
  expect(t.workerTemplate.spec.containers[0].readinessProbe).toBeUndefined();
  expect(planStack({ name: 'demo', namespace: 'llm', spec: { models: [model('vllm', { gpu: { count: 4 }, parallelism: { tensor: 4, pipeline: 2, nodes: 2 } })] } }))
    .toMatchObject({ ok: true, value: { models: [{ group: { mode: 'native', targetsPerGroup: 1 } }] } });
});

test('SGLang: the worker\'s health route answers 200 whatever happens, so it is probed by TCP; its duplicate samples are dropped, its `up` kept', () => {
  const objs = render(model('sglang', { gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2 } }));
  const t = lwsOf(objs).spec.leaderWorkerTemplate;
  expect(t.workerTemplate.spec.containers[0].readinessProbe).toEqual(expect.objectContaining({ tcpSocket: { port: 30000 } }));
  expect(t.workerTemplate.spec.containers[0].livenessProbe).toBeUndefined();
  expect(t.leaderTemplate.spec.containers[0].readinessProbe.httpGet.path).toBe('/ready');
  expect(args(t.workerTemplate).join(' ')).toContain('--dist-init-addr $(LWS_LEADER_ADDRESS):20000');
  expect(scrapeOf(objs).metric_relabel_configs).toEqual([{ source_labels: ['worker'], regex: '[1-9][0-9]*', action: 'drop' }]);
  // Operator mode drops the same samples.
  const pm = render(model('sglang', { gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2 } }), { monitoring: { mode: 'operator' } }).find((o) => o.kind === 'PodMonitor' && o.metadata.name === 'demo-big')!;
  expect(pm.spec.podMetricsEndpoints[0].metricRelabelings).toEqual([{ sourceLabels: ['worker'], regex: '[1-9][0-9]*', action: 'drop' }]);
});

test('LMDeploy data parallelism: one /metrics per local rank on every pod, the proxy on the leader only', () => {
  const objs = render(model('lmdeploy', { gpu: { count: 2 }, parallelism: { data: 4, expert: true, nodes: 2 } }));
  const t = lwsOf(objs).spec.leaderWorkerTemplate;
  expect(t.leaderTemplate.spec.containers.map((c: any) => c.name)).toEqual(['engine', 'proxy']);
  expect(t.workerTemplate.spec.containers.map((c: any) => c.name)).toEqual(['engine']);
  for (const pod of [t.leaderTemplate, t.workerTemplate]) expect(pod.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([23333, 23334]);
  expect(args(t.workerTemplate).join(' ')).toContain('--proxy-url http://$(LWS_LEADER_ADDRESS):8000 --nnodes 2 --node-rank $(LWS_WORKER_INDEX)');
  expect(t.workerTemplate.spec.containers[0].env).toContainEqual({ name: 'LMDEPLOY_DP_MASTER_ADDR', value: '$(LWS_LEADER_ADDRESS)' });
  expect(planStack({ name: 'demo', namespace: 'llm', spec: { models: [model('lmdeploy', { gpu: { count: 2 }, parallelism: { data: 4, expert: true, nodes: 2 } })] } }))
    .toMatchObject({ ok: true, value: { models: [{ group: { targetsPerGroup: 4, dataLocal: 2 } }] } });
});

test('autoscaling scales groups through the LeaderWorkerSet\'s scale subresource, and leaves its replicas alone', () => {
  const objs = render(model('vllm', { gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 }, autoscaling: { minReplicas: 1, maxReplicas: 4, target: 5 } }));
  expect(objs.find((o) => o.kind === 'ScaledObject')!.spec.scaleTargetRef).toEqual({ apiVersion: 'leaderworkerset.x-k8s.io/v1', kind: 'LeaderWorkerSet', name: 'demo-big' });
  expect(lwsOf(objs).spec.replicas).toBeUndefined();
});

describe('the serving dashboard of a stack with multi-node models', () => {
  const dashboards = (spec: Record<string, unknown>) => renderManifests({ name: 'demo', namespace: 'llm', spec }).filter((o) => o.kind === 'ConfigMap' && o.metadata.name.includes('dashboard'))
    .flatMap((o) => Object.entries<string>(o.data ?? {}).filter(([k]) => k.endsWith('.json')).map(([, t]) => JSON.parse(t)));
  const serving = (spec: Record<string, unknown>) => dashboards(spec).find((d) => d.title.startsWith('Inference serving: vLLM'))!;
  const rowPanels = (d: any, title: string) => {
    const i = d.panels.findIndex((p: any) => p.type === 'row' && p.title === title);
    if (i < 0) return [];
    const end = d.panels.findIndex((p: any, j: number) => j > i && p.type === 'row');
    return d.panels.slice(i + 1, end < 0 ? undefined : end);
  };

  test('a row per group: targets up against the plan, running requests, tokens/s and each pod\'s GPUs, linked to the group alerts\' runbooks', () => {
    const d = serving({ models: [model('vllm', { gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 } })] });
    const panels = rowPanels(d, 'Multi-node groups');
    expect(panels.map((p: any) => p.title)).toEqual(['Rank targets up per group', 'Running requests per group', 'Decode tokens/s per group', 'GPU utilization per group pod']);
    expect(panels[0].targets[0].expr).toBe('count by (model, group) (up{namespace=~"$namespace", model=~"$model", inference_engine="vllm", group!=""} == 1)');
    expect(panels[0].description).toContain('big: 2 of 2 pods');
    expect(panels[3].targets[0].expr).toContain('* on (namespace, pod) group_left (model, group, worker)');
    for (const p of panels) {
      expect(p.description.length).toBeGreaterThan(40);
      expect(p.fieldConfig.defaults.thresholds.steps.length).toBeGreaterThan(0);
    }
    expect(panels[0].links.map((l: any) => l.url)).toEqual(expect.arrayContaining([expect.stringMatching(/InferenceModelRankTargetsMissing\.md$/)]));
  });

  test('a stack without multi-node models has no such row', () => {
    expect(rowPanels(serving({ models: [model('vllm', {})] }), 'Multi-node groups')).toEqual([]);
  });
});
