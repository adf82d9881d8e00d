/**
 * What we accept, the cluster accepts: random specs (fast-check) widened to
 * quantities, tolerations, storage classes, env, arguments with `$`, names at
 * every length limit, targets in other namespaces, both monitoring modes and
 * autoscaling. Every spec the library accepts renders objects that a real
 * kube-apiserver (with the prometheus-operator and KEDA CRDs) accepts in a
 * server-side dry run, and that are distinct, and a Prometheus configuration
 * and rule files the real promtool accepts; a spec the library refuses names
 * a field path. Issue #26's hostile inputs (URLs that do not parse or carry
 * credentials, ports 0 and 99999, selector keys, resource names, durations,
 * image tags and references, Secret keys, mount paths, U+00A0/U+2028,
 * `$(VAR)`, `$VAR` and `{{`) are mixed in: each spec is also submitted to the
 * CRD, and whatever the CRD refuses, the library refuses at a field path it
 * names too.
 */
import fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { planStack } from '../../src/plan/plan';
import { PROFILES } from '../../src/engines/registry';
import { renderPlan, Manifest } from '../../src/render';
import { kindOf, resourcePath } from '../../src/controller/resources';
import * as os from 'os';
import { ControlPlane, ensureNamespace, haveK8sBinaries, installCrd, installPrometheusOperatorCrds, startControlPlane } from '../harness/control-plane';
import { SHARED, havePrometheus } from '../harness/binaries';
import { promtool } from '../harness/prometheus';
import { inferenceMonitoringCrd } from '../../src/api/crd';
import { buildRuleFiles } from '../../src/alerts/rules';
import { buildPrometheusConfig } from '../../src/prometheus/prometheus-config';
import { configYaml } from '../../src/config-yaml';

const RUNS = Number(process.env.CIM_PROPERTY_RUNS ?? 200);
const ENGINES = ['vllm', 'lmdeploy', 'sglang', 'tgi', 'transformers'] as const;
/** Names at and around every limit: 41/42 (Prometheus StatefulSet pods' revision label), 52/53, 63. */
const nameOfLength = (n: number) => fc.stringMatching(new RegExp(`^[a-z][a-z0-9-]{${Math.max(0, n - 2)}}[a-z0-9]$`)).map((s) => s.slice(0, n));
const resourceName = fc.oneof(fc.constantFrom(1, 2, 41, 42, 52, 53, 63).chain((n) => (n === 1 ? fc.constant('a') : nameOfLength(n))), nameOfLength(12));
const quantity = fc.constantFrom('100m', '1', '2', '8', '16', '0.5', '1500m', '+4', '1e3');
const memory = fc.constantFrom('512Mi', '1Gi', '8Gi', '64Gi', '100G', '2e9', '256M', '128Gi');
/** Mostly valid values, sometimes one the library must refuse (`rarely`). */
const mostly = <T>(valid: readonly T[], invalid: readonly T[]) => fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 12 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
/** Issue #26's hostile values: many fields carry one, so each is rarer, and specs the library accepts stay many. */
const seldom = <T>(valid: readonly T[], invalid: readonly T[]) => fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 80 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
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
  hfTokenKey: seldom(['token', '.token', 'a..b'], ['..', '.', '..data']),
  autoscale: fc.boolean(),
  // Issue #26: an extended resource name, an image reference, an image tag from engineVersion, a mount path.
  resourceName: seldom(['nvidia.com/gpu', 'amd.com/gpu', 'gpu.example.com/a100_80gb'], ['hugepages-2Mi', 'gpu', 'cpu', 'memory', 'kubernetes.io/gpu']),
  image: seldom([undefined, 'registry.example.com:5000/team/engine:v1.2_3', 'ghcr.io/org/engine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'], ['vllm/vllm openai:v1', 'vllm/vllm-openai:v1\n', 'Vllm/Engine:v1']),
  buildMetadata: seldom([false], [true]),
  mountPath: seldom([undefined, '/models', '/cache/hf/', '/data/hf_home.v2'], ['/', '/dev', '/proc/cache', '/cache/../etc', '/cache/$(HF_TOKEN)']),
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
    gpu: { count: gpuEngine ? count : 0, resourceName: m.resourceName, ...(m.tolerations ? { tolerations: m.tolerations } : {}) },
    parallelism: gpuEngine ? { tensor, data: m.data } : undefined,
    resources, modelCache: { ...m.cache, ...(m.mountPath ? { mountPath: m.mountPath } : {}) },
    ...(m.image ? { image: m.image } : {}),
    ...(m.buildMetadata ? { engineVersion: `${PROFILES[m.engine].defaultVersion}+build.1` } : {}),
    ...(m.env ? { env: m.env } : {}), ...(m.args ? { args: m.args } : {}),
    ...(m.hfToken ? { hfTokenSecretRef: { name: 'hf-token', key: m.hfTokenKey } } : {}),
    ...(m.autoscale && m.engine !== 'transformers' ? { autoscaling: { minReplicas: 1, maxReplicas: 3, target: 5 } } : {}),
  };
});

