/**
 * Golden files of the generated configuration, per spec variant: `prometheus.yml`, the rule file and the vLLM
 * serving dashboard, as the stack writes them (test/golden/<variant>/). A change to what the stack generates
 * shows in review as a diff of these files.
 *
 * Regenerate after an intended change with `UPDATE_GOLDEN=1 npx jest test/unit/golden.test.ts`; otherwise the test
 * compares and fails on any difference (a missing file too).
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildRuleFiles } from '../../src/alerts/rules';
import { configYaml } from '../../src/config-yaml';
import { stackDashboardFiles } from '../../src/dashboards';
import { buildPrometheusConfig } from '../../src/prometheus/prometheus-config';
import { planOrThrow } from '../../src/render';

const GOLDEN = path.join(__dirname, '..', 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const models = [
  { name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 } },
  { name: 'llama', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm', hfTokenSecretRef: { name: 'hf-token', key: 'token' } },
];

/** Each scenario: a spec, and the golden directory it is compared with. */
const SCENARIOS: ReadonlyArray<{ scenario: string; golden: string; spec: Record<string, unknown> }> = [
  { scenario: 'managed mode, defaults', golden: 'managed', spec: { models } },
  {
    scenario: 'operator mode with a Prometheus of its own, remote write, a TTFT SLO',
    golden: 'operator',
    spec: {
      models,
      monitoring: { mode: 'operator', createPrometheus: true, remoteWrite: [{ url: 'https://mimir.example.com/api/v1/push', bearerTokenSecretRef: { name: 'mimir-token' } }] },
      slo: { ttft: { thresholdSeconds: 0.5, objective: 0.99 } },
    },
  },
  {
    scenario: 'default-deny NetworkPolicies, tracing to an external collector, GPU Operator exporter, an existing Alertmanager, a target',
    golden: 'default-deny-tracing',
    spec: {
      models,
      networkPolicy: { enabled: true, defaultDeny: true },
      tracing: { enabled: true, endpoint: 'http://otel-collector.observability.svc:4317', samplingRatio: 0.1 },
      gpuMetrics: { deployExporter: false, exporterNamespace: 'gpu-operator' },
      alerting: { endpoints: [{ url: 'https://alertmanager.example.com/am', caSecretRef: { name: 'am-ca' } }] },
      targets: [{ name: 'legacy', engine: 'vllm', selector: { app: 'legacy-vllm' }, port: 8000, namespace: 'serving' }],
    },
  },
];

/** The generated files of one spec: what the stack's ConfigMaps (or PrometheusRule, dashboards) carry. */
function generated(spec: Record<string, unknown>): Record<string, string> {
  const plan = planOrThrow({ name: 'demo', namespace: 'llm', spec: spec as any });
  const rules = buildRuleFiles(plan);
  const dashboard = stackDashboardFiles(plan).find((d) => d.name === 'serving-vllm')?.dashboard;
  if (!dashboard) throw new Error('no vLLM serving dashboard');
  return {
    'prometheus.yml': configYaml(buildPrometheusConfig(plan)),
    'rules.yaml': configYaml(rules['inference-monitoring.yaml'] ?? {}),
    'dashboard-serving-vllm.json': `${JSON.stringify(dashboard, null, 2)}\n`,
  };
}

describe.each(SCENARIOS)('$scenario', ({ golden, spec }) => {
  const files = generated(spec);
  test.each(Object.keys(files))(`test/golden/${golden}/%s`, (file) => {
    const at = path.join(GOLDEN, golden, file);
    if (UPDATE) {
      fs.mkdirSync(path.dirname(at), { recursive: true });
      fs.writeFileSync(at, files[file]);
      return;
    }
    if (!fs.existsSync(at)) throw new Error(`${path.relative(process.cwd(), at)} is missing: run UPDATE_GOLDEN=1 npx jest test/unit/golden.test.ts`);
    // Compared as text, so a failure shows the lines that changed.
    expect(files[file]).toBe(fs.readFileSync(at, 'utf8'));
  });
});
