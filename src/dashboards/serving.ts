/**
 * The serving dashboard of one engine: the transformers continuous-batching
 * dashboard's panels (KV cache, active and waiting requests, decode/prefill
 * ratio and throughput, batch fill, TTFT, latency), plus request and error
 * rates, finish reasons, queue time, preemptions and per-rank panels, each
 * built from the engine profile's signals for the versions in use.
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import { EngineProfile, SignalName } from '../engines/profile';
import { Expr, agg, bin, increase, m, num, print, sel } from '../promql/ast';
import { counterRate, errorRatio, gaugeMax, gaugeMean, gaugeTotal, signalAlternatives } from '../promql/signals';
import { recordedBuckets, recordedMean, recordedQuantile, recordedRate } from '../promql/recorded';
import { SERIES_ENGINE_LABEL, SERIES_GROUP_LABEL, SERIES_MODEL_LABEL, SERIES_WORKER_LABEL } from '../monitoring-labels';
import { DCGM } from '../engines/dcgm';
import { engineAlerts } from '../alerts/rules';
import {
  BYTES, COUNT, PERCENT, DashboardContext, DashboardJson, DashboardStack, FACTOR, RATIO, REQUESTS_PER_SECOND, SECONDS, TOKENS_PER_SECOND, Target, baseDashboard, belowFirstBucket,
  dashboardContext, dashboardLinks, dashboardScope, dashboardTitle, dashboardUid, heatmap, layout, perSecond, stat, timeseries, unavailable,
} from './common';
import { DashboardAlerts, PanelAlert } from './panel-alerts';
import { signalSource } from './sources';

const MODEL = SERIES_MODEL_LABEL;
const QUANTILES = [0.5, 0.95, 0.99] as const;

/** The uid of an engine's serving dashboard (of a stack's: `<base>-<hash>`, see `dashboardUid`). */
export function servingDashboardUid(engine: string, stack?: DashboardStack): string {
  return dashboardUid(`inference-serving-${engine}`, stack);
}

/** A panel description with the caveats of the metrics it reads (profile data). */
function withCaveats(description: string, metrics: ReadonlyArray<{ readonly caveat?: string }>): string {
  const caveats = [...new Set(metrics.map((x) => x.caveat).filter((x): x is string => !!x))];
  return caveats.length ? `${description} Caveat: ${caveats.join('; ')}.` : description;
}

/** What the error ratio counts, and what the engine's counters never count (profile data, read in its code). */
function errorRatioDescription(metrics: ReadonlyArray<{ readonly notCounted?: string }>): string {
  const gaps = [...new Set(metrics.map((x) => x.notCounted).filter((x): x is string => !!x))];
  return `Share of the requests the engine finished that ended in an error or abort, as the engine counts them.${gaps.length ? ` Not counted: ${gaps.join('; ')}.` : ''}`;
}

