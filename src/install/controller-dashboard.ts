/**
 * The controller's own dashboard, shipped with its install: each resource's
 * readiness and reconciles by result, the work queue (depth, wait, retries),
 * reconcile duration, apiserver requests by verb and code, the leader, and
 * memory. Its queries read the names the controller serves (CONTROLLER_METRICS).
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DashboardLinkBuilder, DashboardLinkType, QueryVariableBuilder, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import { CONTROLLER_METRICS as M } from '../controller/metric-names';
import { agg, bin, call, histogramQuantile, m, num, rate, sel } from '../promql/ast';
import {
  BYTES, CONTROLLER_DASHBOARD_TAG, COUNT, DASHBOARD_TAG, DashboardJson, FLAG, OPS_PER_SECOND, PROMETHEUS_DS, RATIO, REQUESTS_PER_SECOND, SECONDS, dashboardSkeleton, layout, shownLink, stat,
  timeseries,
} from '../dashboards/common';
import { DashboardAlerts } from '../dashboards/panel-alerts';
import { DEFAULT_RUNBOOK_BASE_URL } from '../api/schema';
import { controllerAlertDefinitions } from './controller-rules';

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

export interface ControllerDashboardOptions {
  /** Base of the runbook links (as the install's alerts). @default DEFAULT_RUNBOOK_BASE_URL */
  readonly runbookBaseUrl?: string;
}

