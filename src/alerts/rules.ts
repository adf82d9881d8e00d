/**
 * Alerting and recording rules, from the engines' signals and the spec's
 * thresholds and SLOs. The same groups become a rule file (managed mode) or a
 * PrometheusRule (operator mode). Every alert keeps its signal (the
 * expression without the threshold) so `check-dashboards` can prove the
 * signal has data.
 */
import { ENGINE_NAMES } from '../engines/engine-ids';
import { DCGM } from '../engines/dcgm';
import { EngineName, EngineProfile, SignalName } from '../engines/profile';
import { PROFILES } from '../engines/registry';
import { InferenceMonitoringSpec } from '../api/schema';
import { StackPlan } from '../plan/plan';
import { AlertingRule, RecordingRule, RuleFile, RuleGroup } from '../prometheus/config-types';
import { DCGM_JOB } from '../prometheus/prometheus-config';
import { BinaryOp, Expr, LabelMatcher, agg, bin, call, m, num, orAll, print, rate, sel } from '../promql/ast';
import { QueryScope, counterRate, errorRatio, gaugeMax, gaugeTotal, quantile, signalAlternatives } from '../promql/signals';
import { RECORDED_HISTOGRAMS, histogramRecordings } from '../promql/recorded';
import { SERIES_ENGINE_LABEL, SERIES_GROUP_LABEL, SERIES_MODEL_LABEL, SERIES_WORKER_LABEL } from '../monitoring-labels';
import { ModelPlan } from '../plan/types';

const BY = ['namespace', SERIES_MODEL_LABEL];

/** An alert defined as a signal compared with a threshold. */
export interface AlertDefinition {
  readonly alert: string;
  readonly signal: Expr;
  readonly op: BinaryOp;
  readonly threshold: number;
  readonly for: string;
  readonly severity: 'critical' | 'warning';
  readonly summary: string;
  readonly description: string;
  /** Extra labels; engine alerts carry `inference_engine` so each engine's rule is distinct. */
  readonly labels?: Record<string, string>;
}

export interface RuleGroupWithSignals {
  readonly engine?: EngineName;
  readonly group: RuleGroup;
  /** Rule name → the expression whose data `check-dashboards` verifies. */
  readonly signals: ReadonlyMap<string, string>;
}

/** An alert definition as a Prometheus alerting rule (`signal op threshold`). */
export function toRule(a: AlertDefinition): AlertingRule {
  return {
    alert: a.alert,
    expr: print(bin(a.op, a.signal, num(a.threshold))),
    for: a.for,
    labels: { severity: a.severity, ...a.labels },
    annotations: { summary: a.summary, description: a.description },
  };
}

/**
 * One label's matcher for a set of values: `=` for one, `=~` for several. The values are Kubernetes names (DNS
 * labels: letters, digits, `-`), which a regular expression takes literally.
 */
function oneOf(label: string, values: readonly string[]): LabelMatcher {
  const v = [...new Set(values)].sort();
  return v.length === 1 ? m(label, '=', v[0]) : m(label, '=~', v.join('|'));
}

/**
 * Matchers that keep a stack's engine rules to its own series: the namespaces and `model` labels of its models and
 * targets of that engine. Every series the rules read carries both (target labels, and the recorded series keep them),
 * so in a Prometheus shared by several stacks (operator mode on kube-prometheus-stack, one PrometheusRule per stack)
 * each stack's thresholds, SLOs and recordings apply to its own models only, and no two stacks record the same series.
 */
export function stackMatchers(plan: StackPlan, engine: EngineName): LabelMatcher[] {
  const models = plan.models.filter((x) => x.profile.engine === engine).map((x) => ({ namespace: plan.namespace, name: x.spec.name }));
  const targets = plan.targets.filter((t) => t.profile.engine === engine).map((t) => ({ namespace: t.namespace, name: t.spec.name }));
  const all = [...models, ...targets];
  return all.length ? [oneOf('namespace', all.map((x) => x.namespace)), oneOf(SERIES_MODEL_LABEL, all.map((x) => x.name))] : [];
}

function engineScope(engine: EngineName, window = '5m', stack: readonly LabelMatcher[] = []): QueryScope {
  return { matchers: [m(SERIES_ENGINE_LABEL, '=', engine), ...stack], window };
}

