/**
 * Against a real kube-apiserver + etcd: the generated CRD is accepted, the
 * apiserver rejects the same bad specs as the library (same field paths),
 * defaults the same way, and every file in dist/ passes a server-side dry run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { validateSpec } from '../../src/api/validate';
import { planStack } from '../../src/plan/plan';
import { LIBRARY_ONLY_SPECS } from '../harness/hostile-specs';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, installPrometheusOperatorCrds, startControlPlane } from '../harness/control-plane';

const REPO = path.resolve(__dirname, '..', '..');
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
  { name: 'TGI over several pods (no multi-node launch)', spec: { models: [model({ engine: 'tgi', gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2 } })] }, path: 'spec.models[0].parallelism.nodes' },
  { name: 'a multi-node group whose GPUs do not match its ranks', spec: { models: [model({ gpu: { count: 2 }, parallelism: { tensor: 2, nodes: 2 } })] }, path: 'spec.models[0].parallelism' },
  { name: 'data-parallel ranks that do not split evenly over the pods (3 over 2)', spec: { models: [model({ gpu: { count: 3 }, parallelism: { tensor: 2, data: 3, nodes: 2 } })] }, path: 'spec.models[0].parallelism.data' },
  { name: 'a multi-node mode the engine does not run', spec: { models: [model({ engine: 'sglang', gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2, multiNodeMode: 'hybrid' } })] }, path: 'spec.models[0].parallelism.multiNodeMode' },
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
  ...HOSTILE_SPECS(),
];

/**
 * Issue #26: inputs the CRD used to admit and that then broke a reconcile (`Invalid URL`), Prometheus, the
 * apiserver's checks of the objects, the kubelet or Grafana. Each is refused at admission, with the message the
 * library gives too.
 */
