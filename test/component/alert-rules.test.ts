/**
 * `promtool test rules` on the generated rule file: each alert fires on
 * synthetic series that should fire it and stays silent on healthy ones,
 * including the cases where counting a rank twice would fire wrongly.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { configYaml } from '../../src/config-yaml';
import { buildRuleFiles } from '../../src/alerts/rules';
import { planStack } from '../../src/plan/plan';
import { renderManifests } from '../../src/render';
import { SPEC_VARIANTS } from '../harness/spec-variants';
import { parse } from 'yaml';
import { havePrometheus } from '../harness/binaries';
import { promtool } from '../harness/prometheus';
import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';

const NS = 'llm';
const spec = {
  models: [
    { name: 'v', model: 'x/y', engine: 'vllm', gpu: { count: 2 }, parallelism: { data: 2 } },
    { name: 's', model: 'x/y', engine: 'sglang', gpu: { count: 2 }, parallelism: { tensor: 2 } },
    { name: 'l', model: 'x/y', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { data: 2, tensor: 2 } },
    { name: 't', model: 'x/y', engine: 'tgi' },
    // A multi-node model: one group (replica) of 2 pods, each pod's API servers on one /metrics.
    { name: 'g', model: 'x/y', engine: 'vllm', engineVersion: '0.34.0', gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 } },
  ],
  alerts: { ttftP95Seconds: 2, queueLength: 20, kvCacheUsage: 0.95, errorRatio: 0.05 },
  slo: { ttft: { objective: 0.99, thresholdSeconds: 1 } },
};

const lbl = (engine: string, model: string, extra: Record<string, string> = {}) =>
  `{${Object.entries({ namespace: NS, model, inference_engine: engine, ...extra }).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
const alertLabels = (engine: string, model: string, severity: string) => ({ severity, inference_engine: engine, namespace: NS, model });

/** A histogram whose observations all fall in (lower, upper]: buckets below stay 0. */
function histogram(metric: string, labels: string, buckets: number[], slowAbove: number, perMinute: number): Array<{ series: string; values: string }> {
  const base = labels.slice(0, -1);
  const series = buckets.map((b) => ({ series: `${metric}_bucket${base},le="${Number.isInteger(b) ? `${b}.0` : b}"}`, values: b >= slowAbove ? `0+${perMinute}x30` : '0x30' }));
  series.push({ series: `${metric}_bucket${base},le="+Inf"}`, values: `0+${perMinute}x30` });
  series.push({ series: `${metric}_count${labels}`, values: `0+${perMinute}x30` });
  series.push({ series: `${metric}_sum${labels}`, values: `0+${perMinute * slowAbove}x30` });
  return series;
}

const TTFT = [0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const runIf = havePrometheus() ? describe : describe.skip;

/** `promtool test rules` of `tests` over `ruleFiles` (in `dir`); on failure the whole promtool report is in the diff. */
async function promtoolTest(dir: string, ruleFiles: string[], name: string, tests: unknown[]): Promise<void> {
  const file = path.join(dir, `${name}.test.yaml`);
  fs.writeFileSync(file, Yaml.stringify({ rule_files: ruleFiles, evaluation_interval: '1m', tests }));
  const r = await promtool(['test', 'rules', file]);
  expect({ name, code: r.code, out: r.code === 0 ? 'ok' : r.stdout + r.stderr }).toEqual({ name, code: 0, out: 'ok' });
}

/** promtool compares annotations too: a rule's templates rendered with the alert's labels and the expected value text. */
function renderedAnnotations(rule: any, labels: Record<string, string>, valueText: string): Record<string, string> {
  const render = (t: string) => t.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, l) => labels[l] ?? '').replace(/\{\{ \$value( \| \w+)? \}\}/g, valueText);
  return Object.fromEntries(Object.entries<string>(rule.annotations).map(([k, v]) => [k, render(v)]));
}

