/**
 * Histogram signals the dashboards read from recording rules. A latency
 * quantile over raw buckets touches every pod × rank × bucket series at every
 * step: with 100 vLLM pods, 150–280 ms per panel query (BENCHMARKS.md). The
 * rules keep one rate per namespace, model, rank and bucket instead, and the
 * dashboards compute quantiles, means and heatmaps from those.
 *
 * The rules and the dashboards both take the series names from here.
 */
import { EngineProfile, SignalMetric, SignalName } from '../engines/profile';
import { SERIES_MODEL_LABEL } from '../monitoring-labels';
import { Expr, agg, bin, call, histogramQuantile, orAll, rate, sel } from './ast';
import { QueryScope, bucketRate, histogramMean, histogramRate, quantile, toBaseUnit } from './signals';

/** The histogram signals dashboards draw. */
export const RECORDED_HISTOGRAMS: readonly SignalName[] = ['ttft', 'interTokenLatency', 'timePerOutputToken', 'e2eLatency', 'queueTime', 'batchFill'];

/**
 * Rate window of the recorded series. Dashboards average them over
 * `$__rate_interval`, so a wide time range still sees every sample; with the
 * default 30 s evaluation interval each window holds two evaluations.
 */
export const RECORDED_WINDOW = '1m';

type Part = 'bucket' | 'sum' | 'count';

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** `namespace_model_le:inference_ttft_bucket:rate1m`, `namespace_model:inference_ttft_sum:rate1m`, … */
export function recordedSeries(signal: SignalName, part: Part): string {
  return `namespace_model${part === 'bucket' ? '_le' : ''}:inference_${snake(signal)}_${part}:rate${RECORDED_WINDOW}`;
}

/** Labels a recorded series keeps: namespace, model and, for engines with data-parallel ranks, the rank. */
function keptLabels(profile: EngineProfile, part: Part): string[] {
  return ['namespace', SERIES_MODEL_LABEL, ...(profile.rankLabel ? [profile.rankLabel] : []), ...(part === 'bucket' ? ['le'] : [])];
}

/**
 * Whether a signal can be recorded under one name: it is a histogram the
 * dashboards draw, and every metric carrying it (across versions) has the
 * same unit, so buckets of different names can share a series.
 */
export function isRecorded(signal: SignalName, alts: readonly SignalMetric[]): boolean {
  return RECORDED_HISTOGRAMS.includes(signal) && alts.length > 0 && alts.every((a) => a.unit === alts[0].unit);
}

/** The recording rules of one signal: bucket, sum and count rates over `matchers` (the engine's series). */
export function histogramRecordings(profile: EngineProfile, signal: SignalName, alts: readonly SignalMetric[], scope: QueryScope): Array<{ record: string; expr: Expr }> {
  if (!isRecorded(signal, alts)) return [];
  return (['bucket', 'sum', 'count'] as const).map((part) => ({
    record: recordedSeries(signal, part),
    expr: orAll(alts.map((a) => agg('sum', rate(sel(`${a.metric}_${part}`, scope.matchers, RECORDED_WINDOW)), keptLabels(profile, part)))),
  }));
}

/** A recorded series averaged over the dashboard's rate window. */
const averaged = (signal: SignalName, part: Part, scope: QueryScope): Expr =>
  call('avg_over_time', sel(recordedSeries(signal, part), scope.matchers, scope.window));

// The readers below use the recorded series when the signal is recorded (see
// `isRecorded`) and the raw histogram otherwise. `by` may only name labels the
// recorded series keep (namespace, model, the rank label).

/** A quantile of a histogram signal, in the dashboards' unit. */
export function recordedQuantile(signal: SignalName, alts: readonly SignalMetric[], q: number, scope: QueryScope, by: readonly string[]): Expr {
  if (!isRecorded(signal, alts)) return quantile(alts, q, scope, by);
  return toBaseUnit(histogramQuantile(q, agg('sum', averaged(signal, 'bucket', scope), ['le', ...by])), alts[0]);
}

/** Mean (sum / count) of a histogram signal, in the dashboards' unit. */
export function recordedMean(signal: SignalName, alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[]): Expr {
  if (!isRecorded(signal, alts)) return histogramMean(alts, scope, by);
  return toBaseUnit(bin('/', agg('sum', averaged(signal, 'sum', scope), by), agg('sum', averaged(signal, 'count', scope), by)), alts[0]);
}

/** Observations per second of a histogram signal. */
export function recordedRate(signal: SignalName, alts: readonly SignalMetric[], scope: QueryScope, by: readonly string[]): Expr {
  if (!isRecorded(signal, alts)) return histogramRate(alts, scope, by);
  return agg('sum', averaged(signal, 'count', scope), by);
}

/** Buckets per second of a histogram signal, for heatmaps. */
export function recordedBuckets(signal: SignalName, alts: readonly SignalMetric[], scope: QueryScope): Expr {
  if (!isRecorded(signal, alts)) return bucketRate(alts, scope);
  return agg('sum', averaged(signal, 'bucket', scope), ['le']);
}
