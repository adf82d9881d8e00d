/**
 * Property-based tests (fast-check) over the spec: random valid specs always
 * synthesize into schema-valid objects with DNS-safe names and parseable
 * PromQL; random invalid specs always produce field-path errors, never an
 * exception, from the library and the CLI.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import fc from 'fast-check';
import { parser } from '@prometheus-io/lezer-promql';
import { buildRuleFiles } from '../../src/alerts/rules';
import { stackDashboards } from '../../src/dashboards';
import { dashboardQueries, substituteVariables } from '../../src/check/check-dashboards';
import { PROFILES } from '../../src/engines/registry';
import { planStack } from '../../src/plan/plan';
import { renderPlan } from '../../src/render';
import { validateSpec } from '../../src/api/validate';
import { manifestSchemaErrors } from '../harness/manifest-schemas';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENGINES = ['vllm', 'lmdeploy', 'sglang', 'tgi', 'transformers'] as const;

const dnsName = (max: number) => fc.stringMatching(new RegExp(`^[a-z][a-z0-9-]{0,${max - 2}}[a-z0-9]$`));
const modelId = fc.constantFrom('meta-llama/Llama-3.1-405B-Instruct-FP8', 'Qwen/Qwen2.5-7B-Instruct', 'mistralai/Mixtral-8x22B-Instruct-v0.1', 'deepseek-ai/DeepSeek-V3', 'x/y');

const model = fc.record({
  name: dnsName(40),
  model: modelId,
  engine: fc.constantFrom(...ENGINES),
  tensor: fc.integer({ min: 1, max: 4 }),
  data: fc.integer({ min: 1, max: 4 }),
  extraGpus: fc.integer({ min: 0, max: 2 }),
  replicas: fc.integer({ min: 0, max: 4 }),
  cache: fc.constantFrom('emptyDir', 'pvc'),
}).map((m) => ({ ...m, data: PROFILES[m.engine].noDataParallel ? 1 : m.data })).map((m) => ({ ...m, tensor: PROFILES[m.engine].gpuLayout === 'max' && m.data > 1 ? Math.max(m.tensor, 2) : m.tensor })).map((m) => ({
  name: m.name, model: m.model, engine: m.engine, replicas: m.replicas,
  gpu: { count: m.tensor * m.data + m.extraGpus },
  parallelism: { tensor: m.tensor, data: m.data },
  ...(m.cache === 'pvc' ? { modelCache: { type: 'persistentVolumeClaim', size: '200Gi' } } : {}),
}));

const validSpec = fc.record({
  models: fc.uniqueArray(model, { minLength: 1, maxLength: 4, selector: (m) => m.name }),
  mode: fc.constantFrom('managed', 'operator'),
  tempo: fc.boolean(),
  gpuMetrics: fc.boolean(),
  alerts: fc.boolean(),
}).map((s) => ({
  models: s.models,
  monitoring: { mode: s.mode },
  tempo: { enabled: s.tempo },
  tracing: { enabled: s.tempo },
  gpuMetrics: { enabled: s.gpuMetrics },
  alerts: { enabled: s.alerts },
}));

function promqlErrors(expr: string): number {
  let n = 0;
  parser.parse(expr).iterate({ enter: (node) => { if (node.type.isError) n++; } });
  return n;
}

describe('random valid specs', () => {
  test('always synthesize into schema-valid objects with DNS-1123 names of at most 63 characters and parseable PromQL', () => {
    fc.assert(fc.property(validSpec, dnsName(63), (spec, name) => {
      const planned = planStack({ name, namespace: 'llm', spec });
      if (!planned.ok) throw new Error(`valid spec rejected: ${JSON.stringify(planned.errors)}`);
      const objs = renderPlan(planned.value);
      for (const o of objs) {
        expect(o.metadata.name.length).toBeLessThanOrEqual(63);
        expect(o.metadata.name).toMatch(DNS_LABEL);
        expect(manifestSchemaErrors(o)).toEqual([]);
      }
      for (const file of Object.values(buildRuleFiles(planned.value))) {
        for (const g of file.groups) for (const r of g.rules) expect(promqlErrors(r.expr)).toBe(0);
      }
      for (const d of stackDashboards(planned.value)) {
        for (const q of dashboardQueries(d).queries) expect(promqlErrors(substituteVariables(q.expr, { namespace: 'llm', model: 'm', rank: '.*', node: '.*', __rate_interval: '5m' }))).toBe(0);
      }
    }), { numRuns: 40 });
  });
});

/** Breaks one field of a valid spec in a random way. */
const corruption = fc.oneof(
  fc.record({ field: fc.constantFrom('engine', 'name', 'replicas', 'port'), value: fc.oneof(fc.constant(-5), fc.constant('Not A Name!'), fc.constant(null), fc.constant(1e9), fc.constant([]), fc.constant({ nested: true })) })
    .map((c) => (s: any) => { s.models[0][c.field] = c.value; }),
  fc.constantFrom(
    (s: any) => { s.monitoring.retention = '15 days'; },
    (s: any) => { s.models[0].gpu.count = 0; s.models[0].engine = 'vllm'; },
    (s: any) => { s.models.push({ ...s.models[0] }); },
    (s: any) => { s.models[0].parallelism.tensor = 64; },
    (s: any) => { s.monitoring.remoteWrite = [{ url: 'not a url' }]; },
    (s: any) => { s.tracing = { enabled: true }; s.tempo = { enabled: false }; },
    (s: any) => { s.unknownField = 1; },
    (s: any) => { delete s.models; },
  ),
  // Issue #26: admitted before, then a reconcile threw (`Invalid URL`) or Prometheus, the apiserver's object
  // checks, the kubelet or Grafana refused what we rendered.
  fc.record({
    url: fc.constantFrom('https://[am', 'https://%zz/x', 'https://svc.example:99999/x', 'https://svc.example:0/x', 'https://svc.example/x?password=a', 'https://u:p@svc.example/x', 'https://svc.example/x\u00a0', 'https://svc.example/x\u2028', 'https://svc<x/'),
    where: fc.constantFrom('remoteWrite', 'alerting', 'tracing', 'prometheusUrl', 'runbook'),
  }).map(({ url, where }) => (s: any) => {
    if (where === 'remoteWrite') s.monitoring = { ...s.monitoring, mode: 'managed', remoteWrite: [{ url }] };
    if (where === 'alerting') { s.monitoring = { ...s.monitoring, mode: 'managed' }; s.alerting = { endpoints: [{ url }] }; }
    if (where === 'tracing') s.tracing = { enabled: true, endpoint: url };
    if (where === 'prometheusUrl') s.monitoring = { ...s.monitoring, mode: 'operator', prometheusUrl: url };
    if (where === 'runbook') s.alerting = { runbookBaseUrl: url };
  }),
  fc.constantFrom(
    (s: any) => { s.targets = [{ name: 'legacy', engine: 'vllm', selector: { 'bad key': 'x' }, port: 8000 }]; },
    (s: any) => { s.gpuMetrics = { deployExporter: false, exporterSelector: { 'a/b/c': 'x' } }; },
    (s: any) => { s.networkPolicy = { sharedPrometheus: { podSelector: { ['k'.repeat(64)]: 'x' } } }; },
    (s: any) => { s.networkPolicy = { autoscaler: { podSelector: { 'app.': 'x' } } }; },
    (s: any) => { s.models[0].gpu.resourceName = 'hugepages-2Mi'; },
    (s: any) => { s.models[0].gpu.resourceName = 'gpu'; },
    (s: any) => { s.models[0].gpu.resourceName = 'cpu'; },
    (s: any) => { s.models[0].gpu.resourceName = 'memory'; },
    (s: any) => { s.monitoring.retention = '99999999999999999999y'; },
    (s: any) => { s.monitoring.interval = '0s'; },
    (s: any) => { s.tempo = { ...s.tempo, retention: '999y' }; },
    (s: any) => { s.models[0].engineVersion = '1.0.0+cu128'; delete s.models[0].image; },
    (s: any) => { s.models[0].image = 'vllm/vllm openai:v1'; },
    (s: any) => { s.models[0].image = 'vllm/vllm-openai:v1\n'; },
    (s: any) => { s.models[0].hfTokenSecretRef = { name: 'hf', key: '..' }; },
    (s: any) => { s.models[0].modelCache = { mountPath: '/' }; },
    (s: any) => { s.models[0].modelCache = { mountPath: '/proc/x' }; },
    (s: any) => { s.benchmarks = { enabled: true, host: 'pg.example:99999', secretRef: { name: 'pg' } }; },
    (s: any) => { s.benchmarks = { enabled: true, host: '$BENCHMARKS_DB_PASSWORD', secretRef: { name: 'pg' } }; },
  ),
);

