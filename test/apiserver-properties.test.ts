/**
 * What we accept, the cluster accepts: random specs (fast-check) widened to
 * quantities, tolerations, storage classes, env, arguments with `$`, names at
 * every length limit, targets in other namespaces, both monitoring modes and
 * autoscaling. Every spec the library accepts renders objects that a real
 * kube-apiserver (with the prometheus-operator and KEDA CRDs) accepts in a
 * server-side dry run, and that are distinct; a spec the library refuses
 * names a field path.
 */
import fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { planStack } from '../src/plan/plan';
import { renderManifests, Manifest } from '../src/render';
import { kindOf, resourcePath } from '../src/controller/resources';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, installPrometheusOperatorCrds, startControlPlane } from './harness/control-plane';
import { SHARED } from './harness/binaries';

const RUNS = Number(process.env.CIM_PROPERTY_RUNS ?? 200);
const ENGINES = ['vllm', 'lmdeploy', 'sglang', 'tgi', 'transformers'] as const;
/** Names at and around every limit: 41/42 (Prometheus StatefulSet pods' revision label), 52/53, 63. */
const nameOfLength = (n: number) => fc.stringMatching(new RegExp(`^[a-z][a-z0-9-]{${Math.max(0, n - 2)}}[a-z0-9]$`)).map((s) => s.slice(0, n));
const resourceName = fc.oneof(fc.constantFrom(1, 2, 41, 42, 52, 53, 63).chain((n) => (n === 1 ? fc.constant('a') : nameOfLength(n))), nameOfLength(12));
const quantity = fc.constantFrom('100m', '1', '2', '8', '16', '0.5', '1500m', '+4', '1e3');
const memory = fc.constantFrom('512Mi', '1Gi', '8Gi', '64Gi', '100G', '2e9', '256M', '128Gi');
/** Mostly valid values, sometimes one the library must refuse (`rarely`). */
const mostly = <T>(valid: readonly T[], invalid: readonly T[]) => fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 12 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
const toleration = fc.record({
  key: mostly(['nvidia.com/gpu', 'dedicated', 'example.com/pool_a.b', 'gpu-type'], ['bad key', 'a/b/c']),
  equal: fc.boolean(),
  value: mostly(['a100', 'h100-80gb'], ['']),
  strayValue: mostly([false], [true]),
  effect: fc.constantFrom(undefined, 'NoSchedule', 'NoExecute', 'PreferNoSchedule'),
}).map((t) => ({
  key: t.key,
  ...(t.equal ? { operator: 'Equal', value: t.value } : { operator: 'Exists', ...(t.strayValue ? { value: 'x' } : {}) }),
  ...(t.effect ? { effect: t.effect } : {}),
}));
const envVar = fc.record({
  name: mostly(['NCCL_DEBUG', 'VLLM_LOGGING_LEVEL', 'A.B-c_d', 'CUDA_VISIBLE_DEVICES'], ['HF_HOME', 'POD_NAME', 'OTEL_SERVICE_NAME', 'HF_TOKEN']),
  value: fc.constantFrom('INFO', '$(HF_TOKEN)', 'a$b', '', '0,1'),
  secret: fc.boolean(),
}).map((e) => (e.secret ? { name: e.name, secretKeyRef: { name: 'extra.secrets', key: 'k' } } : { name: e.name, value: e.value }));

const model = fc.record({
  name: fc.oneof(nameOfLength(40), mostly(['m', 'a-b', 'qwen'], ['prometheus', 'grafana', 'tempo', 'dcgm-exporter', 'alertmanager'])),
  model: fc.constantFrom('Qwen/Qwen2.5-7B-Instruct', 'x/y', 'org/$(HF_TOKEN)', '/cache/huggingface/local-model'),
  engine: fc.constantFrom(...ENGINES),
  tensor: fc.integer({ min: 1, max: 4 }),
  data: fc.integer({ min: 1, max: 3 }),
  replicas: fc.integer({ min: 0, max: 3 }),
  requests: fc.record({ cpu: fc.option(quantity, { nil: undefined }), memory: fc.option(memory, { nil: undefined }) }),
  // Limits mostly above any request (ours or the profile's default), sometimes below.
  limits: fc.record({ cpu: fc.option(mostly(['16', '32', '64000m'], ['100m', '1']), { nil: undefined, freq: 3 }), memory: fc.option(mostly(['128Gi', '300G', '1Ti'], ['512Mi', '1Gi']), { nil: undefined, freq: 3 }) }),
  shm: fc.constantFrom('1Gi', '16Gi', '64Mi', '500M'),
  cache: fc.constantFrom<Record<string, unknown>>({}, { type: 'persistentVolumeClaim', size: '200Gi', storageClassName: 'fast-ssd' }, { type: 'persistentVolumeClaim', size: '1Ti', storageClassName: 'gp3.encrypted' }, { size: '50Gi' }, { type: 'persistentVolumeClaim', existingClaim: 'weights.v2' }),
  tolerations: fc.option(fc.array(toleration, { maxLength: 2 }), { nil: undefined }),
  env: fc.option(fc.uniqueArray(envVar, { maxLength: 3, selector: (e) => e.name }), { nil: undefined }),
  args: fc.option(fc.array(fc.constantFrom('--max-model-len', '8192', '$(HF_TOKEN)', '--api-key=$x', '$$(POD_NAME)'), { maxLength: 4 }), { nil: undefined }),
  hfToken: fc.boolean(),
  autoscale: fc.boolean(),
}).map((m) => {
  const gpuEngine = m.engine !== 'transformers';
  const tensor = m.engine === 'lmdeploy' && m.data > 1 ? Math.max(m.tensor, 2) : m.tensor;
  const count = m.engine === 'lmdeploy' ? Math.max(tensor, m.data) : tensor * m.data;
  const resources: Record<string, unknown> = { sharedMemory: m.shm };
  const clean = (r: Record<string, string | undefined>) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
  if (Object.keys(clean(m.requests)).length) resources.requests = clean(m.requests);
  if (Object.keys(clean(m.limits)).length) resources.limits = clean(m.limits);
  return {
    name: m.name, model: m.model, engine: m.engine, replicas: m.replicas,
    gpu: { count: gpuEngine ? count : 0, ...(m.tolerations ? { tolerations: m.tolerations } : {}) },
    parallelism: gpuEngine ? { tensor, data: m.data } : undefined,
    resources, modelCache: m.cache,
    ...(m.env ? { env: m.env } : {}), ...(m.args ? { args: m.args } : {}),
    ...(m.hfToken ? { hfTokenSecretRef: { name: 'hf-token', key: 'token' } } : {}),
    ...(m.autoscale && m.engine !== 'transformers' ? { autoscaling: { minReplicas: 1, maxReplicas: 3, target: 5 } } : {}),
  };
});

