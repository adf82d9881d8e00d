/**
 * Against a real kube-apiserver + etcd: the generated CRD is accepted, the
 * apiserver rejects the same bad specs as the library (same field paths),
 * defaults the same way, and every file in dist/ passes a server-side dry run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { inferenceMonitoringCrd } from '../src/spec/crd';
import { validateSpec } from '../src/spec/validate';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, installPrometheusOperatorCrds, startControlPlane } from './harness/control-plane';

const REPO = path.resolve(__dirname, '..');
const NS = 'llm';
const BASE = `/apis/monitoring.inference.dev/v1alpha1/namespaces/${NS}/inferencemonitorings`;

const model = (extra: Record<string, unknown> = {}) => ({ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm', ...extra });
const resource = (name: string, spec: unknown) => ({ apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name, namespace: NS }, spec });

/** Bad specs, each with the field path both the apiserver and the library must name. */
export const INVALID_SPECS: Array<{ name: string; spec: unknown; path: string }> = [
  { name: 'unknown engine', spec: { models: [model({ engine: 'llamacpp' })] }, path: 'spec.models[0].engine' },
  { name: 'zero GPUs for vLLM', spec: { models: [model({ gpu: { count: 0 } })] }, path: 'spec.models[0].gpu.count' },
  { name: 'tensor x data beyond gpu.count', spec: { models: [model({ gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 } })] }, path: 'spec.models[0].parallelism' },
  { name: 'LMDeploy max(tensor, data) beyond gpu.count', spec: { models: [model({ engine: 'lmdeploy', gpu: { count: 1 }, parallelism: { tensor: 2, data: 2 } })] }, path: 'spec.models[0].parallelism' },
  { name: 'LMDeploy data parallelism without tensor parallelism', spec: { models: [model({ engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { tensor: 1, data: 2 } })] }, path: 'spec.models[0].parallelism.tensor' },
  { name: 'TGI data parallelism (no such option in its launcher)', spec: { models: [model({ engine: 'tgi', gpu: { count: 2 }, parallelism: { data: 2 } })] }, path: 'spec.models[0].parallelism.data' },
  { name: 'transformers data parallelism (no such option)', spec: { models: [model({ engine: 'transformers', gpu: { count: 2 }, parallelism: { data: 2 } })] }, path: 'spec.models[0].parallelism.data' },
  { name: 'duplicate model name', spec: { models: [model(), model({ engine: 'sglang' })] }, path: 'spec.models[1]' },
  { name: 'port 0', spec: { models: [model({ port: 0 })] }, path: 'spec.models[0].port' },
  { name: 'port 70000', spec: { models: [model({ port: 70000 })] }, path: 'spec.models[0].port' },
  { name: 'port as string', spec: { models: [model({ port: '8000' })] }, path: 'spec.models[0].port' },
  { name: 'model name with capitals', spec: { models: [model({ name: 'Qwen' })] }, path: 'spec.models[0].name' },
  { name: 'missing model id', spec: { models: [{ name: 'qwen', engine: 'vllm' }] }, path: 'spec.models[0].model' },
  { name: 'negative replicas', spec: { models: [model({ replicas: -1 })] }, path: 'spec.models[0].replicas' },
  { name: 'bad retention', spec: { models: [model()], monitoring: { retention: '15 days' } }, path: 'spec.monitoring.retention' },
  { name: 'bad scrape interval', spec: { models: [model()], monitoring: { interval: '15' } }, path: 'spec.monitoring.interval' },
  { name: 'remoteWrite url not a URL', spec: { models: [model()], monitoring: { remoteWrite: [{ url: 'mimir:9009' }] } }, path: 'spec.monitoring.remoteWrite[0].url' },
  { name: 'grafana secret without name', spec: { models: [model()], grafana: { adminSecretRef: { passwordKey: 'pw' } } }, path: 'spec.grafana.adminSecretRef.name' },
  { name: 'unknown monitoring mode', spec: { models: [model()], monitoring: { mode: 'agent' } }, path: 'spec.monitoring.mode' },
  { name: 'sampling ratio above 1', spec: { models: [model()], tracing: { samplingRatio: 2 } }, path: 'spec.tracing.samplingRatio' },
  { name: 'tracing without tempo or endpoint', spec: { models: [model()], tempo: { enabled: false } }, path: 'spec.tracing.endpoint' },
  { name: 'no models and no targets', spec: {}, path: 'spec' },
  { name: 'pvc cache without size', spec: { models: [model({ modelCache: { type: 'persistentVolumeClaim' } })] }, path: 'spec.models[0].modelCache.size' },
  { name: 'existing claim on emptyDir', spec: { models: [model({ modelCache: { existingClaim: 'weights' } })] }, path: 'spec.models[0].modelCache.existingClaim' },
  { name: 'env with value and secret', spec: { models: [model({ env: [{ name: 'A', value: 'x', secretKeyRef: { name: 's', key: 'k' } }] })] }, path: 'spec.models[0].env[0]' },
  { name: 'env sets a generated variable (HF_HOME)', spec: { models: [model({ env: [{ name: 'HF_HOME', value: '/tmp' }] })] }, path: 'spec.models[0].env' },
  { name: 'env sets POD_NAME', spec: { models: [model({ env: [{ name: 'POD_NAME', value: 'spoofed' }] })] }, path: 'spec.models[0].env' },
  { name: 'env HF_TOKEN in plaintext next to hfTokenSecretRef', spec: { models: [model({ hfTokenSecretRef: { name: 'hf', key: 'token' }, env: [{ name: 'HF_TOKEN', value: 'hf_plain' }] })] }, path: 'spec.models[0].env' },
  { name: 'duplicate env name', spec: { models: [model({ env: [{ name: 'A', secretKeyRef: { name: 's', key: 'k' } }, { name: 'A', secretKeyRef: { name: 's', key: 'j' } }] })] }, path: 'spec.models[0].env[1]' },
  { name: 'negative memory limit', spec: { models: [model({ resources: { limits: { memory: '-1Gi' } } })] }, path: 'spec.models[0].resources.limits.memory' },
  { name: 'toleration Exists with a value', spec: { models: [model({ gpu: { tolerations: [{ key: 'gpu', operator: 'Exists', value: 'a100' }] } })] }, path: 'spec.models[0].gpu.tolerations[0].value' },
  { name: 'toleration key not a qualified name', spec: { models: [model({ gpu: { tolerations: [{ key: 'bad key!' }] } })] }, path: 'spec.models[0].gpu.tolerations[0].key' },
  { name: 'storage class not a DNS subdomain', spec: { models: [model({ modelCache: { type: 'persistentVolumeClaim', size: '100Gi', storageClassName: 'Fast SSD' } })] }, path: 'spec.models[0].modelCache.storageClassName' },
  { name: 'benchmark Secret name not a DNS subdomain', spec: { models: [model()], benchmarks: { enabled: true, host: 'pg:5432', secretRef: { name: 'Bad Secret!!' } } }, path: 'spec.benchmarks.secretRef.name' },
  { name: 'model named like a stack component', spec: { models: [model({ name: 'prometheus' })] }, path: 'spec.models[0].name' },
  { name: 'remote write with credentials in the URL', spec: { models: [model()], monitoring: { remoteWrite: [{ url: 'https://user:pw@mimir.example.com/api/v1/push' }] } }, path: 'spec.monitoring.remoteWrite[0].url' },
  { name: 'model cache mounted over /dev/shm', spec: { models: [model({ modelCache: { mountPath: '/dev/shm' } })] }, path: 'spec.models[0].modelCache.mountPath' },
  { name: 'target without selector', spec: { targets: [{ name: 't', engine: 'vllm', port: 8000 }] }, path: 'spec.targets[0].selector' },
  { name: 'target named like a model', spec: { models: [model()], targets: [{ name: 'qwen', engine: 'vllm', selector: { app: 'x' }, port: 8000 }] }, path: 'spec.targets' },
  { name: 'latency SLO without threshold', spec: { models: [model()], slo: { ttft: { objective: 0.99 } } }, path: 'spec.slo.ttft.thresholdSeconds' },
  { name: 'SLO objective of 1', spec: { models: [model()], slo: { availability: { objective: 1 } } }, path: 'spec.slo.availability.objective' },
  { name: 'benchmarks without host', spec: { models: [model()], benchmarks: { enabled: true } }, path: 'spec.benchmarks.host' },
  { name: 'bad GPU resource name', spec: { models: [model({ gpu: { resourceName: 'nvidia gpu' } })] }, path: 'spec.models[0].gpu.resourceName' },
  { name: 'bad engine version', spec: { models: [model({ engineVersion: 'latest' })] }, path: 'spec.models[0].engineVersion' },
  { name: 'bad toleration effect', spec: { models: [model({ gpu: { tolerations: [{ key: 'gpu', effect: 'Never' }] } })] }, path: 'spec.models[0].gpu.tolerations[0].effect' },
  { name: 'bad shared memory quantity', spec: { models: [model({ resources: { sharedMemory: 'lots' } })] }, path: 'spec.models[0].resources.sharedMemory' },
  { name: 'autoscaling min above max', spec: { models: [model({ autoscaling: { minReplicas: 5, maxReplicas: 2, target: 10 } })] }, path: 'spec.models[0].autoscaling.minReplicas' },
  { name: 'autoscaling KV target above 1', spec: { models: [model({ autoscaling: { metric: 'kvCacheUsage', target: 80 } })] }, path: 'spec.models[0].autoscaling.target' },
  { name: 'alert KV threshold above 1', spec: { models: [model()], alerts: { kvCacheUsage: 1.5 } }, path: 'spec.alerts.kvCacheUsage' },
];

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('against a real kube-apiserver', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
    await ensureNamespace(cp, NS);
    // dist/0-cluster.k8s.yaml creates these; a dry run of it does not.
    await ensureNamespace(cp, 'inference-monitoring-system');
    await installCrd(cp, inferenceMonitoringCrd());
  }, 180_000);
  afterAll(async () => { await cp?.stop(); });

  test('the generated CRD is accepted as a structural schema and served', async () => {
    const res = await cp.request('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/inferencemonitorings.monitoring.inference.dev');
    const conditions = res.body.status.conditions as Array<{ type: string; status: string }>;
    expect(conditions.find((c) => c.type === 'NonStructuralSchema')).toBeUndefined();
    expect(conditions.find((c) => c.type === 'Established')?.status).toBe('True');
  });

  test('kubectl explain shows the schema descriptions', async () => {
    // The CRD's OpenAPI is published a moment after it is Established.
    let out = await cp.kubectl(['explain', 'inferencemonitoring.spec.models.gpu.count']);
    for (let i = 0; i < 40 && out.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      out = await cp.kubectl(['explain', 'inferencemonitoring.spec.models.gpu.count']);
    }
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('GPUs per replica');
  });

  test.each(INVALID_SPECS)('rejects $name at $path, as the library does', async ({ name, spec, path: fieldPath }) => {
    const res = await cp.request('POST', `${BASE}?dryRun=All&fieldValidation=Strict`, resource('bad', spec));
    expect(res.status).toBe(422);
    const causes: Array<{ field: string; message: string }> = res.body.details?.causes ?? [];
    // Print the corpus with the apiserver's words, for the record.
    console.log(`[admission] ${name}: ${res.body.message}`);
    expect(causes.map((c) => c.field)).toContain(fieldPath);
    const lib = validateSpec(spec);
    expect(lib.ok).toBe(false);
    if (!lib.ok) expect(lib.errors.map((e) => e.path)).toContain(fieldPath);
  });

  test('the apiserver defaults a spec exactly as the library does', async () => {
    const spec = {
      models: [model({ engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } }), model({ name: 'small', engine: 'transformers', gpu: { count: 0 } })],
      targets: [{ name: 'legacy', engine: 'sglang', selector: { app: 'sglang' }, port: 30000 }],
      slo: { ttft: { thresholdSeconds: 1 } },
    };
    const res = await cp.request('POST', BASE, resource('defaults', spec));
    expect(res.status).toBe(201);
    const lib = validateSpec(spec);
    expect(lib.ok).toBe(true);
    if (lib.ok) expect(res.body.spec).toEqual(lib.value);
  });

  test('every file in dist/ passes a server-side dry run', async () => {
    await installPrometheusOperatorCrds(cp);
    const files = fs.readdirSync(path.join(REPO, 'dist')).filter((f) => f.endsWith('.yaml')).sort();
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const out = await cp.kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=test', '-f', path.join(REPO, 'dist', f)]);
      expect({ file: f, code: out.code, stderr: out.stderr }).toEqual({ file: f, code: 0, stderr: '' });
    }
  });
});
