/**
 * GPU dashboard from DCGM exporter: utilization, framebuffer memory, power,
 * temperature and XID errors per GPU, and per inference pod and model. GPU
 * series carry the `namespace`/`pod` of the pod holding the GPU (see the
 * scrape configuration), which joins them with the inference series.
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import { QueryVariableBuilder, VariableRefresh } from '@grafana/grafana-foundation-sdk/dashboard';
import { DCGM } from '../engines/dcgm';
import { Expr, agg, bin, m, sel } from '../promql/ast';
import { SERIES_MODEL_LABEL } from '../monitoring-labels';
import { gpuAlerts } from '../alerts/rules';
import {
  CELSIUS, CODE, DashboardContext, DashboardJson, DashboardStack, MEBIBYTES, PERCENT, PROMETHEUS_DS, WATTS, baseDashboard, dashboardContext, dashboardLinks,
  dashboardTitle, dashboardUid, layout, timeseries,
} from './common';
import { DashboardAlerts } from './panel-alerts';

export const GPU_DASHBOARD_UID = 'inference-gpu';

const byGpu = ['Hostname', 'gpu'];
const nodeMatch = m('Hostname', '=~', '$node');
const gpuSel = (metric: string) => sel(metric, [nodeMatch]);
const podSel = (metric: string) => sel(metric, [m('namespace', '=~', '$namespace'), m('pod', '!=', '')]);

/** Per-model join: GPU series of a pod × the model label of that pod's `up` series (`group` is 1 per pod). */
export function perModel(metric: string, op: 'avg' | 'sum' | 'max'): Expr {
  const models = agg('group', sel('up', [m(SERIES_MODEL_LABEL, '=~', '$model'), m('namespace', '=~', '$namespace')]), ['namespace', 'pod', SERIES_MODEL_LABEL]);
  return agg(op, bin('*', sel(metric, [m('pod', '!=', '')]), models, { on: ['namespace', 'pod'], groupLeft: [SERIES_MODEL_LABEL] }), [SERIES_MODEL_LABEL]);
}

/** The uid of the GPU dashboard (of a stack's: `<base>-<hash>`, see `dashboardUid`). */
export function gpuDashboardUid(stack?: DashboardStack): string {
  return dashboardUid(GPU_DASHBOARD_UID, stack);
}

/** Where a GPU panel's numbers come from. */
const dcgm = (metric: string, unit: string) => `Metric: \`${metric}\` (${unit}) of the DCGM exporter (NVIDIA/dcgm-exporter etc/default-counters.csv).`;

export function gpuDashboard(context: Partial<DashboardContext> = {}): DashboardJson {
  const ctx = dashboardContext(context);
  // The GPU alerts of the stack's rule file (fixed thresholds: the spec has none for GPUs).
  const alerts = new DashboardAlerts(gpuAlerts(), ctx.runbookBaseUrl, ctx.alerts.enabled);
  const xid = alerts.get('GpuXidError');
  const hot = alerts.get('GpuTemperatureHigh');
  type P = { panel: cog.Builder<any>; width?: number; height?: number };
  const perGpu: P[] = [
    { panel: timeseries('GPU utilization', [{ expr: agg('avg', gpuSel(DCGM.utilization), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }], {
      unit: PERCENT, description: `Share of time a kernel ran on each GPU over DCGM's sample period: busy, not how much of the GPU is used. ${dcgm(DCGM.utilization, '%')}` }) },
    { panel: timeseries('Framebuffer memory used', [{ expr: agg('sum', gpuSel(DCGM.framebufferUsed), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }], {
      unit: MEBIBYTES, description: `GPU memory in use on each GPU; inference engines reserve most of it for the KV cache at start, so it stays high when idle. ${dcgm(DCGM.framebufferUsed, 'MiB')}` }) },
    { panel: timeseries('Framebuffer memory free', [{ expr: agg('sum', gpuSel(DCGM.framebufferFree), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }], {
      unit: MEBIBYTES, description: `GPU memory free on each GPU. ${dcgm(DCGM.framebufferFree, 'MiB')}` }) },
    { panel: timeseries('Power draw', [{ expr: agg('sum', gpuSel(DCGM.power), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }], {
      unit: WATTS, description: `Power drawn by each GPU. ${dcgm(DCGM.power, 'W')}` }) },
    { panel: timeseries('Temperature', [{ expr: agg('max', gpuSel(DCGM.temperature), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }], {
      unit: CELSIUS, alert: hot, description: `Core temperature of each GPU. ${dcgm(DCGM.temperature, '°C')}` }) },
    { panel: timeseries('Last XID error', [{ expr: agg('max', gpuSel(DCGM.xid), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }], {
      unit: CODE, alert: xid, description: `Value of the last XID error (0: none): a code, not a count. XID 48, 63, 64, 74, 79, 92, 94, 95 mean the GPU needs attention. ${dcgm(DCGM.xid, 'XID code')}` }) },
  ];
  const perPod: P[] = [
    { panel: timeseries('GPU utilization per inference pod', [{ expr: agg('avg', podSel(DCGM.utilization), ['namespace', 'pod']), legend: '{{namespace}}/{{pod}}' }], {
      unit: PERCENT, description: `GPU utilization averaged over the GPUs each pod holds (the exporter labels a GPU with its pod). ${dcgm(DCGM.utilization, '%')}` }) },
    { panel: timeseries('Framebuffer used per inference pod', [{ expr: agg('sum', podSel(DCGM.framebufferUsed), ['namespace', 'pod']), legend: '{{namespace}}/{{pod}}' }], {
      unit: MEBIBYTES, description: `GPU memory in use, summed over the GPUs each pod holds. ${dcgm(DCGM.framebufferUsed, 'MiB')}` }) },
    { panel: timeseries('GPU utilization per model', [{ expr: perModel(DCGM.utilization, 'avg'), legend: '{{model}}' }], {
      unit: PERCENT, description: `GPU series joined with the model label of the inference pods they serve, averaged per model. ${dcgm(DCGM.utilization, '%')}` }) },
    { panel: timeseries('Power draw per model', [{ expr: perModel(DCGM.power, 'sum'), legend: '{{model}}' }], {
      unit: WATTS, description: `Power drawn by the GPUs of each model's pods, summed. ${dcgm(DCGM.power, 'W')}` }) },
  ];
  const dash = baseDashboard(gpuDashboardUid(ctx.stack), dashboardTitle('Inference GPUs', ctx.stack), ['gpu', 'dcgm'], 'up{model!=""}')
    .withVariable(new QueryVariableBuilder('node').label('Node').datasource(PROMETHEUS_DS)
      .query(`label_values(${DCGM.utilization}, Hostname)`).refresh(VariableRefresh.OnTimeRangeChanged).multi(true).includeAll(true))
    .links(dashboardLinks(true, ctx.linked));
  return layout(dash, [{ title: 'Per GPU', panels: perGpu }, { title: 'Per inference pod and model', panels: perPod }]).build() as unknown as DashboardJson;
}