/** Threshold alerts of one engine: TTFT, queue, KV cache, preemptions, errors. */
export function engineAlerts(profile: EngineProfile, versions: readonly string[], thresholds: InferenceMonitoringSpec['alerts'], stack: readonly LabelMatcher[] = []): AlertDefinition[] {
  const scope = engineScope(profile.engine, '5m', stack);
  const alts = (s: SignalName) => signalAlternatives(profile, s, versions);
  const name = profile.displayName;
  const out: AlertDefinition[] = [];
  if (alts('ttft').length) {
    out.push({ alert: 'InferenceTimeToFirstTokenHigh', signal: quantile(alts('ttft'), 0.95, scope, BY), op: '>', threshold: thresholds.ttftP95Seconds, for: '10m', severity: 'warning',
      summary: `p95 time to first token above ${thresholds.ttftP95Seconds}s`, description: `${name} model {{ $labels.model }} in {{ $labels.namespace }}: p95 TTFT is {{ $value | humanizeDuration }}.` });
  }
  if (alts('requestsWaiting').length) {
    out.push({ alert: 'InferenceQueueBuildUp', signal: gaugeTotal(profile, alts('requestsWaiting'), scope, BY), op: '>', threshold: thresholds.queueLength, for: '5m', severity: 'warning',
      summary: 'Requests are queueing', description: `${name} model {{ $labels.model }} in {{ $labels.namespace }} has {{ $value }} waiting requests (all pods and ranks): add replicas or capacity.` });
  }
  if (alts('kvCacheUsage').length) {
    out.push({ alert: 'InferenceKVCacheSaturated', signal: gaugeMax(alts('kvCacheUsage'), scope, BY), op: '>', threshold: thresholds.kvCacheUsage, for: '10m', severity: 'warning',
      summary: 'KV cache nearly full', description: `${name} model {{ $labels.model }} in {{ $labels.namespace }}: KV-cache usage {{ $value | humanizePercentage }} on its busiest rank; expect preemptions and queueing.` });
  }
  if (alts('preemptions').length) {
    out.push({ alert: 'InferencePreemptions', signal: counterRate(alts('preemptions'), scope, BY, [], profile.duplicateLabels), op: '>', threshold: 0, for: '10m', severity: 'warning',
      summary: 'Requests are being preempted', description: `${name} model {{ $labels.model }} in {{ $labels.namespace }} preempts {{ $value }} requests/s for lack of KV-cache blocks.` });
  }
  const errors = errorRatio(profile, versions, scope, BY);
  if (errors) {
    out.push({ alert: 'InferenceErrorRateHigh', signal: errors, op: '>', threshold: thresholds.errorRatio, for: '5m', severity: 'critical',
      summary: `More than ${thresholds.errorRatio * 100}% of requests fail`, description: `${name} model {{ $labels.model }} in {{ $labels.namespace }}: {{ $value | humanizePercentage }} of requests end in an error.` });
  }
  return out;
}

/**
 * Recording rules: the histogram rates the dashboards read (see
 * `promql/recorded.ts`), then the quantiles SLO reports use most.
 */
export function engineRecordingRules(profile: EngineProfile, versions: readonly string[], stack: readonly LabelMatcher[] = []): RecordingRule[] {
  const scope = engineScope(profile.engine, '5m', stack);
  const out: RecordingRule[] = [];
  for (const signal of RECORDED_HISTOGRAMS) {
    for (const r of histogramRecordings(profile, signal, signalAlternatives(profile, signal, versions), scope)) {
      out.push({ record: r.record, expr: print(r.expr), labels: { [SERIES_ENGINE_LABEL]: profile.engine } });
    }
  }
  const recorded: Array<[SignalName, string]> = [['ttft', 'ttft_seconds'], ['interTokenLatency', 'inter_token_latency_seconds'], ['e2eLatency', 'e2e_latency_seconds']];
  for (const [signal, name] of recorded) {
    const alts = signalAlternatives(profile, signal, versions);
    if (!alts.length) continue;
    for (const q of [0.5, 0.95, 0.99]) {
      out.push({ record: `namespace_model:inference_${name}:p${Math.round(q * 100)}_rate5m`, expr: print(quantile(alts, q, scope, BY)), labels: { [SERIES_ENGINE_LABEL]: profile.engine } });
    }
  }
  return out;
}

/**
 * SLO burn-rate alerts (SRE workbook, multi-window multi-burn-rate): page
 * when the 1h and 5m bad-request ratios both burn budget 14.4× faster than
 * allowed, or the 6h and 30m ratios 6× faster. A latency SLO counts a
 * request good when faster than `thresholdSeconds`, which must be a bucket
 * boundary of the engine's histogram.
 */