const spec = fc.record({
  models: fc.uniqueArray(model, { minLength: 1, maxLength: 3, selector: (m) => m.name }),
  mode: fc.constantFrom('managed', 'operator', 'operator+create'),
  tempo: fc.boolean(),
  gpuMetrics: fc.boolean(),
  target: fc.boolean(),
  defaultDeny: fc.boolean(),
  storageClass: mostly([undefined, 'standard', 'gp3.encrypted'], ['Bad Class']),
}).map((s) => ({
  models: s.models,
  monitoring: { mode: s.mode === 'managed' ? 'managed' : 'operator', ...(s.mode === 'operator+create' ? { createPrometheus: true } : {}),
    ...(s.mode !== 'operator' && s.storageClass ? { storage: { size: '50Gi', storageClassName: s.storageClass } } : {}) },
  tempo: { enabled: s.tempo },
  tracing: { enabled: s.tempo },
  gpuMetrics: { enabled: s.gpuMetrics },
  networkPolicy: { defaultDeny: s.defaultDeny },
  ...(s.target ? { targets: [{ name: 'legacy', engine: 'sglang', selector: { app: 'legacy' }, port: 30000, ranks: 2, namespace: 'serving' }] } : {}),
}));

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('what the library accepts, a real kube-apiserver accepts (server-side dry run)', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
    for (const ns of ['llm', 'serving']) await ensureNamespace(cp, ns);
    await installPrometheusOperatorCrds(cp);
    const keda = path.join(SHARED, 'crds', 'keda');
    for (const f of fs.readdirSync(keda).sort()) for (const d of parseAllDocuments(fs.readFileSync(path.join(keda, f), 'utf8'))) if (d.toJSON()) await installCrd(cp, d.toJSON());
  }, 180_000);
  afterAll(async () => { await cp?.stop(); });

  test(`${RUNS} random specs: accepted ones render distinct objects the apiserver takes; refused ones name a field`, async () => {
    let accepted = 0;
    let refused = 0;
    let objects = 0;
    const started = Date.now();
    const reasons = new Map<string, number>();
    await fc.assert(fc.asyncProperty(spec, resourceName, async (s, name) => {
      const planned = planStack({ name, namespace: 'llm', spec: s });
      if (!planned.ok) {
        refused++;
        for (const e of planned.errors) {
          expect(e.path).toMatch(/^(spec|metadata)(\.|\[|$)/);
          const k = e.path.replace(/\[\d+\]/g, '[]');
          reasons.set(k, (reasons.get(k) ?? 0) + 1);
        }
        return;
      }
      accepted++;
      const objs: Manifest[] = renderManifests({ name, namespace: 'llm', spec: s });
      const keys = objs.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
      expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
      for (const o of objs) {
        const k = kindOf(o.apiVersion, o.kind);
        const res = await cp.request('PATCH', `${resourcePath(k, o.metadata.namespace, o.metadata.name)}?dryRun=All&fieldManager=property&force=true&fieldValidation=Strict`, o, 'application/apply-patch+yaml');
        objects++;
        if (res.status >= 300) throw new Error(`${o.kind} ${o.metadata.namespace}/${o.metadata.name} of ${name} refused (${res.status}): ${res.body?.message ?? res.text}\nspec: ${JSON.stringify(s)}`);
      }
    }), { numRuns: RUNS });
    console.log(`[apiserver property] ${RUNS} specs: ${accepted} accepted (${objects} objects dry-run applied), ${refused} refused with field paths, in ${((Date.now() - started) / 1000).toFixed(1)} s; refusals by field: ${JSON.stringify(Object.fromEntries([...reasons].sort()))}`);
    expect(accepted).toBeGreaterThan(RUNS / 5);
    expect(refused).toBeGreaterThan(0);
  }, 600_000);
});