export function servingDashboard(profile: EngineProfile, versions: readonly string[], context: Partial<DashboardContext> = {}): DashboardJson {
  const ctx = dashboardContext(context);
  const scope = dashboardScope(profile.engine);
  const alts = (s: SignalName) => signalAlternatives(profile, s, versions);
  const has = (s: SignalName) => alts(s).length > 0;
  const missing = (s: SignalName, fallback: string) => profile.missingSignals?.[s] ?? fallback;
  const source = (...s: SignalName[]) => signalSource(profile, s, versions);
  type P = { panel: cog.Builder<any>; width?: number; height?: number };

  // The alerts the stack's rule file has for this engine and these versions, with the spec's thresholds.
  const alerts = new DashboardAlerts(engineAlerts(profile, versions, ctx.alerts), ctx.runbookBaseUrl, ctx.alerts.enabled);
  const kvAlert = alerts.get('InferenceKVCacheSaturated', { approaching: true });
  const queueAlert = alerts.get('InferenceQueueBuildUp', { approaching: true });
  const ttftAlert = alerts.get('InferenceTimeToFirstTokenHigh', { approaching: true, reads: 'p95' });
  const errorAlert = alerts.get('InferenceErrorRateHigh', { approaching: true });
  const preemptionAlert = alerts.get('InferencePreemptions');

  const running = alts('requestsRunning');
  const modelQuery = sel(running[0].metric, [m(SERIES_ENGINE_LABEL, '=', profile.engine)]);

  const kvUsage = (): { expr: Expr; signals: SignalName[] } | undefined => {
    if (has('kvCacheUsage')) return { expr: gaugeMax(alts('kvCacheUsage'), scope, [MODEL]), signals: ['kvCacheUsage'] };
    if (has('kvCacheMemory') && has('kvCacheFree')) {
      const used = agg('sum', sel(alts('kvCacheMemory')[0].metric, scope.matchers), [MODEL]);
      const free = agg('sum', sel(alts('kvCacheFree')[0].metric, scope.matchers), [MODEL]);
      return { expr: bin('/', used, bin('+', used, free)), signals: ['kvCacheMemory', 'kvCacheFree'] };
    }
    return undefined;
  };
  const decodePrefill = (): { expr: Expr; signals: SignalName[] } | undefined => {
    if (has('decodePrefillRatio')) return { expr: agg('avg', sel(alts('decodePrefillRatio')[0].metric, scope.matchers), [MODEL]), signals: ['decodePrefillRatio'] };
    if (has('generationTokens') && has('promptTokens')) return { expr: bin('/', counterRate(alts('generationTokens'), scope, [MODEL]), counterRate(alts('promptTokens'), scope, [MODEL])), signals: ['generationTokens', 'promptTokens'] };
    return undefined;
  };
  const quantiles = (s: SignalName): Target[] => QUANTILES.map((q) => ({ expr: recordedQuantile(s, alts(s), q, scope, [MODEL]), legend: `p${Math.round(q * 100)} {{${MODEL}}}` }));
  const latencyPanel = (s: SignalName, title: string, fallback: string, description: string, alert?: PanelAlert): P => {
    if (!has(s)) return { panel: unavailable(title, missing(s, fallback)) };
    // Bounds in seconds, when every metric of the signal in use declares the same ones.
    const bounds = alts(s).map((a) => a.buckets?.map((b) => (a.unit === 'milliseconds' ? b / 1000 : b)));
    const same = bounds.every((b) => b && JSON.stringify(b) === JSON.stringify(bounds[0])) ? bounds[0] : undefined;
    const text = same ? `${description} Quantiles are interpolated inside histogram buckets (bounds ${same.join(', ')} s): below ${same[0]} s they show as "< ${same[0]} s", and between two bounds they are an estimate, not a measurement; the mean is exact.` : description;
    const panel = timeseries(title, [...quantiles(s), { expr: recordedMean(s, alts(s), scope, [MODEL]), legend: `mean {{${MODEL}}}` }], { unit: SECONDS, description: `${text} ${source(s)}`, alert });
    return { panel: same ? belowFirstBucket(panel, same, /^p\d+ /) : panel };
  };

  const overview: P[] = [
    { panel: stat('Active (running) requests', { expr: gaugeTotal(profile, running, scope, []), legend: 'running' }, {
      unit: COUNT, description: withCaveats(`Requests in the running batch, summed over pods and data-parallel ranks. ${source('requestsRunning')}`, running) }), width: 6, height: 5 },
    has('requestsWaiting')
      ? { panel: stat('Waiting requests', { expr: gaugeTotal(profile, alts('requestsWaiting'), scope, []), legend: 'waiting' }, {
        unit: COUNT, alert: queueAlert,
        description: withCaveats(`Requests queued for a batch slot, summed over pods and ranks. The alert compares each model's own total: with several models selected this sum can pass its threshold while no model does. ${source('requestsWaiting')}`, alts('requestsWaiting')) }), width: 6, height: 5 }
      : { panel: unavailable('Waiting requests', missing('requestsWaiting', 'The engine exports no queue length.')), width: 6, height: 5 },
  ];
  const byReason = alts('requestsWaitingByReason').filter((x) => x.reasonLabel);
  if (byReason.length) {
    const reason = byReason[0].reasonLabel!;
    overview.push({ panel: timeseries('Waiting requests by reason', [{ expr: agg('sum', sel(byReason[0].metric, scope.matchers), [reason]), legend: `{{${reason}}}` }], {
      unit: COUNT, related: [queueAlert],
      description: `Queued requests by why they wait (e.g. capacity, or deferred by a transient constraint), summed over models. ${source('requestsWaitingByReason')}` }), width: 24, height: 6 });
  }
  const kv = kvUsage();
  const kvDescription = (what: string) => kv ? withCaveats(`${what} ${source(...kv.signals)}`, kv.signals.flatMap((s) => alts(s))) : what;
  overview.push(kv
    ? { panel: stat('KV-cache usage (worst pod/rank)', { expr: agg('max', kv.expr), legend: 'usage' }, {
      unit: RATIO, alert: kvAlert, description: kvDescription('Share of KV-cache blocks in use on the busiest pod or data-parallel rank; near 1 the engine preempts or queues.') }), width: 6, height: 5 }
    : { panel: unavailable('KV-cache usage', missing('kvCacheUsage', 'The engine exports no KV-cache usage.')), width: 6, height: 5 });
  const dp = decodePrefill();
  overview.push(dp
    ? { panel: stat('Decode/prefill ratio', { expr: agg('avg', dp.expr), legend: 'ratio' }, {
      unit: FACTOR, description: `Generated tokens per prompt token (not a share: above 1 when answers are longer than prompts). ${source(...dp.signals)}` }), width: 6, height: 5 }
    : { panel: unavailable('Decode/prefill ratio', missing('decodePrefillRatio', 'The engine exports no token counters.')), width: 6, height: 5 });

  const throughput: P[] = [
    has('generationTokens')
      ? { panel: timeseries('Decode tokens/s', [{ expr: counterRate(alts('generationTokens'), scope, [MODEL]), legend: '{{model}}' }], {
        unit: TOKENS_PER_SECOND, description: `Output tokens generated per second, per model, summed over pods and ranks. ${source('generationTokens')}` }) }
      : { panel: unavailable('Decode tokens/s', missing('generationTokens', 'The engine exports no generation token counter.')) },
    has('promptTokens')
      ? { panel: timeseries('Prefill tokens/s', [{ expr: counterRate(alts('promptTokens'), scope, [MODEL]), legend: '{{model}}' }], {
        unit: TOKENS_PER_SECOND, description: `Prompt tokens processed per second, per model, summed over pods and ranks. ${source('promptTokens')}` }) }
      : { panel: unavailable('Prefill tokens/s', missing('promptTokens', 'The engine exports no prompt token counter.')) },
  ];
  const requestRate = has('requestsFinished')
    ? { expr: counterRate(alts('requestsFinished'), scope, [MODEL]), text: `Finished requests per second, per model. ${source('requestsFinished')}` }
    : has('e2eLatency') ? { expr: recordedRate('e2eLatency', alts('e2eLatency'), scope, [MODEL]), text: `Finished requests per second, per model, counted by the end-to-end latency histogram. ${source('e2eLatency')}` } : undefined;
  throughput.push(requestRate
    ? { panel: timeseries('Requests/s', [{ expr: requestRate.expr, legend: '{{model}}' }], { unit: REQUESTS_PER_SECOND, description: requestRate.text }) }
    : { panel: unavailable('Requests/s', 'The engine exports no request counter.') });
  const errors = errorRatio(profile, versions, scope, [MODEL]);
  throughput.push(errors
    ? { panel: timeseries('Error ratio', [{ expr: errors, legend: '{{model}}' }], {
      unit: RATIO, alert: errorAlert, description: `${errorRatioDescription(alts('requestsFinished').concat(alts('requestsFailed')))} ${source('requestsFinished', 'requestsFailed')}` }) }
    : { panel: unavailable('Error ratio', 'The engine exports no failure counter or failure finish reasons.') });
  const finished = alts('requestsFinished').filter((x) => x.reasonLabel);
  if (finished.length) {
    const reason = finished[0].reasonLabel!;
    throughput.push({ panel: timeseries('Finish reasons', [{ expr: agg('sum', increase(sel(finished[0].metric, scope.matchers, scope.window)), [reason]), legend: `{{${reason}}}` }], {
      unit: COUNT, related: [errorAlert],
      description: `Finished requests per rate interval by finish reason (label \`${reason}\`)${finished[0].failureReasons?.length ? `; ${finished[0].failureReasons.join(', ')} count as errors` : ''}. ${source('requestsFinished')}` }) });
  }

  const latency: P[] = [
    latencyPanel('ttft', 'Time to first token', 'The engine exports no time-to-first-token histogram.', 'From arrival to the first output token: quantiles over all pods and ranks of the model.', ttftAlert),
    has('ttft')
      ? { panel: heatmap('Time to first token distribution', { expr: recordedBuckets('ttft', alts('ttft'), scope), legend: '{{le}}' }, {
        unit: REQUESTS_PER_SECOND, related: [ttftAlert], description: `Requests per second in each time-to-first-token bucket (bucket bounds on the y axis), over every model selected. ${source('ttft')}` }, SECONDS) }
      : { panel: unavailable('Time to first token distribution', missing('ttft', 'No histogram to draw.')) },
    latencyPanel('interTokenLatency', 'Inter-token latency', 'The engine exports no per-token latency histogram.', 'Time between consecutive output tokens of a request.'),
    latencyPanel('e2eLatency', 'End-to-end request latency', 'The engine exports no request latency histogram.', 'From arrival to the last token.'),
  ];
  if (has('queueTime')) latency.push(latencyPanel('queueTime', 'Queue time', '', 'Time requests wait before their first schedule.'));

  const batching: P[] = [
    has('batchFill')
      ? { panel: timeseries('Batch fill percentiles', QUANTILES.map((q) => ({ expr: recordedQuantile('batchFill', alts('batchFill'), q, scope, [MODEL]), legend: `p${Math.round(q * 100)} {{model}}` })), {
        unit: RATIO, description: `How full each batch is, as a share of its token capacity. ${source('batchFill')}` }) }
      : { panel: unavailable('Batch fill percentiles', missing('batchFill', 'Only transformers continuous batching reports how full each batch is; see running requests for the batch size.')) },
    kv
      ? { panel: timeseries('KV-cache usage', [{ expr: kv.expr, legend: '{{model}}' }], {
        unit: RATIO, alert: kvAlert, description: kvDescription('Share of KV-cache blocks in use, per model: its busiest pod or data-parallel rank.') }) }
      : { panel: unavailable('KV-cache usage over time', missing('kvCacheUsage', 'The engine exports no KV-cache usage.')) },
  ];
  if (has('kvCacheMemory')) {
    const memTargets: Target[] = [{ expr: agg('sum', sel(alts('kvCacheMemory')[0].metric, scope.matchers), [MODEL]), legend: 'used {{model}}' }];
    if (has('kvCacheFree')) memTargets.push({ expr: agg('sum', sel(alts('kvCacheFree')[0].metric, scope.matchers), [MODEL]), legend: 'free {{model}}' });
    batching.push({ panel: timeseries('KV-cache memory', memTargets, {
      unit: BYTES, description: withCaveats(`KV-cache memory used and free, per model, summed over pods. ${source('kvCacheMemory', 'kvCacheFree')}`, [...alts('kvCacheMemory'), ...alts('kvCacheFree')]) }) });
  }
  // Prefix-cache hit rate: hits over queries where the engine counts both (vLLM), else its own ratio gauge averaged over ranks.
  if (has('prefixCacheHits') && has('prefixCacheQueries')) {
    batching.push({ panel: timeseries('Prefix-cache hit rate', [{ expr: bin('/', counterRate(alts('prefixCacheHits'), scope, [MODEL]), counterRate(alts('prefixCacheQueries'), scope, [MODEL])), legend: '{{model}}' }], {
      unit: RATIO, description: `Share of prompt tokens looked up in the prefix cache that were found there (higher is better). ${source('prefixCacheHits', 'prefixCacheQueries')}` }) });
  } else if (has('prefixCacheHitRate')) {
    batching.push({ panel: timeseries('Prefix-cache hit rate', [{ expr: gaugeMean(profile, alts('prefixCacheHitRate'), scope, [MODEL]), legend: '{{model}}' }], {
      unit: RATIO, description: `The engine's prefix-cache hit rate, averaged over data-parallel ranks (higher is better). ${source('prefixCacheHitRate')}` }) });
  } else {
    batching.push({ panel: unavailable('Prefix-cache hit rate', 'The engine exports no prefix-cache hit rate for this version.') });
  }
  batching.push(has('preemptions')
    ? { panel: timeseries('Preemptions/s', [{ expr: counterRate(alts('preemptions'), scope, [MODEL], [], profile.duplicateLabels), legend: '{{model}}' }], {
      unit: perSecond('preemptions'), alert: preemptionAlert, description: `Requests evicted from the batch for lack of KV-cache blocks, per second, per model. ${source('preemptions')}` }) }
    : { panel: unavailable('Preemptions/s', missing('preemptions', 'The engine does not count preemptions.')) });

  const rows: Array<{ title?: string; panels: P[] }> = [
    { panels: overview },
    { title: 'Throughput', panels: throughput },
    { title: 'Latency', panels: latency },
    { title: 'Batching and KV cache', panels: batching },
  ];
  if (profile.rankLabel) {
    const rank = profile.rankLabel;
    const byRank = [MODEL, 'pod', rank];
    const perRank: P[] = [
      { panel: timeseries('Running requests per data-parallel rank', [{ expr: gaugeTotal(profile, running, scope, byRank), legend: `{{pod}} rank {{${rank}}}` }], {
        unit: COUNT, description: `Every rank's own series (label \`${rank}\`): a rank missing here is not scraped. ${source('requestsRunning')}` }) },
    ];
    if (has('requestsWaiting')) {
      perRank.push({ panel: timeseries('Waiting requests per data-parallel rank', [{ expr: gaugeTotal(profile, alts('requestsWaiting'), scope, byRank), legend: `{{pod}} rank {{${rank}}}` }], {
        unit: COUNT, related: [queueAlert], description: `Each rank's queue (label \`${rank}\`): the alert compares a model's total over its ranks, not one rank's. ${source('requestsWaiting')}` }) });
    }
    if (has('kvCacheUsage')) {
      perRank.push({ panel: timeseries('KV-cache usage per data-parallel rank', [{ expr: gaugeMax(alts('kvCacheUsage'), scope, byRank), legend: `{{pod}} rank {{${rank}}}` }], {
        unit: RATIO, alert: alerts.get('InferenceKVCacheSaturated', { approaching: true, reads: 'the busiest rank of a model' }), description: `Each rank's share of KV-cache blocks in use (label \`${rank}\`). ${source('kvCacheUsage')}` }) });
    }
    rows.push({ title: 'Data-parallel ranks', panels: perRank });
  }

  if (ctx.groups?.length) rows.push({ title: 'Multi-node groups', panels: groupPanels(profile, versions, ctx) });

  const dash = baseDashboard(servingDashboardUid(profile.engine, ctx.stack), dashboardTitle(`Inference serving: ${profile.displayName}`, ctx.stack), [profile.engine], print(modelQuery))
    .links(dashboardLinks(true, ctx.linked));
  return layout(dash, rows).build() as unknown as DashboardJson;
}