/** Issue #26: URLs the renderer, Prometheus and NetworkPolicies must take, and ones they must never see. */
const BAD_URLS = ['https://[am', 'https://%zz/x', 'https://svc.example:99999/x', 'https://svc.example:0/x', 'https://svc.example/x?password=a', 'https://u:p@svc.example/x',
  'https://svc.example/x\u00a0', 'https://svc.example/x\u2028', 'https://svc<x/', 'https://svc.example/ x'];
const remoteWriteUrl = seldom([undefined, 'https://mimir.example:9009/api/v1/push', 'http://10.0.0.1/api/v1/write', 'https://[fd00::1]:8443/push', 'https://mimir.example/push?tenant=a'], BAD_URLS);
const alertmanagerUrl = seldom([undefined, 'https://am.example', 'http://am.example:9093/prefix/'], [...BAD_URLS, 'https://am.example?tenant=a']);
const tracingEndpoint = seldom([undefined, 'http://otel-collector.observability.svc:4317', 'http://otel.example:4317/$(HF_TOKEN)'], [...BAD_URLS, 'https://otel.example?api_key=x']);
const selector = seldom<Record<string, string>>([{ app: 'legacy' }, { 'app.kubernetes.io/name': 'legacy', 'example.com/team_a.b-c': 'x' }], [{ 'bad key': 'x' }, { 'a/b/c': 'x' }, { ['k'.repeat(64)]: 'x' }, { 'app.': 'x' }]);
const retention = seldom(['15d', '1h30m', '2w', '90m'], ['99999999999999999999y', '0s', '999y', '0']);
const benchmarks = seldom<Record<string, unknown> | undefined>([undefined, { enabled: true, host: 'pg.example:5432', database: '$BENCHMARKS_DB_PASSWORD', secretRef: { name: 'pg' } }, { enabled: true, host: '[fd00::2]', secretRef: { name: 'pg' } }],
  [{ enabled: true, host: 'pg.example:99999', secretRef: { name: 'pg' } }, { enabled: true, host: 'pg.example:0', secretRef: { name: 'pg' } }, { enabled: true, host: '$BENCHMARKS_DB_PASSWORD', secretRef: { name: 'pg' } }]);
const runbookBaseUrl = seldom([undefined, 'https://runbooks.example/{{.Foo}}/{{', 'https://wiki.example/$(HF_TOKEN)/runbooks'], ['https://runbooks.example/{{ .Foo }}', 'https://u:p@runbooks.example/x']);

const spec = fc.record({
  models: fc.uniqueArray(model, { minLength: 1, maxLength: 3, selector: (m) => m.name }),
  mode: fc.constantFrom('managed', 'operator', 'operator+create'),
  tempo: fc.boolean(),
  gpuMetrics: fc.boolean(),
  target: fc.boolean(),
  defaultDeny: fc.boolean(),
  storageClass: mostly([undefined, 'standard', 'gp3.encrypted'], ['Bad Class']),
  remoteWriteUrl, alertmanagerUrl, tracingEndpoint, targetSelector: selector, sharedSelector: selector, retention, tempoRetention: retention, benchmarks, runbookBaseUrl,
  exporterSelector: fc.option(selector, { nil: undefined, freq: 3 }),
}).map((s) => ({
  models: s.models,
  monitoring: { mode: s.mode === 'managed' ? 'managed' : 'operator', ...(s.mode === 'operator+create' ? { createPrometheus: true } : {}),
    ...(s.mode !== 'operator' && s.storageClass ? { storage: { size: '50Gi', storageClassName: s.storageClass } } : {}),
    ...(s.mode !== 'operator' && s.remoteWriteUrl ? { remoteWrite: [{ url: s.remoteWriteUrl }] } : {}),
    retention: s.retention },
  tempo: { enabled: s.tempo, retention: s.tempoRetention },
  // Without Tempo, traces go to the external endpoint when there is one.
  tracing: { enabled: s.tempo || s.tracingEndpoint !== undefined, ...(s.tracingEndpoint ? { endpoint: s.tracingEndpoint } : {}) },
  gpuMetrics: { enabled: s.gpuMetrics, ...(s.exporterSelector ? { deployExporter: false, exporterNamespace: 'serving', exporterSelector: s.exporterSelector } : {}) },
  networkPolicy: { defaultDeny: s.defaultDeny, ...(s.mode === 'operator' ? { sharedPrometheus: { podSelector: s.sharedSelector } } : {}) },
  alerting: { ...(s.mode === 'managed' && s.alertmanagerUrl ? { endpoints: [{ url: s.alertmanagerUrl }] } : {}), ...(s.runbookBaseUrl ? { runbookBaseUrl: s.runbookBaseUrl } : {}) },
  ...(s.benchmarks ? { benchmarks: s.benchmarks } : {}),
  ...(s.target ? { targets: [{ name: 'legacy', engine: 'sglang', selector: s.targetSelector, port: 30000, ranks: 2, namespace: 'serving' }] } : {}),
}));

