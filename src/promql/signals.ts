/**
 * PromQL for signals: how a signal is read for an engine whose metric names
 * depend on the version, and how data-parallel ranks and tensor-parallel
 * workers combine. Dashboards, alerts and autoscaling use these, never an
 * engine's metric name directly.
 */
import { EngineProfile, SignalMetric, SignalName, signalMetric } from '../engines/profile';
import { Expr, LabelMatcher, agg, aggWithout, bin, histogramQuantile, num, orAll, rate, sel } from './ast';
import { compareVersionsLikeLocale } from '../collate';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';

/** Labels every scraped target's `up` series carries (src/prometheus/target-labels.ts). */
const TARGET_LABELS: readonly string[] = ['namespace', 'pod', 'node', SERIES_MODEL_LABEL, SERIES_ENGINE_LABEL];

/**
 * A gauge read as 0 where its target is scraped but the engine has not created the series yet (vLLM's
 * data-parallel API servers create the running, waiting and KV-cache series at the first request): the
 * target's `up == 1` stands in. Where nothing is scraped the result stays empty ("No data" means not
 * scraped). Grouping by a label `up` does not carry (a data-parallel rank) is left as it is.
 */
function zeroWhereScraped(e: Expr, scope: QueryScope, by: readonly string[]): Expr {
  if (!by.every((l) => TARGET_LABELS.includes(l))) return e;
  return bin('or', e, bin('*', num(0), agg('sum', bin('==', sel('up', scope.matchers), num(1)), by)));
}

/** Which series a query covers and over which window rates are taken. */
export interface QueryScope {
  readonly matchers: readonly LabelMatcher[];
  /** Rate window: `$__rate_interval` in dashboards, a fixed duration in rules. */
  readonly window: string;
}

/** The metrics carrying `signal` across `versions`, newest first, without duplicates. */
export function signalAlternatives(profile: EngineProfile, signal: SignalName, versions: readonly string[]): SignalMetric[] {
  const seen = new Map<string, SignalMetric>();
  const sorted = [...versions].sort((a, b) => compareVersionsLikeLocale(b, a));
  for (const v of sorted) {
    const metric = signalMetric(profile, signal, v);
    if (metric && !seen.has(metric.metric)) seen.set(metric.metric, metric);
  }
  return [...seen.values()];
}

const selector = (metric: string, scope: QueryScope, extra: readonly LabelMatcher[] = [], withRange = false) =>
  sel(metric, [...scope.matchers, ...extra], withRange ? scope.window : undefined);

/** Scales a value in the signal's unit to the dashboards' unit (seconds, ratio 0-1). */
export function toBaseUnit(e: Expr, metric: SignalMetric): Expr {
  if (metric.unit === 'milliseconds') return bin('/', e, num(1000));
  if (metric.unit === 'percent') return bin('/', e, num(100));
  return e;
}

/**
 * Per-second rate of a counter signal, summed over pods and ranks. A counter
 * that every worker of a rank reports alike (`rankAggregation: 'max'`, e.g.
 * SGLang's scheduler counters under `--enable-metrics-for-all-schedulers`) is
 * first collapsed with `max` over `duplicateLabels`, as gauges are.
 */
export function counterRate(alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[], extra: readonly LabelMatcher[] = [], duplicateLabels: readonly string[] = []): Expr {
  return orAll(alts.map((a) => {
    const r = rate(selector(a.metric, scope, extra, true));
    return agg('sum', a.rankAggregation === 'max' && duplicateLabels.length ? aggWithout('max', r, duplicateLabels) : r, by);
  }));
}

/**
 * A count gauge (requests running or waiting) summed over pods and
 * data-parallel ranks. Workers that all report the same scheduler value
 * (`rankAggregation: 'max'`, e.g. SGLang's tensor-parallel ranks) are first
 * collapsed with `max`, so nothing is counted twice.
 */