/**
 * A row for models whose replicas span several pods: per LeaderWorkerSet group (`group` target label), the targets
 * up against the plan, running requests, generated tokens, and each pod's GPUs (DCGM joined to the group's pods).
 */
function groupPanels(profile: EngineProfile, versions: readonly string[], ctx: DashboardContext): Array<{ panel: cog.Builder<any> }> {
  const grouped = [m(SERIES_GROUP_LABEL, '!=', '')];
  const base = dashboardScope(profile.engine);
  const scope = { ...base, matchers: [...base.matchers, ...grouped] };
  const byGroup = [MODEL, SERIES_GROUP_LABEL];
  const alts = (s: SignalName) => signalAlternatives(profile, s, versions);
  const planned = (ctx.groups ?? []).map((g) => `${g.model}: ${g.targetsPerGroup} of ${g.size} pods`).join(', ');
  // The group alerts as the stack's rule file has them (links only: each model has its own planned count).
  const alerts = new DashboardAlerts((ctx.groups ?? []).flatMap((g) => g.alerts).filter((a, i, all) => all.findIndex((b) => b.alert === a.alert) === i), ctx.runbookBaseUrl, ctx.alerts.enabled);
  const panels: Array<{ panel: cog.Builder<any> }> = [
    { panel: timeseries('Rank targets up per group', [{ expr: agg('count', bin('==', sel('up', scope.matchers), num(1)), byGroup), legend: '{{model}} group {{group}}' }], {
      unit: COUNT, related: [alerts.get('InferenceModelRankTargetsMissing'), alerts.get('InferenceModelGroupDegraded')],
      description: `/metrics targets up in each LeaderWorkerSet group. Planned per group (${planned}): fewer means a rank is not scraped and its requests and tokens are missing from every panel; a group that disappears is being recreated.` }) },
  ];
  if (alts('requestsRunning').length) {
    panels.push({ panel: timeseries('Running requests per group', [{ expr: gaugeTotal(profile, alts('requestsRunning'), scope, byGroup), legend: '{{model}} group {{group}}' }], {
      unit: COUNT, description: `Requests in the running batch of each group, every rank counted once. ${signalSource(profile, ['requestsRunning'], versions)}` }) });
  }
  if (alts('generationTokens').length) {
    panels.push({ panel: timeseries('Decode tokens/s per group', [{ expr: counterRate(alts('generationTokens'), scope, byGroup, [], profile.duplicateLabels), legend: '{{model}} group {{group}}' }], {
      unit: TOKENS_PER_SECOND, related: [alerts.get('InferenceModelGroupStalled'), alerts.get('InferenceModelGroupRestartStorm')],
      description: `Tokens generated per second by each group. At 0 while requests run, a rank is dead or hung (InferenceModelGroupStalled). ${signalSource(profile, ['generationTokens'], versions)}` }) });
  }
  if (ctx.gpuMetrics) {
    const pods = agg('group', sel('up', scope.matchers), ['namespace', 'pod', MODEL, SERIES_GROUP_LABEL, SERIES_WORKER_LABEL]);
    const util = bin('*', sel(DCGM.utilization, []), pods, { on: ['namespace', 'pod'], groupLeft: [MODEL, SERIES_GROUP_LABEL, SERIES_WORKER_LABEL] });
    panels.push({ panel: timeseries('GPU utilization per group pod', [{ expr: agg('avg', util, [MODEL, SERIES_GROUP_LABEL, SERIES_WORKER_LABEL, 'node']), legend: '{{model}} group {{group}} worker {{worker}} ({{node}})' }], {
      unit: PERCENT, description: `GPU utilization averaged over each pod's GPUs, per group and worker (0: the leader), with its node: one idle pod in a busy group is a rank waiting on the others. ${DCGM.utilization} from the DCGM exporter, joined to the group's pods by namespace and pod.` }) });
  }
  return panels;
}