const resource = (name: string, s: unknown) => ({ apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name, namespace: 'llm' }, spec: s });

/** promtool's verdict on the Prometheus configuration and the rule files of a stack (the rules as any Prometheus loads them). */
async function promtoolErrors(planned: Parameters<typeof buildRuleFiles>[0], dir: string): Promise<string[]> {
  const errors: string[] = [];
  const rules = buildRuleFiles(planned);
  for (const [name, file] of Object.entries(rules)) fs.writeFileSync(path.join(dir, name), configYaml(file));
  const cfg = buildPrometheusConfig(planned);
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), configYaml({ ...cfg, rule_files: Object.keys(rules).map((n) => path.join(dir, n)) }));
  const r = await promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
  if (r.code !== 0) errors.push(`promtool check config: ${r.stdout}${r.stderr}`);
  return errors;
}

const runIf = haveK8sBinaries() ? describe : describe.skip;

runIf('what the library accepts, a real kube-apiserver accepts (server-side dry run)', () => {
  let cp: ControlPlane;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-apiserver-properties-'));
    cp = await startControlPlane();
    for (const ns of ['llm', 'serving']) await ensureNamespace(cp, ns);
    await installCrd(cp, inferenceMonitoringCrd());
    await installPrometheusOperatorCrds(cp);
    const keda = path.join(SHARED, 'crds', 'keda');
    for (const f of fs.readdirSync(keda).sort()) for (const d of parseAllDocuments(fs.readFileSync(path.join(keda, f), 'utf8'))) if (d.toJSON()) await installCrd(cp, d.toJSON());
  }, 180_000);
  afterAll(async () => {
    await cp?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test(`${RUNS} random specs: accepted ones render distinct objects the apiserver takes; refused ones name a field`, async () => {
    let accepted = 0;
    let refused = 0;
    let refusedAtAdmission = 0;
    let libraryOnly = 0;
    let objects = 0;
    let promtoolChecked = 0;
    const started = Date.now();
    const reasons = new Map<string, number>();
    await fc.assert(fc.asyncProperty(spec, resourceName, async (s, name) => {
      const planned = planStack({ name, namespace: 'llm', spec: s });
      // The CRD's verdict on the same spec: what it refuses, the library refuses, at a field path both name.
      const admission = await cp.request('POST', '/apis/monitoring.inference.dev/v1alpha1/namespaces/llm/inferencemonitorings?dryRun=All&fieldValidation=Strict', resource(name, s));
      if (admission.status !== 201) {
        if (admission.status !== 422) throw new Error(`admission answered ${admission.status}: ${admission.text}`);
        refusedAtAdmission++;
        const fields: string[] = (admission.body.details?.causes ?? []).map((c: { field: string }) => c.field);
        if (planned.ok) throw new Error(`the CRD refused what the library accepts: ${admission.body.message}\nspec: ${JSON.stringify(s)}`);
        const paths = planned.errors.map((e) => e.path);
        if (!fields.some((f) => paths.includes(f))) throw new Error(`the CRD refused at ${fields.join(', ')}, the library at ${paths.join(', ')}\nspec: ${JSON.stringify(s)}`);
      } else if (!planned.ok) {
        libraryOnly++;
      }
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
      const objs: Manifest[] = renderPlan(planned.value);
      const keys = objs.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
      expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
      for (const o of objs) {
        const k = kindOf(o.apiVersion, o.kind);
        const res = await cp.request('PATCH', `${resourcePath(k, o.metadata.namespace, o.metadata.name)}?dryRun=All&fieldManager=property&force=true&fieldValidation=Strict`, o, 'application/apply-patch+yaml');
        objects++;
        if (res.status >= 300) throw new Error(`${o.kind} ${o.metadata.namespace}/${o.metadata.name} of ${name} refused (${res.status}): ${res.body?.message ?? res.text}\nspec: ${JSON.stringify(s)}`);
      }
      if (havePrometheus()) {
        const errors = await promtoolErrors(planned.value, dir);
        promtoolChecked++;
        if (errors.length) throw new Error(`${errors.join('\n')}\nspec: ${JSON.stringify(s)}`);
      }
    }), { numRuns: RUNS });
    console.log(`[apiserver property] ${RUNS} specs: ${accepted} accepted (${objects} objects dry-run applied, ${promtoolChecked} configurations with their rules checked by promtool), ${refused} refused with field paths (${refusedAtAdmission} by the CRD too, ${libraryOnly} by the library only), in ${((Date.now() - started) / 1000).toFixed(1)} s; refusals by field: ${JSON.stringify(Object.fromEntries([...reasons].sort()))}`);
    expect(accepted).toBeGreaterThan(RUNS / 5);
    expect(refused).toBeGreaterThan(0);
  }, 600_000);
});