export function gaugeTotal(profile: EngineProfile, alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[]): Expr {
  return zeroWhereScraped(orAll(alts.map((a) => {
    const s = selector(a.metric, scope);
    const deduped = a.rankAggregation === 'max' && profile.duplicateLabels?.length ? aggWithout('max', s, profile.duplicateLabels) : s;
    return agg('sum', deduped, by);
  })), scope, by);
}

/** A ratio gauge (prefix-cache hit rate) averaged over pods and ranks, duplicates of one rank collapsed first. */
export function gaugeMean(profile: EngineProfile, alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[]): Expr {
  return orAll(alts.map((a) => {
    const s = selector(a.metric, scope);
    const deduped = a.rankAggregation === 'max' && profile.duplicateLabels?.length ? aggWithout('max', s, profile.duplicateLabels) : s;
    return toBaseUnit(agg('avg', deduped, by), a);
  }));
}

/** A ratio gauge (KV-cache usage) as its worst value over pods and ranks. */
export function gaugeMax(alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[]): Expr {
  return zeroWhereScraped(orAll(alts.map((a) => toBaseUnit(agg('max', selector(a.metric, scope), by), a))), scope, by);
}

/** A quantile of a histogram signal over all pods and ranks, in seconds. */
export function quantile(alts: readonly SignalMetric[], q: number, scope: QueryScope, by: readonly string[]): Expr {
  return orAll(alts.map((a) => toBaseUnit(histogramQuantile(q, agg('sum', rate(selector(`${a.metric}_bucket`, scope, [], true)), ['le', ...by])), a)));
}

/** Mean of a histogram signal (sum / count), in seconds. */
export function histogramMean(alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[]): Expr {
  return orAll(alts.map((a) => toBaseUnit(bin('/',
    agg('sum', rate(selector(`${a.metric}_sum`, scope, [], true)), by),
    agg('sum', rate(selector(`${a.metric}_count`, scope, [], true)), by)), a)));
}

/** Observations per second of a histogram signal (e.g. requests per second from the e2e latency histogram). */
export function histogramRate(alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[]): Expr {
  return orAll(alts.map((a) => agg('sum', rate(selector(`${a.metric}_count`, scope, [], true)), by)));
}

/** Buckets per second, for heatmaps (`format: heatmap`). */
export function bucketRate(alts: readonly SignalMetric[], scope: QueryScope): Expr {
  return orAll(alts.map((a) => agg('sum', rate(selector(`${a.metric}_bucket`, scope, [], true)), ['le'])));
}

/**
 * Share of requests that failed, from what the engine has: a failure counter
 * next to a success counter (TGI, SGLang), or failure finish reasons of the
 * finished-requests counter (vLLM, LMDeploy). Undefined when it has neither.
 */
export function errorRatio(profile: EngineProfile, versions: readonly string[], scope: QueryScope, by: readonly string[]): Expr | undefined {
  const finished = signalAlternatives(profile, 'requestsFinished', versions);
  const failed = signalAlternatives(profile, 'requestsFailed', versions);
  if (finished.length && failed.length) {
    const done = counterRate(finished, scope, by);
    // A failure counter the engine creates at the first failure is absent on a healthy server: 0, not "No data".
    const f = failed.every((x) => x.lazy) ? bin('or', counterRate(failed, scope, by), bin('*', num(0), done)) : counterRate(failed, scope, by);
    return bin('/', f, bin('+', done, f));
  }
  const withReasons = finished.filter((x) => x.reasonLabel && x.failureReasons?.length);
  if (withReasons.length) {
    return orAll(withReasons.map((x) => bin('/',
      agg('sum', rate(selector(x.metric, scope, [{ label: x.reasonLabel!, op: '=~', value: x.failureReasons!.map(escapeRegex).join('|') }], true)), by),
      agg('sum', rate(selector(x.metric, scope, [], true)), by))));
  }
  return undefined;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