export function sloRules(profile: EngineProfile, versions: readonly string[], slo: NonNullable<InferenceMonitoringSpec['slo']>, stack: readonly LabelMatcher[] = []): Array<AlertingRule | RecordingRule> {
  const out: Array<AlertingRule | RecordingRule> = [];
  const windows = ['5m', '30m', '1h', '6h'];
  const latency = (signal: SignalName, key: 'ttft' | 'interTokenLatency', title: string) => {
    const objective = slo[key];
    const alts = signalAlternatives(profile, signal, versions);
    if (!objective || objective.thresholdSeconds === undefined || !alts.length) return;
    for (const w of windows) {
      const scope = engineScope(profile.engine, w, stack);
      const bad = orAll(alts.map((a) => {
        const threshold = a.unit === 'milliseconds' ? objective.thresholdSeconds! * 1000 : objective.thresholdSeconds!;
        const good = agg('sum', rate(sel(`${a.metric}_bucket`, [...scope.matchers, m('le', '=~', leRegex(threshold))], w)), BY);
        const total = agg('sum', rate(sel(`${a.metric}_count`, scope.matchers, w)), BY);
        return bin('-', num(1), bin('/', good, total));
      }));
      out.push({ record: `namespace_model:slo_${key}_bad_ratio:rate${w}`, expr: print(bad), labels: { [SERIES_ENGINE_LABEL]: profile.engine } });
    }
    out.push(...burnAlerts(`${key}`, title, objective.objective, profile.engine, stack));
  };
  latency('ttft', 'ttft', 'time to first token');
  latency('interTokenLatency', 'interTokenLatency', 'inter-token latency');
  if (slo.availability) {
    let any = false;
    for (const w of windows) {
      const ratio = errorRatio(profile, versions, engineScope(profile.engine, w, stack), BY);
      if (!ratio) break;
      any = true;
      out.push({ record: `namespace_model:slo_availability_bad_ratio:rate${w}`, expr: print(ratio), labels: { [SERIES_ENGINE_LABEL]: profile.engine } });
    }
    if (any) out.push(...burnAlerts('availability', 'availability', slo.availability.objective, profile.engine, stack));
  }
  return out;
}

/** `le` label values as Go (`1`) and Python (`1.0`) clients print them. */
function leRegex(v: number): string {
  const s = String(v);
  const variants = new Set([s, Number.isInteger(v) ? `${s}.0` : s]);
  return [...variants].map((x) => x.replace(/\./g, '\\.')).join('|');
}

function burnAlerts(key: string, title: string, objective: number, engine: string, stack: readonly LabelMatcher[]): AlertingRule[] {
  const budget = 1 - objective;
  const rec = (w: string) => sel(`namespace_model:slo_${key}_bad_ratio:rate${w}`, [m(SERIES_ENGINE_LABEL, '=', engine), ...stack]);
  const pair = (long: string, short: string, factor: number) => bin('and', bin('>', rec(long), num(factor * budget)), bin('>', rec(short), num(factor * budget)));
  const name = `InferenceSLO${key.charAt(0).toUpperCase()}${key.slice(1)}BudgetBurn`;
  return [
    { alert: name, expr: print(pair('1h', '5m', 14.4)), for: '2m', labels: { severity: 'critical', window: '1h', [SERIES_ENGINE_LABEL]: engine },
      annotations: { summary: `Fast ${title} error-budget burn`, description: `{{ $labels.model }} in {{ $labels.namespace }} burns its ${title} error budget (objective ${objective}) 14.4× too fast over 1h and 5m: {{ $value | humanizePercentage }} of requests bad over the last hour, 2% of a 30-day budget per hour.` } },
    { alert: name, expr: print(pair('6h', '30m', 6)), for: '15m', labels: { severity: 'critical', window: '6h', [SERIES_ENGINE_LABEL]: engine },
      annotations: { summary: `Sustained ${title} error-budget burn`, description: `{{ $labels.model }} in {{ $labels.namespace }} burns its ${title} error budget (objective ${objective}) 6× too fast over 6h and 30m: {{ $value | humanizePercentage }} of requests bad over the last 6 hours, 5% of a 30-day budget in 6 hours.` } },
  ];
}

