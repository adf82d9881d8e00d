/**
 * Alerts on the controller itself, shipped with its install (a
 * PrometheusRule in dist/1-controller.k8s.yaml): a resource that keeps
 * failing to reconcile, a resource not Ready for too long, no replica
 * leading, a work queue that never drains. Built from the metric names the
 * controller serves (CONTROLLER_METRICS).
 */
import { CONTROLLER_METRICS as M } from '../controller/metric-names';
import { RuleGroup } from '../prometheus/config-types';
import { agg, bin, call, increase, m, num, sel } from '../promql/ast';
import { DEFAULT_RUNBOOK_BASE_URL } from '../api/schema';
import { AlertDefinition, toRule, withRunbooks } from '../alerts/rules';

const BY_RESOURCE = ['resource_namespace', 'resource_name'];

export interface ControllerAlertOptions {
  /** Base of each alert's `runbook_url`. @default DEFAULT_RUNBOOK_BASE_URL */
  readonly runbookBaseUrl?: string;
}

/** The controller's alerts as signal, comparison and threshold, like the engines' (see AlertDefinition). */
export function controllerAlertDefinitions(): AlertDefinition[] {
  return [
    {
      alert: 'InferenceMonitoringReconcileFailing',
      signal: agg('sum', increase(sel(M.resourceReconciles, [m('result', '=~', 'failed|error')], '15m')), BY_RESOURCE),
      op: '>', threshold: 0, for: '15m', severity: 'warning',
      summary: 'An InferenceMonitoring keeps failing to reconcile',
      description: '{{ $labels.resource_namespace }}/{{ $labels.resource_name }} failed {{ $value | humanize }} reconciles in the last 15 minutes (objects not applied, an invalid spec, or apiserver errors); its Degraded condition says which object and why.',
    },
    {
      alert: 'InferenceMonitoringNotReady',
      // Every replica reports each resource from its cache: max, so a standby does not double it.
      signal: agg('max', sel(M.resourceReady), BY_RESOURCE),
      op: '==', threshold: 0, for: '30m', severity: 'warning',
      summary: 'An InferenceMonitoring has not been Ready for 30 minutes',
      description: '{{ $labels.resource_namespace }}/{{ $labels.resource_name }} has had Ready != True for 30 minutes (ready = {{ $value | humanize }}): a model has no ready replica, or objects were not applied.',
    },
    {
      alert: 'InferenceMonitoringControllerNoLeader',
      // `or vector(0)`: no replica scraped at all is no leader too.
      signal: bin('or', agg('sum', sel(M.leader)), call('vector', num(0))),
      op: '<', threshold: 1, for: '5m', severity: 'critical',
      summary: 'No inference-monitoring controller replica is leading',
      description: '{{ $value | humanize }} replicas of the inference-monitoring controller hold its Lease (or none is scraped): no InferenceMonitoring is reconciled, hand edits and deleted children are not repaired.',
    },
    {
      alert: 'InferenceMonitoringWorkQueueGrowing',
      signal: agg('max', call('min_over_time', sel(M.depth, [], '15m'))),
      op: '>', threshold: 0, for: '5m', severity: 'warning',
      summary: 'The controller\'s work queue has not drained for 15 minutes',
      description: 'At least {{ $value | humanize }} keys have waited in the inference-monitoring controller\'s work queue throughout the last 15 minutes: changes to resources are applied late.',
    },
  ];
}

export function controllerRuleGroup(opts: ControllerAlertOptions = {}): RuleGroup {
  const [group] = withRunbooks([{ name: 'inference-monitoring.controller', rules: controllerAlertDefinitions().map(toRule) }], opts.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL);
  return group;
}