runIf('alert rules under promtool test rules', () => {
  let dir: string;
  beforeAll(() => {
    const plan = planStack({ name: 'demo', namespace: NS, spec });
    if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-rules-'));
    for (const [name, file] of Object.entries(buildRuleFiles(plan.value))) fs.writeFileSync(path.join(dir, name), configYaml(file));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function annotations(alertname: string, labels: Record<string, string>, valueText: string): Record<string, string> {
    const file = Yaml.load(path.join(dir, 'inference-monitoring.yaml'))[0] as any;
    const rule = file.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === alertname && (!r.labels?.inference_engine || r.labels.inference_engine === labels.inference_engine) && (!r.labels?.window || r.labels.window === labels.window));
    return renderedAnnotations(rule, labels, valueText);
  }
  const expect1 = (alertname: string, labels: Record<string, string>, valueText: string) => [{ exp_labels: labels, exp_annotations: annotations(alertname, labels, valueText) }];

  const runTests = (name: string, tests: unknown[]) => promtoolTest(dir, ['inference-monitoring.yaml'], name, tests);

  test('queue build-up: vLLM ranks are summed (15 + 10 > 20) and fire', () => runTests('queue-vllm', [{
    interval: '1m',
    input_series: [
      { series: `vllm:num_requests_waiting${lbl('vllm', 'v', { engine: '0' })}`, values: '15x20' },
      { series: `vllm:num_requests_waiting${lbl('vllm', 'v', { engine: '1' })}`, values: '10x20' },
    ],
    alert_rule_test: [{ eval_time: '10m', alertname: 'InferenceQueueBuildUp', exp_alerts: expect1('InferenceQueueBuildUp', alertLabels('vllm', 'v', 'warning'), '25') }],
  }]));

  test('queue build-up: SGLang tensor-parallel workers report one queue (15, not 30) and stay silent', () => runTests('queue-sglang', [{
    interval: '1m',
    input_series: [0, 1].map((tp) => ({ series: `sglang:num_queue_reqs${lbl('sglang', 's', { tp_rank: String(tp), pp_rank: '0', engine_type: 'unified' })}`, values: '15x20' })),
    alert_rule_test: [{ eval_time: '10m', alertname: 'InferenceQueueBuildUp', exp_alerts: [] }],
  }]));

  test('KV-cache saturation fires on the busiest LMDeploy rank and not on a healthy one', () => runTests('kv', [{
    interval: '1m',
    input_series: [
      { series: `lmdeploy:gpu_cache_usage_perc${lbl('lmdeploy', 'l', { engine: '0' })}`, values: '0.97x20' },
      { series: `lmdeploy:gpu_cache_usage_perc${lbl('lmdeploy', 'l', { engine: '1' })}`, values: '0.5x20' },
    ],
    alert_rule_test: [
      { eval_time: '5m', alertname: 'InferenceKVCacheSaturated', exp_alerts: [] },
      { eval_time: '15m', alertname: 'InferenceKVCacheSaturated', exp_alerts: expect1('InferenceKVCacheSaturated', alertLabels('lmdeploy', 'l', 'warning'), '97%') },
    ],
  }]));

  test('error ratio: TGI failures at 9% fire, vLLM with no aborts stays silent', () => runTests('errors', [{
    interval: '1m',
    input_series: [
      { series: 'tgi_request_success' + lbl('tgi', 't'), values: '0+100x20' },
      { series: 'tgi_request_failure' + lbl('tgi', 't', { err: 'overloaded' }), values: '0+10x20' },
      { series: 'vllm:request_success_total' + lbl('vllm', 'v', { engine: '0', finished_reason: 'stop' }), values: '0+100x20' },
      { series: 'vllm:request_success_total' + lbl('vllm', 'v', { engine: '0', finished_reason: 'abort' }), values: '0x20' },
    ],
    alert_rule_test: [{ eval_time: '15m', alertname: 'InferenceErrorRateHigh', exp_alerts: expect1('InferenceErrorRateHigh', alertLabels('tgi', 't', 'critical'), '9.091%') }],
  }]));

  test('TTFT p95 above 2s fires for slow vLLM requests and not for fast ones', () => runTests('ttft', [{
    interval: '1m',
    input_series: [
      ...histogram('vllm:time_to_first_token_seconds', lbl('vllm', 'v', { engine: '0' }), TTFT, 5, 10),
      ...histogram('sglang:time_to_first_token_seconds', lbl('sglang', 's'), [0.4, 0.6, 0.8, 1, 2, 4], 0.4, 10),
    ],
    alert_rule_test: [{ eval_time: '20m', alertname: 'InferenceTimeToFirstTokenHigh', exp_alerts: expect1('InferenceTimeToFirstTokenHigh', alertLabels('vllm', 'v', 'warning'), '4.875s') }],
  }]));

  test('TTFT SLO: requests slower than 1s burn the budget on both window pairs and page; fast requests do not', () => runTests('slo', [{
    interval: '1m',
    input_series: [
      ...histogram('vllm:time_to_first_token_seconds', lbl('vllm', 'v', { engine: '0' }), TTFT, 2.5, 10).map((x) => ({ ...x, values: x.values.replace('x30', 'x90') })),
      ...histogram('vllm:time_to_first_token_seconds', lbl('vllm', 'fast', { engine: '0' }), TTFT, 0.5, 10).map((x) => ({ ...x, values: x.values.replace('x30', 'x90') })),
    ],
    alert_rule_test: [{ eval_time: '80m', alertname: 'InferenceSLOTtftBudgetBurn', exp_alerts: [
      ...expect1('InferenceSLOTtftBudgetBurn', { ...alertLabels('vllm', 'v', 'critical'), window: '1h' }, '100%'),
      ...expect1('InferenceSLOTtftBudgetBurn', { ...alertLabels('vllm', 'v', 'critical'), window: '6h' }, '100%'),
    ] }],
  }]));

  test('GPU XID error (with the model whose pod holds the GPU, and without for a GPU no model holds) and target down fire; a GPU without XID does not', () => runTests('gpu', [{
    interval: '1m',
    input_series: [
      { series: 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-node-0",gpu="0",namespace="llm",pod="demo-v-0"}', values: '79x10' },
      { series: 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-node-0",gpu="1"}', values: '0x10' },
      { series: 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-node-0",gpu="2",namespace="batch",pod="trainer-0"}', values: '48x10' },
      { series: 'up{job="demo-v",instance="10.0.0.5:8000",namespace="llm",pod="demo-v-0",model="v"}', values: '0x10' },
    ],
    alert_rule_test: [
      { eval_time: '5m', alertname: 'GpuXidError', exp_alerts: [
        ...expect1('GpuXidError', { severity: 'critical', Hostname: 'gpu-node-0', gpu: '0', namespace: 'llm', pod: 'demo-v-0', model: 'v' }, '79'),
        ...expect1('GpuXidError', { severity: 'critical', Hostname: 'gpu-node-0', gpu: '2', namespace: 'batch', pod: 'trainer-0' }, '48'),
      ] },
      { eval_time: '6m', alertname: 'InferenceTargetDown', exp_alerts: expect1('InferenceTargetDown', { severity: 'critical', job: 'demo-v', instance: '10.0.0.5:8000', namespace: 'llm', pod: 'demo-v-0', model: 'v' }, '0') },
    ],
  }]));
});

describe('multi-node group alerts under promtool test rules', () => {
  let dir: string;
  beforeAll(() => {
    const plan = planStack({ name: 'demo', namespace: NS, spec });
    if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-group-rules-'));
    for (const [name, file] of Object.entries(buildRuleFiles(plan.value))) fs.writeFileSync(path.join(dir, name), configYaml(file));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const group = (extra: Record<string, string>) => `{${Object.entries({ job: 'demo-g', namespace: NS, model: 'g', inference_engine: 'vllm', ...extra }).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
  const labels = (extra: Record<string, string>, severity = 'critical') => ({ severity, namespace: NS, model: 'g', inference_engine: 'vllm', ...extra });
  const rule = (alert: string) => (Yaml.load(path.join(dir, 'inference-monitoring.yaml'))[0] as any).groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === alert);
  const exp = (alert: string, l: Record<string, string>, value: string) => [{ exp_labels: l, exp_annotations: renderedAnnotations(rule(alert), l, value) }];
  const run = (name: string, tests: unknown[]) => promtoolTest(dir, ['inference-monitoring.yaml'], name, tests);

  test('the rules expect 2 targets per group (one /metrics per pod in vLLM hybrid)', () => {
    expect(rule('InferenceModelRankTargetsMissing').expr).toContain('< 2');
    expect(rule('InferenceModelGroupDegraded').expr).toContain('< 2');
  });

  test('a worker never scraped: rank targets missing and the model degraded fire; a full group does not', () => run('missing', [{
    interval: '1m',
    input_series: [
      { series: `up${group({ group: '0', worker: '0', instance: '10.0.0.1:8000' })}`, values: '1x15' },
      { series: `up${group({ group: '0', worker: '1', instance: '10.0.0.2:8000' })}`, values: '0x15' },
    ],
    alert_rule_test: [
      { eval_time: '7m', alertname: 'InferenceModelRankTargetsMissing', exp_alerts: exp('InferenceModelRankTargetsMissing', labels({ group: '0' }), '1') },
      { eval_time: '12m', alertname: 'InferenceModelGroupDegraded', exp_alerts: exp('InferenceModelGroupDegraded', labels({}), '1') },
    ],
  }, {
    interval: '1m',
    input_series: [
      { series: `up${group({ group: '0', worker: '0', instance: '10.0.0.1:8000' })}`, values: '1x15' },
      { series: `up${group({ group: '0', worker: '1', instance: '10.0.0.2:8000' })}`, values: '1x15' },
    ],
    alert_rule_test: [
      { eval_time: '12m', alertname: 'InferenceModelRankTargetsMissing', exp_alerts: [] },
      { eval_time: '12m', alertname: 'InferenceModelGroupDegraded', exp_alerts: [] },
    ],
  }, {
    // A whole group gone (being recreated): no target at all is still fewer than planned.
    interval: '1m',
    input_series: [{ series: `up${group({ group: '0', worker: '0', instance: '10.0.0.1:8000' })}`, values: '_x15' }],
    alert_rule_test: [{ eval_time: '12m', alertname: 'InferenceModelGroupDegraded', exp_alerts: exp('InferenceModelGroupDegraded', labels({}), '0') }],
  }]));

  test('requests running and no token generated: the group is stalled; a group generating tokens is not', () => run('stalled', [{
    interval: '1m',
    input_series: [
      { series: `vllm:num_requests_running${group({ group: '0', worker: '0', engine: '0' })}`, values: '3x15' },
      { series: `vllm:num_requests_running${group({ group: '0', worker: '1', engine: '2' })}`, values: '2x15' },
      { series: `vllm:generation_tokens_total${group({ group: '0', worker: '0', engine: '0' })}`, values: '500x15' },
      { series: `vllm:generation_tokens_total${group({ group: '0', worker: '1', engine: '2' })}`, values: '700x15' },
      { series: `vllm:num_requests_running${group({ group: '1', worker: '0', engine: '0' })}`, values: '3x15' },
      { series: `vllm:generation_tokens_total${group({ group: '1', worker: '0', engine: '0' })}`, values: '0+600x15' },
    ],
    alert_rule_test: [{ eval_time: '12m', alertname: 'InferenceModelGroupStalled', exp_alerts: exp('InferenceModelGroupStalled', labels({ group: '0' }), '0') }],
  }]));

  test('a leader at 4 addresses within an hour is a restart storm; at 1 it is not', () => run('storm', [{
    interval: '1m',
    input_series: [
      ...['10.0.0.1', '10.0.0.7', '10.0.0.9', '10.0.0.12'].map((ip, i) => ({
        series: `up${group({ group: '0', worker: '0', instance: `${ip}:8000` })}`, values: `${'_ '.repeat(i * 5)}1x4`,
      })),
      { series: `up${group({ group: '1', worker: '0', instance: '10.0.1.1:8000' })}`, values: '1x25' },
    ],
    alert_rule_test: [{ eval_time: '22m', alertname: 'InferenceModelGroupRestartStorm', exp_alerts: exp('InferenceModelGroupRestartStorm', labels({ group: '0' }, 'warning'), '4') }],
  }]));
});

describe('recorded series the dashboards read', () => {
  const RECORDED_NAME = /\bnamespace_model[a-z_]*:[a-z0-9_]+:rate\w+\b/g;
  const variants: Array<[string, InferenceMonitoringSpecInput]> = [
    ['every engine', SPEC_VARIANTS['every engine']],
    ['alerts disabled', { ...SPEC_VARIANTS['every engine'], alerts: { enabled: false } }],
    ['operator mode', { ...SPEC_VARIANTS['every engine'], monitoring: { mode: 'operator' } }],
  ];
  test.each(variants)('every one is written by a rule of the same stack (%s)', (_name, variant) => {
    const objs = renderManifests({ name: 'demo', namespace: NS, spec: variant });
    const recorded = new Set<string>();
    const addGroups = (groups: any[]) => { for (const g of groups ?? []) for (const r of g.rules) if (r.record) recorded.add(r.record); };
    const read = new Set<string>();
    for (const o of objs) {
      if (o.kind === 'PrometheusRule') addGroups(o.spec.groups);
      if (o.kind !== 'ConfigMap') continue;
      for (const [key, text] of Object.entries<string>(o.data ?? {})) {
        if (key.endsWith('.json')) for (const name of text.match(RECORDED_NAME) ?? []) read.add(name);
        else if (o.metadata.name.endsWith('-rules')) addGroups(parse(text).groups);
      }
    }
    expect(read.size).toBeGreaterThan(10);
    expect([...read].filter((name) => !recorded.has(name))).toEqual([]);
  });
});

// Operator mode on kube-prometheus-stack: one Prometheus loads every team's PrometheusRule. Each stack's engine rules
// must see only its own models, or one team's thresholds page for another team's models (and two stacks record the
// same series).
runIf('two stacks\' rules in one Prometheus (a shared kube-prometheus-stack)', () => {
  let dir: string;
  const stack = (namespace: string, queueLength: number) => ({
    namespace,
    spec: {
      models: [{ name: 'chat', model: 'x/y', engine: 'vllm' }],
      monitoring: { mode: 'operator' },
      alerts: { queueLength },
      slo: { ttft: { objective: 0.99, thresholdSeconds: 1 } },
    },
  });
  const stacks = { a: stack('team-a', 5), b: stack('team-b', 20) };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-shared-rules-'));
    for (const [key, s] of Object.entries(stacks)) {
      const plan = planStack({ name: 'demo', namespace: s.namespace, spec: s.spec });
      if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
      fs.writeFileSync(path.join(dir, `${key}.yaml`), configYaml(buildRuleFiles(plan.value)['inference-monitoring.yaml']));
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const series = (namespace: string, extra: Record<string, string> = {}) =>
    `{${Object.entries({ namespace, model: 'chat', inference_engine: 'vllm', job: 'demo-chat', ...extra }).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
  const run = (name: string, tests: unknown[]) => promtoolTest(dir, ['a.yaml', 'b.yaml'], name, tests);
  const rule = (key: string, alert: string) => (Yaml.load(path.join(dir, `${key}.yaml`))[0] as any).groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === alert);
  const exp = (key: string, alert: string, l: Record<string, string>, value: string) => ({ exp_labels: l, exp_annotations: renderedAnnotations(rule(key, alert), l, value) });

  test('each team\'s queue threshold applies to its own model only: 8 waiting pages team-a (threshold 5), 10 waiting does not page team-b (threshold 20)', () => run('queue', [{
    interval: '1m',
    input_series: [
      { series: `vllm:num_requests_waiting${series('team-a')}`, values: '8x20' },
      { series: `vllm:num_requests_waiting${series('team-b')}`, values: '10x20' },
      { series: `up${series('team-a')}`, values: '1x20' },
      { series: `up${series('team-b')}`, values: '1x20' },
    ],
    alert_rule_test: [{ eval_time: '10m', alertname: 'InferenceQueueBuildUp', exp_alerts: [exp('a', 'InferenceQueueBuildUp', { severity: 'warning', inference_engine: 'vllm', namespace: 'team-a', model: 'chat' }, '8')] }],
  }]));

  test('each stack records its own models\' series: one rule writes each recorded series', () => {
    for (const key of ['a', 'b'] as const) {
      const recording = (Yaml.load(path.join(dir, `${key}.yaml`))[0] as any).groups.flatMap((g: any) => g.rules).filter((r: any) => r.record);
      expect(recording.length).toBeGreaterThan(5);
      for (const r of recording) expect({ record: r.record, scoped: r.expr.includes(`namespace="${stacks[key].namespace}"`) && r.expr.includes('model="chat"') }).toEqual({ record: r.record, scoped: true });
    }
  });
});