/** Alerts on GPU health from DCGM: XID errors and temperature. */
export function gpuAlerts(): AlertDefinition[] {
  // The GPU's consumer pod, when it is a model's: its `model` label (from `up`), so Alertmanager can inhibit that
  // model's latency alerts; GPUs no model pod holds keep their alert without it.
  const byGpu = ['Hostname', 'gpu', 'namespace', 'pod'];
  const models = sel('up', [m(SERIES_MODEL_LABEL, '!=', '')]);
  const ofModel = (metric: string) => orAll([
    // `group` (value 1): the GPU's value must not depend on whether the pod's target is up.
    agg('max', bin('*', sel(metric, []), agg('group', models, ['namespace', 'pod', SERIES_MODEL_LABEL]), { on: ['namespace', 'pod'], groupLeft: [SERIES_MODEL_LABEL] }), [...byGpu, SERIES_MODEL_LABEL]),
    bin('unless', agg('max', sel(metric, []), byGpu), models, { on: ['namespace', 'pod'] }),
  ]);
  return [
    { alert: 'GpuXidError', signal: ofModel(DCGM.xid), op: '>', threshold: 0, for: '1m', severity: 'critical',
      summary: 'GPU reported an XID error', description: 'GPU {{ $labels.gpu }} on {{ $labels.Hostname }} (model {{ $labels.model }}, pod {{ $labels.namespace }}/{{ $labels.pod }}) reported XID {{ $value }}; XIDs 48, 63, 64, 74, 79, 92, 94 and 95 usually need a node drain or reset.' },
    { alert: 'GpuTemperatureHigh', signal: agg('max', sel(DCGM.temperature, []), ['Hostname', 'gpu']), op: '>', threshold: 85, for: '10m', severity: 'warning',
      summary: 'GPU running hot', description: 'GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is at {{ $value }}°C.' },
  ];
}

function targetAlerts(plan: StackPlan): AlertingRule[] {
  const jobs = [
    ...plan.models.filter((x) => x.metricsEndpoints.length > 0).map((x) => x.objectName),
    ...plan.targets.map((t) => t.objectName),
  ];
  // The pods' namespaces too: in a Prometheus shared by several stacks (operator mode) another namespace's
  // stack may have the same job names.
  const namespaces = [...new Set([plan.namespace, ...plan.targets.map((t) => t.namespace)])].sort();
  const rules: AlertingRule[] = [];
  if (jobs.length) {
    rules.push({
      alert: 'InferenceTargetDown',
      expr: print(bin('==', sel('up', [m('job', '=~', jobs.join('|')), namespaces.length > 1 ? m('namespace', '=~', namespaces.join('|')) : m('namespace', '=', namespaces[0])]), num(0))),
      for: '5m',
      labels: { severity: 'critical' },
      annotations: { summary: 'An inference metrics endpoint cannot be scraped', description: 'Model {{ $labels.model }} in {{ $labels.namespace }}: {{ $labels.job }} at {{ $labels.instance }} (pod {{ $labels.pod }}) has been down for 5 minutes (up = {{ $value }}); its data-parallel rank is missing from every dashboard.' },
    });
  }
  if (plan.spec.gpuMetrics.enabled) {
    rules.push({ alert: 'GpuExporterDown', expr: print(bin('==', sel('up', [m('job', '=', DCGM_JOB)]), num(0))), for: '10m', labels: { severity: 'warning' },
      annotations: { summary: 'DCGM exporter cannot be scraped', description: 'The DCGM exporter at {{ $labels.instance }} on {{ $labels.node }} cannot be scraped (up = {{ $value }}): GPU metrics from that node are missing.' } });
  }
  return rules;
}

/** Restarts of one group within an hour past which it is a restart storm. */
export const GROUP_RESTARTS_PER_HOUR = 3;

/**
 * Alerts of a model whose replicas are LeaderWorkerSet groups (`parallelism.nodes` > 1), per group where a group can
 * be told apart (the `group` target label):
 * - degraded: fewer `/metrics` targets up for the model than its groups have when healthy (a whole group down or
 *   being recreated has no target at all, so this is counted per model, against the planned total);
 * - rank targets missing: a group with some, but not all, of its planned targets up (a rank never scraped);
 * - stalled: requests running but no token generated for 5 minutes (a dead worker leaves the others waiting in a
 *   collective while the leader's health route still answers);
 * - restart storm: the leader's target seen at more than GROUP_RESTARTS_PER_HOUR addresses within an hour (every
 *   group recreation gives the pods new IPs; names stay, so pod names cannot count restarts).
 */
