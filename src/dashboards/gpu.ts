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
import { DashboardJson, DashboardStack, PROMETHEUS_DS, baseDashboard, dashboardTitle, dashboardUid, layout, timeseries } from './common';

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

export function gpuDashboard(stack?: DashboardStack): DashboardJson {
  type P = { panel: cog.Builder<any>; width?: number; height?: number };
  const perGpu: P[] = [
    { panel: timeseries('GPU utilization', 'percent', [{ expr: agg('avg', gpuSel(DCGM.utilization), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }]) },
    { panel: timeseries('Framebuffer memory used', 'decmbytes', [{ expr: agg('sum', gpuSel(DCGM.framebufferUsed), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }]) },
    { panel: timeseries('Framebuffer memory free', 'decmbytes', [{ expr: agg('sum', gpuSel(DCGM.framebufferFree), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }]) },
    { panel: timeseries('Power draw', 'watt', [{ expr: agg('sum', gpuSel(DCGM.power), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }]) },
    { panel: timeseries('Temperature', 'celsius', [{ expr: agg('max', gpuSel(DCGM.temperature), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }]) },
    { panel: timeseries('Last XID error', 'none', [{ expr: agg('max', gpuSel(DCGM.xid), byGpu), legend: '{{Hostname}} GPU {{gpu}}' }], 'Value of the last XID error (0: none). XID 48, 63, 64, 74, 79, 92, 94, 95 mean the GPU needs attention.') },
  ];
  const perPod: P[] = [
    { panel: timeseries('GPU utilization per inference pod', 'percent', [{ expr: agg('avg', podSel(DCGM.utilization), ['namespace', 'pod']), legend: '{{namespace}}/{{pod}}' }]) },
    { panel: timeseries('Framebuffer used per inference pod', 'decmbytes', [{ expr: agg('sum', podSel(DCGM.framebufferUsed), ['namespace', 'pod']), legend: '{{namespace}}/{{pod}}' }]) },
    { panel: timeseries('GPU utilization per model', 'percent', [{ expr: perModel(DCGM.utilization, 'avg'), legend: '{{model}}' }], 'GPU series joined with the model label of the inference pods they serve.') },
    { panel: timeseries('Power draw per model', 'watt', [{ expr: perModel(DCGM.power, 'sum'), legend: '{{model}}' }]) },
  ];
  const dash = baseDashboard(dashboardUid(GPU_DASHBOARD_UID, stack), dashboardTitle('Inference GPUs', stack), ['gpu', 'dcgm'], 'up{model!=""}')
    .withVariable(new QueryVariableBuilder('node').label('Node').datasource(PROMETHEUS_DS)
      .query(`label_values(${DCGM.utilization}, Hostname)`).refresh(VariableRefresh.OnTimeRangeChanged).multi(true).includeAll(true));
  return layout(dash, [{ title: 'Per GPU', panels: perGpu }, { title: 'Per inference pod and model', panels: perPod }]).build() as unknown as DashboardJson;
}
