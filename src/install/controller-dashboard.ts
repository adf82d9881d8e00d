/**
 * The controller's own dashboard, shipped with its install: each resource's
 * readiness and reconciles by result, the work queue (depth, wait, retries),
 * reconcile duration, apiserver requests by verb and code, the leader, and
 * memory. Its queries read the names the controller serves (CONTROLLER_METRICS).
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import { QueryVariableBuilder, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import { CONTROLLER_METRICS as M } from '../controller/metric-names';
import { agg, bin, call, histogramQuantile, m, num, rate, sel } from '../promql/ast';
import { DashboardJson, PROMETHEUS_DS, dashboardSkeleton, layout, stat, timeseries } from '../dashboards/common';

export const CONTROLLER_DASHBOARD_UID = 'inference-controller';
/** The job the install's ServiceMonitor gives the controller (its Service's name): scopes the process metrics every Node.js exporter has. */
export const CONTROLLER_JOB = 'inference-monitoring-controller';

const W = '$__rate_interval';
const ofNs = [m('resource_namespace', '=~', '$namespace')];
const BY_RESOURCE = ['resource_namespace', 'resource_name'];
const job = [m('job', '=', CONTROLLER_JOB)];
const ready = agg('max', sel(M.resourceReady, ofNs), BY_RESOURCE);
const quantiles = (metric: string) => [0.5, 0.99].map((q) => ({
  expr: histogramQuantile(q, agg('sum', rate(sel(`${metric}_bucket`, [], W)), ['le'])), legend: `p${q * 100}`,
}));

export function controllerDashboard(): DashboardJson {
  type P = { panel: cog.Builder<any>; width?: number; height?: number };
  const resources: P[] = [
    { panel: stat('Resources', 'none', { expr: agg('count', ready), legend: 'resources' }, 'InferenceMonitoring resources the controller holds in its cache.'), width: 6, height: 4 },
    { panel: stat('Ready', 'none', { expr: agg('sum', ready), legend: 'ready' }, 'Resources whose Ready condition is True.'), width: 6, height: 4 },
    { panel: stat('Leader', 'none', { expr: bin('or', agg('sum', sel(M.leader)), call('vector', num(0))), legend: 'leaders' }, 'Replicas holding the Lease: 1 is healthy, 0 means nothing is reconciled.'), width: 6, height: 4 },
    { panel: stat('Work queue depth', 'none', { expr: agg('max', sel(M.depth)), legend: 'keys' }), width: 6, height: 4 },
    { panel: timeseries('Ready per resource', 'none', [{ expr: ready, legend: '{{resource_namespace}}/{{resource_name}}' }], '1: Ready=True, 0: not Ready (the Degraded and Progressing conditions say why).') },
    { panel: timeseries('Reconciles per resource by result', 'ops', [{ expr: agg('sum', rate(sel(M.resourceReconciles, ofNs, W)), [...BY_RESOURCE, 'result']), legend: '{{resource_namespace}}/{{resource_name}} {{result}}' }],
      'success: every object applied; failed: objects not applied or the spec invalid; error: the pass threw and was retried with back-off.') },
  ];
  const queue: P[] = [
    { panel: timeseries('Work queue depth', 'none', [{ expr: agg('max', sel(M.depth), ['instance']), legend: '{{instance}}' }]) },
    { panel: timeseries('Time waiting in the queue', 's', quantiles(M.queueWait), 'From a change (or resync) to a worker taking the key.') },
    { panel: timeseries('Reconcile duration', 's', quantiles(M.duration)) },
    { panel: timeseries('Reconciles and retries', 'ops', [
      { expr: agg('sum', rate(sel(M.reconciles, [], W)), ['result']), legend: '{{result}}' },
      { expr: agg('sum', rate(sel(M.retries, [], W))), legend: 'retried with back-off' },
    ]) },
  ];
  const api: P[] = [
    { panel: timeseries('Apiserver requests by verb and code', 'reqps', [{ expr: agg('sum', rate(sel(M.apiRequests, [], W)), ['verb', 'code']), legend: '{{verb}} {{code}}' }]) },
    { panel: timeseries('Apiserver responses other than 2xx', 'percentunit', [{
      // `or vector(0)`: no failed request is 0, not "No data".
      expr: bin('/', bin('or', agg('sum', rate(sel(M.apiRequests, [m('code', '!~', '2..')], W))), call('vector', num(0))), agg('sum', rate(sel(M.apiRequests, [], W)))),
      legend: 'share' }], '404 on a get of a child not created yet is normal; 403 means the install\'s ClusterRole lacks a verb, 409/422 a conflict or a rejected object.') },
  ];
  const proc: P[] = [
    { panel: timeseries('Leader per replica', 'none', [{ expr: agg('max', sel(M.leader), ['instance']), legend: '{{instance}}' }]) },
    { panel: timeseries('Memory', 'bytes', [
      { expr: agg('max', sel('process_resident_memory_bytes', job), ['instance']), legend: '{{instance}} RSS' },
      { expr: agg('max', sel('nodejs_heap_size_used_bytes', job), ['instance']), legend: '{{instance}} V8 heap used' },
    ], 'The install limits the container to 256 MiB and V8\'s old space to 192 MiB.') },
  ];
  const dash = dashboardSkeleton(CONTROLLER_DASHBOARD_UID, 'Inference monitoring controller', ['controller'])
    .withVariable(new QueryVariableBuilder('namespace').label('Resource namespace').datasource(PROMETHEUS_DS)
      .query(`label_values(${M.resourceReady}, resource_namespace)`).refresh(VariableRefresh.OnTimeRangeChanged).sort(VariableSort.AlphabeticalAsc).multi(true).includeAll(true));
  return layout(dash, [
    { title: 'Resources', panels: resources },
    { title: 'Work queue and reconciles', panels: queue },
    { title: 'Apiserver', panels: api },
    { title: 'Process', panels: proc },
  ]).build() as unknown as DashboardJson;
}