export function groupAlerts(plan: StackPlan, model: ModelPlan): AlertDefinition[] {
  const group = model.group;
  if (!group || group.targetsPerGroup === 0) return [];
  const job = [m('job', '=', model.objectName), m('namespace', '=', plan.namespace)];
  const replicas = model.spec.autoscaling ? model.spec.autoscaling.minReplicas : model.spec.replicas;
  const byGroup = [...BY, SERIES_GROUP_LABEL];
  const up = bin('==', sel('up', job), num(1));
  const labels = { namespace: plan.namespace, [SERIES_MODEL_LABEL]: model.spec.name, [SERIES_ENGINE_LABEL]: model.profile.engine };
  const name = `${model.profile.displayName} model ${model.spec.name} in ${plan.namespace}`;
  const out: AlertDefinition[] = [];
  if (replicas > 0) {
    out.push({ alert: 'InferenceModelGroupDegraded', signal: bin('or', agg('count', up, []), call('vector', num(0))), op: '<', threshold: group.targetsPerGroup * replicas, for: '10m', severity: 'critical', labels,
      summary: 'A multi-node model has fewer ranks serving than planned',
      description: `${name}: {{ $value }} of ${group.targetsPerGroup * replicas} planned /metrics targets are up (${replicas} group(s) of ${group.size} pods, ${group.targetsPerGroup} targets each): a group is down, being recreated or cannot be scheduled.` });
  }
  out.push({ alert: 'InferenceModelRankTargetsMissing', signal: agg('count', up, byGroup), op: '<', threshold: group.targetsPerGroup, for: '5m', severity: 'critical', labels,
    summary: 'A group of a multi-node model is scraped on fewer ranks than planned',
    description: `${name}, group {{ $labels.group }}: {{ $value }} of ${group.targetsPerGroup} planned /metrics targets are up; the missing ranks' requests and tokens are absent from every dashboard.` });
  const scope: QueryScope = { matchers: job, window: '5m' };
  const running = signalAlternatives(model.profile, 'requestsRunning', [model.version]);
  const tokens = signalAlternatives(model.profile, 'generationTokens', [model.version]);
  if (running.length && tokens.length) {
    out.push({ alert: 'InferenceModelGroupStalled',
      // The token rate, kept only where requests are running (`and` keeps its left side's values).
      signal: bin('and', counterRate(tokens, scope, byGroup, [], model.profile.duplicateLabels), bin('>', gaugeTotal(model.profile, running, scope, byGroup), num(0))),
      op: '==', threshold: 0, for: '5m', severity: 'critical', labels,
      summary: 'A multi-node model group has requests running but generates no tokens',
      description: `${name}, group {{ $labels.group }}: requests are running and no token was generated for 5 minutes (tokens/s {{ $value }}); a rank is likely dead or hung in a collective while the leader still answers its health route.` });
  }
  out.push({ alert: 'InferenceModelGroupRestartStorm',
    signal: agg('count', call('count_over_time', sel('up', [...job, m(SERIES_WORKER_LABEL, '=', '0')], '1h')), byGroup),
    op: '>', threshold: GROUP_RESTARTS_PER_HOUR, for: '1m', severity: 'warning', labels,
    summary: 'A multi-node model group keeps being recreated',
    description: `${name}, group {{ $labels.group }}: its leader came up at {{ $value }} addresses within an hour; LeaderWorkerSet recreates the whole group when any pod fails, so one failing pod restarts every rank.` });
  return out;
}

function engineGroups(engine: EngineName, versions: readonly string[], spec: Pick<InferenceMonitoringSpec, 'alerts' | 'slo'>, stack: readonly LabelMatcher[] = []): RuleGroupWithSignals[] {
  const profile = PROFILES[engine];
  const alerts = spec.alerts.enabled ? engineAlerts(profile, versions, spec.alerts, stack).map((a) => ({ ...a, labels: { [SERIES_ENGINE_LABEL]: engine } })) : [];
  const signals = new Map(alerts.map((a) => [`alert ${a.alert}`, print(a.signal)]));
  const groups: RuleGroupWithSignals[] = [];
  const recording = engineRecordingRules(profile, versions, stack);
  for (const r of recording) signals.set(`record ${r.record}`, r.expr);
  groups.push({ engine, group: { name: `inference-monitoring.${engine}`, rules: [...recording, ...alerts.map(toRule)] }, signals });
  if (spec.slo && spec.alerts.enabled) {
    const slo = sloRules(profile, versions, spec.slo, stack);
    // Burn-rate alerts read the recorded ratios; the ratios' own expressions are what has to have data.
    const sloSignals = new Map(slo.filter((r): r is RecordingRule => 'record' in r).map((r) => [`record ${r.record}`, r.expr]));
    if (slo.length) groups.push({ engine, group: { name: `inference-monitoring.${engine}.slo`, rules: slo }, signals: sloSignals });
  }
  return groups;
}