function HOSTILE_SPECS(): Array<{ name: string; spec: unknown; path: string; message: string }> {
  const rw = (url: string) => ({ models: [model()], monitoring: { remoteWrite: [{ url }] } });
  const notUrl = 'must be an absolute http(s) URL with a host';
  const badPort = 'the port must be between 1 and 65535';
  const extended = 'must be an extended resource name with a domain prefix';
  const pattern = 'should match';
  return [
    { name: 'remote write https://[am (a reconcile threw Invalid URL)', spec: rw('https://[am'), path: 'spec.monitoring.remoteWrite[0].url', message: notUrl },
    { name: 'remote write with a %zz host', spec: rw('https://%zz/api/v1/push'), path: 'spec.monitoring.remoteWrite[0].url', message: notUrl },
    { name: 'remote write on port 99999', spec: rw('https://mimir.example:99999/api/v1/push'), path: 'spec.monitoring.remoteWrite[0].url', message: badPort },
    { name: 'remote write on port 0 (a NetworkPolicy port 0 under defaultDeny)', spec: { ...rw('https://mimir.example:0/api/v1/push'), networkPolicy: { defaultDeny: true } }, path: 'spec.monitoring.remoteWrite[0].url', message: badPort },
    { name: 'alerting endpoint on port 99999', spec: { models: [model()], alerting: { endpoints: [{ url: 'https://am.example:99999' }] } }, path: 'spec.alerting.endpoints[0].url', message: badPort },
    { name: 'alerting endpoint https://[am', spec: { models: [model()], alerting: { endpoints: [{ url: 'https://[am' }] } }, path: 'spec.alerting.endpoints[0].url', message: notUrl },
    { name: 'tracing endpoint on port 99999', spec: { models: [model()], tracing: { endpoint: 'http://otel.example:99999' } }, path: 'spec.tracing.endpoint', message: badPort },
    { name: 'benchmarks.host on port 99999 (NetworkPolicy port under defaultDeny)', spec: { models: [model()], networkPolicy: { defaultDeny: true }, benchmarks: { enabled: true, host: 'pg.example:99999', secretRef: { name: 'pg' } } }, path: 'spec.benchmarks.host', message: pattern },
    { name: 'benchmarks.host on port 0', spec: { models: [model()], benchmarks: { enabled: true, host: 'pg.example:0', secretRef: { name: 'pg' } } }, path: 'spec.benchmarks.host', message: pattern },
    { name: 'benchmarks.host carrying $BENCHMARKS_DB_PASSWORD (Grafana would expand it)', spec: { models: [model()], benchmarks: { enabled: true, host: '$BENCHMARKS_DB_PASSWORD', secretRef: { name: 'pg' } } }, path: 'spec.benchmarks.host', message: pattern },
    { name: 'gpu.resourceName hugepages-2Mi', spec: { models: [model({ gpu: { resourceName: 'hugepages-2Mi' } })] }, path: 'spec.models[0].gpu.resourceName', message: extended },
    { name: 'gpu.resourceName gpu (no domain)', spec: { models: [model({ gpu: { resourceName: 'gpu' } })] }, path: 'spec.models[0].gpu.resourceName', message: extended },
    { name: 'gpu.resourceName cpu', spec: { models: [model({ gpu: { resourceName: 'cpu' } })] }, path: 'spec.models[0].gpu.resourceName', message: extended },
    { name: 'gpu.resourceName memory', spec: { models: [model({ gpu: { resourceName: 'memory' } })] }, path: 'spec.models[0].gpu.resourceName', message: extended },
    { name: 'gpu.resourceName kubernetes.io/gpu', spec: { models: [model({ gpu: { resourceName: 'kubernetes.io/gpu' } })] }, path: 'spec.models[0].gpu.resourceName', message: extended },
    { name: 'retention 99999999999999999999y (beyond a Go duration)', spec: { models: [model()], monitoring: { retention: '99999999999999999999y' } }, path: 'spec.monitoring.retention', message: pattern },
    { name: 'Tempo retention 999y (beyond a Go duration)', spec: { models: [model()], tempo: { retention: '999y' } }, path: 'spec.tempo.retention', message: pattern },
    { name: 'scrape interval 0s', spec: { models: [model()], monitoring: { interval: '0s' } }, path: 'spec.monitoring.interval', message: 'must be longer than 0' },
    { name: 'engineVersion with + as the image tag', spec: { models: [model({ engineVersion: '0.11.0+cu128' })] }, path: 'spec.models[0].engineVersion', message: 'an image tag may not contain +' },
    { name: 'image with a space', spec: { models: [model({ image: 'vllm/vllm-openai:v0.11.0 --privileged' })] }, path: 'spec.models[0].image', message: pattern },
    { name: 'image with a newline', spec: { models: [model({ image: 'vllm/vllm-openai:v0.11.0\n' })] }, path: 'spec.models[0].image', message: pattern },
    { name: 'hfTokenSecretRef key ..', spec: { models: [model({ hfTokenSecretRef: { name: 'hf', key: '..' } })] }, path: 'spec.models[0].hfTokenSecretRef.key', message: pattern },
    { name: 'env secretKeyRef key .', spec: { models: [model({ env: [{ name: 'A', secretKeyRef: { name: 's', key: '.' } }] })] }, path: 'spec.models[0].env[0].secretKeyRef.key', message: pattern },
    { name: 'remote write password key ..', spec: { models: [model()], monitoring: { remoteWrite: [{ url: 'https://mimir.example/api/v1/push', basicAuth: { usernameSecretRef: { name: 'a' }, passwordSecretRef: { name: 'a', key: '..' } } }] } }, path: 'spec.monitoring.remoteWrite[0].basicAuth.passwordSecretRef.key', message: pattern },
    { name: 'Grafana passwordKey ..data', spec: { models: [model()], grafana: { adminSecretRef: { name: 'g', passwordKey: '..data' } } }, path: 'spec.grafana.adminSecretRef.passwordKey', message: pattern },
    { name: 'model cache mounted at /', spec: { models: [model({ modelCache: { mountPath: '/' } })] }, path: 'spec.models[0].modelCache.mountPath', message: pattern },
    { name: 'model cache mounted in /proc', spec: { models: [model({ modelCache: { mountPath: '/proc/cache' } })] }, path: 'spec.models[0].modelCache.mountPath', message: 'may not be mounted in /dev, /proc or /sys' },
    { name: 'model cache path with ..', spec: { models: [model({ modelCache: { mountPath: '/cache/../etc' } })] }, path: 'spec.models[0].modelCache.mountPath', message: 'may not have . or .. components' },
    { name: 'U+00A0 in a remote-write URL', spec: rw('https://mimir.example/api/v1/push\u00a0'), path: 'spec.monitoring.remoteWrite[0].url', message: pattern },
    { name: 'U+2028 in the tracing endpoint', spec: { models: [model()], tracing: { endpoint: 'http://otel.example:4317\u2028' } }, path: 'spec.tracing.endpoint', message: pattern },
    { name: 'a password in the remote-write query', spec: rw('https://mimir.example/api/v1/push?password=hunter2'), path: 'spec.monitoring.remoteWrite[0].url', message: 'credentials in the query would be written into prometheus.yml (a ConfigMap) or the Prometheus resource: use basicAuth or bearerTokenSecretRef' },
    { name: 'an api_key in the tracing endpoint query', spec: { models: [model()], tracing: { endpoint: 'https://otel.example:4317?api_key=abc' } }, path: 'spec.tracing.endpoint', message: 'credentials in the query would be written into engine arguments and environment variables: use headersSecretRef' },
    { name: 'user:pass@ in an alerting endpoint (was silently dropped)', spec: { models: [model()], alerting: { endpoints: [{ url: 'https://user:pass@am.example' }] } }, path: 'spec.alerting.endpoints[0].url', message: 'credentials in the URL (user:password@) would be written into prometheus.yml (a ConfigMap), and Prometheus would not send them: use bearerTokenSecretRef' },
    { name: 'a query in an alerting endpoint (Prometheus drops it)', spec: { models: [model()], alerting: { endpoints: [{ url: 'https://am.example/?tenant=a' }] } }, path: 'spec.alerting.endpoints[0].url', message: 'a query or fragment would be dropped' },
    { name: 'user:pass@ in the tracing endpoint', spec: { models: [model()], tracing: { endpoint: 'https://u:p@otel.example:4317' } }, path: 'spec.tracing.endpoint', message: 'use headersSecretRef' },
    { name: 'a token in prometheusUrl', spec: { models: [model()], monitoring: { mode: 'operator', prometheusUrl: 'http://prom.monitoring.svc:9090?token=abc' } }, path: 'spec.monitoring.prometheusUrl', message: 'credentials in the query' },
  ];
}


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

  test.each(INVALID_SPECS)('rejects $name at $path, as the library does', async ({ name, spec, path: fieldPath, ...rest }) => {
    const message = (rest as { message?: string }).message;
    const res = await cp.request('POST', `${BASE}?dryRun=All&fieldValidation=Strict`, resource('bad', spec));
    expect(res.status).toBe(422);
    const causes: Array<{ field: string; message: string }> = res.body.details?.causes ?? [];
    // Print the corpus with the apiserver's words, for the record.
    console.log(`[admission] ${name}: ${res.body.message}`);
    expect(causes.map((c) => c.field)).toContain(fieldPath);
    if (message) expect(causes.filter((c) => c.field === fieldPath).map((c) => c.message).join('\n')).toContain(message);
    const lib = validateSpec(spec);
    expect(lib.ok).toBe(false);
    if (!lib.ok) expect(lib.errors.map((e) => e.path)).toContain(fieldPath);
    if (!lib.ok && message) expect(lib.errors.filter((e) => e.path === fieldPath).map((e) => e.message).join('\n')).toContain(message);
  });

  test.each(LIBRARY_ONLY_SPECS)('admits $name, which the library (and so the CLI and the controller) refuses at $path', async ({ spec, path: fieldPath, message }) => {
    const res = await cp.request('POST', `${BASE}?dryRun=All&fieldValidation=Strict`, resource('lib-only', spec));
    expect(res.status).toBe(201);
    const planned = planStack({ name: 'lib-only', namespace: NS, spec });
    expect(planned.ok).toBe(false);
    if (!planned.ok) expect(planned.errors.filter((e) => e.path === fieldPath).map((e) => e.message).join('\n')).toContain(message);
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