describe('random invalid specs', () => {
  test('always produce errors with a field path and a reason, never an exception', () => {
    fc.assert(fc.property(validSpec, corruption, dnsName(30), (spec, corrupt, name) => {
      const broken = JSON.parse(JSON.stringify(spec));
      corrupt(broken);
      const lib = validateSpec(broken);
      const planned = planStack({ name, namespace: 'llm', spec: broken });
      expect(lib.ok && planned.ok).toBe(false);
      const errors = !planned.ok ? planned.errors : [];
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) {
        expect(e.path).toMatch(/^(spec|metadata)/);
        expect(e.message.length).toBeGreaterThan(0);
      }
    }), { numRuns: 200 });
  });

  test('the CLI reports them with paths and exit code 1, without a stack trace', () => {
    const bin = path.resolve(__dirname, '..', '..', 'bin', 'inference-monitoring.js');
    fc.assert(fc.property(validSpec, corruption, (spec, corrupt) => {
      const broken = JSON.parse(JSON.stringify(spec));
      corrupt(broken);
      const doc = JSON.stringify({ apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'x', namespace: 'llm' }, spec: broken });
      const r = spawnSync(process.execPath, [bin, 'render', '-f', '-'], { input: doc, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^error: invalid input:\n {2}- (spec|metadata)/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
    }), { numRuns: 6 });
  });
});