/**
 * Rule files by name for a stack. With alerts disabled only the recording
 * rules remain: the dashboards read them.
 */
export function buildRuleFiles(plan: StackPlan): Record<string, RuleFile> {
  const groups: RuleGroup[] = [];
  const stackRules: AlertingRule[] = plan.spec.alerts.enabled ? [
    ...targetAlerts(plan),
    ...(plan.spec.gpuMetrics.enabled ? gpuAlerts().map(toRule) : []),
    ...plan.models.flatMap((x) => groupAlerts(plan, x)).map(toRule),
  ] : [];
  if (stackRules.length) groups.push({ name: 'inference-monitoring.stack', rules: stackRules });
  const versions = new Map<EngineName, Set<string>>();
  for (const x of [...plan.models, ...plan.targets]) {
    versions.set(x.profile.engine, (versions.get(x.profile.engine) ?? new Set()).add(x.version));
  }
  for (const engine of ENGINE_NAMES.filter((e) => versions.has(e))) {
    groups.push(...engineGroups(engine, [...versions.get(engine)!].sort(), plan.spec, stackMatchers(plan, engine)).map((g) => g.group));
  }
  return groups.length ? { 'inference-monitoring.yaml': { groups: withRunbooks(groups, plan.spec.alerting.runbookBaseUrl) } } : {};
}

/** The runbook of an alert: `docs/runbooks/<alert>.md`, published under `alerting.runbookBaseUrl`. */
export function runbookUrl(base: string, alert: string): string {
  return `${base}/${alert}.md`;
}

/**
 * Text Prometheus' annotation templates (Go text/template) print as written: every `{{` that would open an
 * action is itself printed by one, `{{ "{{" }}`. Nothing else in the text is special to the template.
 */
export function literalTemplateText(text: string): string {
  return text.replace(/\{\{/g, '{{ "{{" }}');
}

/** Every alerting rule gets its `runbook_url` annotation. */
export function withRunbooks(groups: RuleGroup[], base: string): RuleGroup[] {
  return groups.map((g) => ({
    ...g,
    rules: g.rules.map((r) => ('alert' in r ? { ...r, annotations: { ...r.annotations, runbook_url: literalTemplateText(runbookUrl(base, r.alert)) } } : r)),
  }));
}

/** Every engine's rule groups at its default version, and the GPU alerts (for check-dashboards). */
export function catalogRuleGroups(versions: Partial<Record<EngineName, string>> = {}): Array<{ engine?: EngineName; group: RuleGroup; signals: ReadonlyMap<string, string> }> {
  const out: Array<{ engine?: EngineName; group: RuleGroup; signals: ReadonlyMap<string, string> }> = [];
  for (const engine of ENGINE_NAMES) {
    const version = versions[engine] ?? PROFILES[engine].defaultVersion;
    out.push(...engineGroups(engine, [version], catalogSpec(PROFILES[engine], version)));
  }
  const gpu = gpuAlerts();
  out.push({ group: { name: 'inference-monitoring.gpu', rules: gpu.map(toRule) }, signals: new Map(gpu.map((a) => [`alert ${a.alert}`, print(a.signal)])) });
  return out;
}

/** Thresholds and SLOs `check-dashboards` evaluates with: SLO thresholds on a bucket bound of each engine's histograms. */
function catalogSpec(profile: EngineProfile, version: string): Pick<InferenceMonitoringSpec, 'alerts' | 'slo'> {
  const bound = (signal: SignalName, target: number) => {
    const b = signalAlternatives(profile, signal, [version])[0]?.buckets;
    const scale = signalAlternatives(profile, signal, [version])[0]?.unit === 'milliseconds' ? 1000 : 1;
    if (!b) return target;
    return b.map((x) => x / scale).reduce((best, x) => (Math.abs(Math.log(x / target)) < Math.abs(Math.log(best / target)) ? x : best));
  };
  return {
    alerts: { enabled: true, ttftP95Seconds: 2, queueLength: 20, kvCacheUsage: 0.95, errorRatio: 0.05 },
    slo: { ttft: { objective: 0.99, thresholdSeconds: bound('ttft', 1) }, interTokenLatency: { objective: 0.99, thresholdSeconds: bound('interTokenLatency', 0.1) }, availability: { objective: 0.999 } },
  };
}