/** Where the controller's numbers come from. */
const served = (...metrics: string[]) => `${metrics.length > 1 ? 'Metrics' : 'Metric'}: ${metrics.map((x) => `\`${x}\``).join(', ')}, served by the controller on /metrics.`;

export function controllerDashboard(opts: ControllerDashboardOptions = {}): DashboardJson {
  type P = { panel: cog.Builder<any>; width?: number; height?: number };
  // The install's own alerts (controller-rules.ts): the panels on their signals draw their thresholds.
  const alerts = new DashboardAlerts(controllerAlertDefinitions(), opts.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL);
  const noLeader = alerts.get('InferenceMonitoringControllerNoLeader');
  const notReady = alerts.get('InferenceMonitoringNotReady');
  const failing = alerts.get('InferenceMonitoringReconcileFailing');
  const stuck = alerts.get('InferenceMonitoringWorkQueueGrowing');
  const resources: P[] = [
    { panel: stat('Resources', { expr: agg('count', ready), legend: 'resources' }, {
      unit: COUNT, description: `InferenceMonitoring resources the controller holds in its cache. ${served(M.resourceReady)}` }), width: 6, height: 4 },
    { panel: stat('Ready', { expr: agg('sum', ready), legend: 'ready' }, {
      unit: COUNT, related: [notReady], description: `Resources whose Ready condition is True; compare with Resources. ${served(M.resourceReady)}` }), width: 6, height: 4 },
    { panel: stat('Leader', { expr: bin('or', agg('sum', sel(M.leader)), call('vector', num(0))), legend: 'leaders' }, {
      unit: COUNT, alert: noLeader, description: `Replicas holding the Lease: 1 is healthy, 0 means nothing is reconciled. ${served(M.leader)}` }), width: 6, height: 4 },
    { panel: stat('Work queue depth', { expr: agg('max', sel(M.depth)), legend: 'keys' }, {
      unit: COUNT, related: [stuck], description: `Keys waiting for a worker now; a short burst after changes is normal, the alert is on keys waiting through 15 minutes. ${served(M.depth)}` }), width: 6, height: 4 },
    { panel: timeseries('Ready per resource', [{ expr: ready, legend: '{{resource_namespace}}/{{resource_name}}' }], {
      unit: FLAG, alert: notReady, description: `1: Ready=True, 0: not Ready (the Degraded and Progressing conditions say why). ${served(M.resourceReady)}` }) },
    { panel: timeseries('Reconciles per resource by result', [{ expr: agg('sum', rate(sel(M.resourceReconciles, ofNs, W)), [...BY_RESOURCE, 'result']), legend: '{{resource_namespace}}/{{resource_name}} {{result}}' }], {
      unit: OPS_PER_SECOND, related: [failing],
      description: `success: every object applied; failed: objects not applied or the spec invalid; error: the pass threw and was retried with back-off. ${served(M.resourceReconciles)}` }) },
  ];
  const queue: P[] = [
    { panel: timeseries('Work queue depth', [{ expr: agg('max', sel(M.depth), ['instance']), legend: '{{instance}}' }], {
      unit: COUNT, related: [stuck], description: `Keys waiting for a worker, per replica. ${served(M.depth)}` }) },
    { panel: timeseries('Time waiting in the queue', quantiles(M.queueWait), {
      unit: SECONDS, description: `From a change (or resync) to a worker taking the key: p50 and p99. ${served(M.queueWait)}` }) },
    { panel: timeseries('Reconcile duration', quantiles(M.duration), {
      unit: SECONDS, description: `Time one reconcile pass takes (render, apply, status): p50 and p99. ${served(M.duration)}` }) },
    { panel: timeseries('Reconciles and retries', [
      { expr: agg('sum', rate(sel(M.reconciles, [], W)), ['result']), legend: '{{result}}' },
      { expr: agg('sum', rate(sel(M.retries, [], W))), legend: 'retried with back-off' },
    ], { unit: OPS_PER_SECOND, related: [failing], description: `Reconciles per second by result, and keys re-queued with back-off after an error. ${served(M.reconciles, M.retries)}` }) },
  ];
  const api: P[] = [
    { panel: timeseries('Apiserver requests by verb and code', [{ expr: agg('sum', rate(sel(M.apiRequests, [], W)), ['verb', 'code']), legend: '{{verb}} {{code}}' }], {
      unit: REQUESTS_PER_SECOND, description: `Requests the controller sends the apiserver, by Kubernetes verb and HTTP status ("error": no response). ${served(M.apiRequests)}` }) },
    { panel: timeseries('Apiserver responses other than 2xx', [{
      // `or vector(0)`: no failed request is 0, not "No data".
      expr: bin('/', bin('or', agg('sum', rate(sel(M.apiRequests, [m('code', '!~', '2..')], W))), call('vector', num(0))), agg('sum', rate(sel(M.apiRequests, [], W)))),
      legend: 'share' }], {
      unit: RATIO, description: `Share of apiserver responses that are not 2xx. 404 on a get of a child not created yet is normal; 403 means the install's ClusterRole lacks a verb, 409/422 a conflict or a rejected object. ${served(M.apiRequests)}` }) },
  ];
  const proc: P[] = [
    { panel: timeseries('Leader per replica', [{ expr: agg('max', sel(M.leader), ['instance']), legend: '{{instance}}' }], {
      unit: FLAG, related: [noLeader], description: `1 on the replica holding the Lease; the alert fires when no replica holds it. ${served(M.leader)}` }) },
    { panel: timeseries('Memory', [
      { expr: agg('max', sel('process_resident_memory_bytes', job), ['instance']), legend: '{{instance}} RSS' },
      { expr: agg('max', sel('nodejs_heap_size_used_bytes', job), ['instance']), legend: '{{instance}} V8 heap used' },
    ], { unit: BYTES, description: `Resident memory and V8 heap in use per replica (prom-client's process metrics, job ${CONTROLLER_JOB}). The install limits the container to 256 MiB and V8's old space to 192 MiB.` }) },
  ];
  const dash = dashboardSkeleton(CONTROLLER_DASHBOARD_UID, 'Inference monitoring controller', [CONTROLLER_DASHBOARD_TAG])
    .withVariable(new QueryVariableBuilder('namespace').label('Resource namespace').datasource(PROMETHEUS_DS)
      .query(`label_values(${M.resourceReady}, resource_namespace)`).refresh(VariableRefresh.OnTimeRangeChanged).sort(VariableSort.AlphabeticalAsc).multi(true).includeAll(true))
    // Every stack's dashboards: one controller serves them all (their uids carry each stack's hash, their tag is shared).
    .link(shownLink(new DashboardLinkBuilder('Inference dashboards').type(DashboardLinkType.Dashboards).tags([DASHBOARD_TAG]).asDropdown(true)
      .includeVars(false).keepTime(true).targetBlank(false).icon('dashboard').tooltip('The serving, GPU and benchmark dashboards of every stack')));
  return layout(dash, [
    { title: 'Resources', panels: resources },
    { title: 'Work queue and reconciles', panels: queue },
    { title: 'Apiserver', panels: api },
    { title: 'Process', panels: proc },
  ]).build() as unknown as DashboardJson;
}
