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
import { DashboardJson, DashboardStack, PROMETHEUS_DS, Target, baseDashboard, dashboardTitle, dashboardUid, dashboardScope, layout, timeseries } from './common';

export const LMDEPLOY_DASHBOARD_UID = 'inference-lmdeploy';
const RANK = lmdeploy.rankLabel!;

export function lmdeployDashboard(versions: readonly string[], stack?: DashboardStack): DashboardJson {
  const base = dashboardScope(lmdeploy.engine);
  const scope: QueryScope = { ...base, matchers: [...base.matchers, m(RANK, '=~', '$rank')] };
  const alts = (s: SignalName) => signalAlternatives(lmdeploy, s, versions);
  const latency = (s: SignalName, title: string): { panel: cog.Builder<any> } => ({
    panel: timeseries(title, 's', [
      ...[0.99, 0.95, 0.9, 0.5].map((q): Target => ({ expr: recordedQuantile(s, alts(s), q, scope, ['model']), legend: `P${Math.round(q * 100)} {{model}}` })),
      { expr: recordedMean(s, alts(s), scope, ['model']), legend: 'Mean {{model}}' },
    ]),
  });
  const finished = alts('requestsFinished')[0];
  const perRank = ['model', 'pod', RANK];
  const panels = [
    latency('e2eLatency', 'E2E Request Latency'),
    { panel: timeseries('Token Throughput', 'short', [
      { expr: counterRate(alts('promptTokens'), scope, ['model']), legend: 'Prompt tokens/s {{model}}' },
      { expr: counterRate(alts('generationTokens'), scope, ['model']), legend: 'Generation tokens/s {{model}}' },
    ]) },
    latency('timePerOutputToken', 'Time Per Output Token Latency'),
    latency('interTokenLatency', 'Inter-Token Latency'),
    { panel: timeseries('Scheduler Stats per DP rank', 'short', [
      { expr: gaugeTotal(lmdeploy, alts('requestsRunning'), scope, perRank), legend: 'Running {{pod}} rank {{engine}}' },
      { expr: gaugeTotal(lmdeploy, alts('requestsWaiting'), scope, perRank), legend: 'Waiting {{pod}} rank {{engine}}' },
    ], 'One series per data-parallel rank: each rank runs its own API server with its own /metrics.') },
    latency('ttft', 'Time To First Token Latency'),
    { panel: timeseries('Cache Utilization per DP rank', 'percentunit', [{ expr: gaugeMax(alts('kvCacheUsage'), scope, perRank), legend: '{{pod}} rank {{engine}}' }]) },
    { panel: timeseries('Requests per DP rank', 'reqps', [{ expr: counterRate(alts('requestsFinished'), scope, perRank), legend: '{{pod}} rank {{engine}}' }], 'Finished requests per second on each rank: shows how the proxy balances load.') },
    { panel: timeseries('Finish Reason', 'short', [{ expr: agg('sum', increase(sel(finished.metric, scope.matchers, scope.window)), [finished.reasonLabel!]), legend: `{{${finished.reasonLabel}}}` }]) },
    { panel: timeseries('Queue Time', 's', [
      { expr: recordedMean('queueTime', alts('queueTime'), scope, ['model']), legend: 'Mean {{model}}' },
      { expr: recordedQuantile('queueTime', alts('queueTime'), 0.95, scope, ['model']), legend: 'P95 {{model}}' },
    ]) },
  ];
  const running = alts('requestsRunning')[0].metric;
  const dash = baseDashboard(dashboardUid(LMDEPLOY_DASHBOARD_UID, stack), dashboardTitle('LMDeploy', stack), ['lmdeploy'], `${running}{inference_engine="lmdeploy"}`)
    .withVariable(new QueryVariableBuilder('rank').label('DP rank').datasource(PROMETHEUS_DS)
      .query(`label_values(${running}{inference_engine="lmdeploy", namespace=~"$namespace", model=~"$model"}, ${RANK})`)
      .refresh(VariableRefresh.OnTimeRangeChanged).multi(true).includeAll(true));
  return layout(dash, [{ panels }]).build() as unknown as DashboardJson;
}
