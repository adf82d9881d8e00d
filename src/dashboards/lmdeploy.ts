/**
 * The LMDeploy dashboard: the panels LMDeploy ships
 * (lmdeploy/monitoring/grafana/dashboards/json/lmdeploy-dashboard.json) with
 * its defects fixed: every panel has its own id and place (upstream's
 * "Time Per Output Token Latency" and "Inter-Token Latency" share id 10 and a
 * position), and a `rank` variable plus per-rank panels tell the
 * data-parallel ranks (`engine` label) apart, which no upstream query does.
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import { QueryVariableBuilder, VariableRefresh } from '@grafana/grafana-foundation-sdk/dashboard';
import { lmdeploy } from '../engines/lmdeploy';
import { SignalName } from '../engines/profile';
import { agg, increase, m, sel } from '../promql/ast';
import { QueryScope, counterRate, gaugeMax, gaugeTotal, signalAlternatives } from '../promql/signals';
import { recordedMean, recordedQuantile } from '../promql/recorded';
import { engineAlerts } from '../alerts/rules';
import {
  COUNT, DashboardContext, DashboardJson, DashboardStack, PROMETHEUS_DS, RATIO, REQUESTS_PER_SECOND, SECONDS, TOKENS_PER_SECOND, Target, baseDashboard,
  dashboardContext, dashboardLinks, dashboardScope, dashboardTitle, dashboardUid, layout, timeseries,
} from './common';
import { DashboardAlerts, PanelAlert } from './panel-alerts';
import { signalSource } from './sources';

export const LMDEPLOY_DASHBOARD_UID = 'inference-lmdeploy';
const RANK = lmdeploy.rankLabel!;

/** The uid of the LMDeploy dashboard (of a stack's: `<base>-<hash>`, see `dashboardUid`). */
export function lmdeployDashboardUid(stack?: DashboardStack): string {
  return dashboardUid(LMDEPLOY_DASHBOARD_UID, stack);
}

export function lmdeployDashboard(versions: readonly string[], context: Partial<DashboardContext> = {}): DashboardJson {
  const ctx = dashboardContext(context);
  const base = dashboardScope(lmdeploy.engine);
  const scope: QueryScope = { ...base, matchers: [...base.matchers, m(RANK, '=~', '$rank')] };
  const alts = (s: SignalName) => signalAlternatives(lmdeploy, s, versions);
  const source = (...s: SignalName[]) => signalSource(lmdeploy, s, versions);
  const alerts = new DashboardAlerts(engineAlerts(lmdeploy, versions, ctx.alerts), ctx.runbookBaseUrl, ctx.alerts.enabled);
  const latency = (s: SignalName, title: string, description: string, alert?: PanelAlert): { panel: cog.Builder<any> } => ({
    panel: timeseries(title, [
      ...[0.99, 0.95, 0.9, 0.5].map((q): Target => ({ expr: recordedQuantile(s, alts(s), q, scope, ['model']), legend: `P${Math.round(q * 100)} {{model}}` })),
      { expr: recordedMean(s, alts(s), scope, ['model']), legend: 'Mean {{model}}' },
    ], { unit: SECONDS, description: `${description} Quantiles over the selected ranks; interpolated inside histogram buckets. ${source(s)}`, alert }),
  });
  const finished = alts('requestsFinished')[0];
  const perRank = ['model', 'pod', RANK];
  const panels = [
    latency('e2eLatency', 'E2E Request Latency', 'From arrival to the last token.'),
    { panel: timeseries('Token Throughput', [
      { expr: counterRate(alts('promptTokens'), scope, ['model']), legend: 'Prompt tokens/s {{model}}' },
      { expr: counterRate(alts('generationTokens'), scope, ['model']), legend: 'Generation tokens/s {{model}}' },
    ], { unit: TOKENS_PER_SECOND, description: `Prompt tokens processed and output tokens generated per second, per model, over the selected ranks. ${source('promptTokens', 'generationTokens')}` }) },
    latency('timePerOutputToken', 'Time Per Output Token Latency', 'Mean time per output token of each request (after the first).'),
    latency('interTokenLatency', 'Inter-Token Latency', 'Time between consecutive output tokens.'),
    { panel: timeseries('Scheduler Stats per DP rank', [
      { expr: gaugeTotal(lmdeploy, alts('requestsRunning'), scope, perRank), legend: 'Running {{pod}} rank {{engine}}' },
      { expr: gaugeTotal(lmdeploy, alts('requestsWaiting'), scope, perRank), legend: 'Waiting {{pod}} rank {{engine}}' },
    ], { unit: COUNT, related: [alerts.get('InferenceQueueBuildUp')],
      description: `Running and waiting requests, one series per data-parallel rank: each rank runs its own API server with its own /metrics. The queue alert compares a model's total over its ranks. ${source('requestsRunning', 'requestsWaiting')}` }) },
    latency('ttft', 'Time To First Token Latency', 'From arrival to the first output token.', alerts.get('InferenceTimeToFirstTokenHigh', { approaching: true, reads: 'P95' })),
    { panel: timeseries('Cache Utilization per DP rank', [{ expr: gaugeMax(alts('kvCacheUsage'), scope, perRank), legend: '{{pod}} rank {{engine}}' }], {
      unit: RATIO, alert: alerts.get('InferenceKVCacheSaturated', { approaching: true, reads: 'the busiest rank of a model' }),
      description: `Each rank's share of KV-cache blocks in use. ${source('kvCacheUsage')}` }) },
    { panel: timeseries('Requests per DP rank', [{ expr: counterRate(alts('requestsFinished'), scope, perRank), legend: '{{pod}} rank {{engine}}' }], {
      unit: REQUESTS_PER_SECOND, description: `Finished requests per second on each rank: shows how the proxy balances load. ${source('requestsFinished')}` }) },
    { panel: timeseries('Finish Reason', [{ expr: agg('sum', increase(sel(finished.metric, scope.matchers, scope.window)), [finished.reasonLabel!]), legend: `{{${finished.reasonLabel}}}` }], {
      unit: COUNT, related: [alerts.get('InferenceErrorRateHigh')],
      description: `Finished requests per rate interval by finish reason (label \`${finished.reasonLabel}\`)${finished.failureReasons?.length ? `; ${finished.failureReasons.join(', ')} count as errors` : ''}. ${source('requestsFinished')}` }) },
    { panel: timeseries('Queue Time', [
      { expr: recordedMean('queueTime', alts('queueTime'), scope, ['model']), legend: 'Mean {{model}}' },
      { expr: recordedQuantile('queueTime', alts('queueTime'), 0.95, scope, ['model']), legend: 'P95 {{model}}' },
    ], { unit: SECONDS, description: `Time requests wait before their first schedule: mean and P95 over the selected ranks. ${source('queueTime')}` }) },
  ];
  const running = alts('requestsRunning')[0].metric;
  const dash = baseDashboard(lmdeployDashboardUid(ctx.stack), dashboardTitle('LMDeploy', ctx.stack), ['lmdeploy'], `${running}{inference_engine="lmdeploy"}`)
    .withVariable(new QueryVariableBuilder('rank').label('DP rank').datasource(PROMETHEUS_DS)
      .query(`label_values(${running}{inference_engine="lmdeploy", namespace=~"$namespace", model=~"$model"}, ${RANK})`)
      .refresh(VariableRefresh.OnTimeRangeChanged).multi(true).includeAll(true))
    .links(dashboardLinks(true, ctx.linked));
  return layout(dash, [{ panels }]).build() as unknown as DashboardJson;
}
