/**
 * Stacks whose series a shared Prometheus cannot tell apart (src/plan/shared-series.ts): the same `namespace` and
 * `model` from two stacks on one release. The controller's side (status and Event, both stacks, cleared on a rename)
 * is in test/cluster/controller.test.ts.
 */
import { planOrThrow } from '../../src/render';
import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';
import { seriesConflicts, sharedSeriesSignature, stackSeries } from '../../src/plan/shared-series';

const series = (namespace: string, name: string, spec: InferenceMonitoringSpecInput) => ({ ref: `${namespace}/${name}`, series: stackSeries(planOrThrow({ name, namespace, spec })) });
const shared = (extra: Partial<InferenceMonitoringSpecInput> = {}): InferenceMonitoringSpecInput => ({
  models: [{ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' }, { name: 'llama', model: 'x/y', engine: 'lmdeploy' }],
  monitoring: { mode: 'operator' }, ...extra,
});

test('two stacks of one namespace on the same shared Prometheus naming a model alike: each is told, at the field, who else sends those series', () => {
  const a = series('llm', 'team-a', shared());
  const b = series('llm', 'team-b', { models: [{ name: 'mistral', model: 'x/y', engine: 'sglang' }, { name: 'llama', model: 'x/y', engine: 'vllm' }], monitoring: { mode: 'operator' } });
  expect(seriesConflicts(a.series, [b])).toEqual([
    'spec.models[1].name: Invalid value: "llama": InferenceMonitoring llm/team-b also sends series with namespace="llm", model="llama" to the shared Prometheus (release kube-prometheus-stack); each stack\'s rules, alerts and dashboards would count both: rename the model in one of them',
  ]);
  expect(seriesConflicts(b.series, [a])).toEqual([expect.stringMatching(/^spec\.models\[1\]\.name: Invalid value: "llama": InferenceMonitoring llm\/team-a also sends/)]);
});

test('a target naming the same model in the namespace it watches clashes with the stack that runs there', () => {
  const serving = series('serving', 'team-s', shared());
  const watcher = series('ops', 'watcher', { targets: [{ name: 'qwen', engine: 'vllm', selector: { app: 'qwen' }, port: 8000, namespace: 'serving' }], monitoring: { mode: 'operator' } });
  expect(seriesConflicts(watcher.series, [serving])).toEqual([expect.stringMatching(/^spec\.targets\[0\]\.name: Invalid value: "qwen": InferenceMonitoring serving\/team-s also sends series with namespace="serving", model="qwen"/)]);
});

test.each<[string, InferenceMonitoringSpecInput]>([
  ['another namespace', shared()],
  ['another release', shared({ monitoring: { mode: 'operator', release: 'other-prometheus' } })],
  ['a Prometheus of its own (createPrometheus)', shared({ monitoring: { mode: 'operator', createPrometheus: true } })],
  ['a Prometheus of its own (managed)', shared({ monitoring: { mode: 'managed' } })],
])('no clash with a stack on %s', (what, spec) => {
  const mine = series('llm', 'team-a', shared());
  const other = series(what === 'another namespace' ? 'other' : 'llm', 'team-b', spec);
  expect(seriesConflicts(mine.series, [other])).toEqual([]);
  expect(seriesConflicts(other.series, [mine])).toEqual([]);
});

test('the raw signature changes with what a stack sends to a shared Prometheus, and is absent for a Prometheus of its own', () => {
  const res = (spec: unknown) => ({ metadata: { namespace: 'llm' }, spec });
  expect(sharedSeriesSignature(res(shared()))).toBeDefined();
  expect(sharedSeriesSignature(res(shared()))).toBe(sharedSeriesSignature(res({ ...shared(), alerts: { enabled: false } })));
  expect(sharedSeriesSignature(res(shared()))).not.toBe(sharedSeriesSignature(res({ ...shared(), models: [{ name: 'other', model: 'x/y', engine: 'vllm' }] })));
  for (const monitoring of [undefined, { mode: 'managed' }, { mode: 'operator', createPrometheus: true }]) expect(sharedSeriesSignature(res({ ...shared(), monitoring }))).toBeUndefined();
});
