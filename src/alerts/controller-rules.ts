/**
 * Alerts on the controller itself, shipped with its install (a
 * PrometheusRule in dist/1-controller.k8s.yaml): a resource that keeps
 * failing to reconcile, a resource not Ready for too long, no replica
 * leading, a work queue that never drains. Built from the metric names the
 * controller serves (CONTROLLER_METRICS).
 */
import { CONTROLLER_METRICS as M } from '../controller/metrics';
import { AlertingRule, RuleGroup } from '../prometheus/config-types';
import { agg, bin, call, increase, m, num, print, sel } from '../promql/ast';
import { DEFAULT_RUNBOOK_BASE_URL } from '../spec/schema';
import { runbookUrl } from './rules';

const BY_RESOURCE = ['resource_namespace', 'resource_name'];

export interface ControllerAlertOptions {
  /** Base of each alert's `runbook_url`. @default DEFAULT_RUNBOOK_BASE_URL */
  readonly runbookBaseUrl?: string;
}

/** The signal under each alert (its expression without the threshold), for the dashboard test. */
export const CONTROLLER_ALERT_SIGNALS = {
  InferenceMonitoringReconcileFailing: agg('sum', increase(sel(M.resourceReconciles, [m('result', '=~', 'failed|error')], '15m')), BY_RESOURCE),
  // Every replica reports each resource from its cache: max, so a standby does not double it.
  InferenceMonitoringNotReady: agg('max', sel(M.resourceReady), BY_RESOURCE),
  // `or vector(0)`: no replica scraped at all is no leader too.
  InferenceMonitoringControllerNoLeader: bin('or', agg('sum', sel(M.leader)), call('vector', num(0))),
  InferenceMonitoringWorkQueueGrowing: agg('max', call('min_over_time', sel(M.depth, [], '15m'))),
} as const;

export function controllerAlerts(opts: ControllerAlertOptions = {}): AlertingRule[] {
  const s = CONTROLLER_ALERT_SIGNALS;
  const rules: AlertingRule[] = [
    {
      alert: 'InferenceMonitoringReconcileFailing',
      expr: print(bin('>', s.InferenceMonitoringReconcileFailing, num(0))),
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'An InferenceMonitoring keeps failing to reconcile',
        description: '{{ $labels.resource_namespace }}/{{ $labels.resource_name }} failed {{ $value | humanize }} reconciles in the last 15 minutes (objects not applied, an invalid spec, or apiserver errors); its Degraded condition says which object and why.',
      },
    },
    {
      alert: 'InferenceMonitoringNotReady',
      expr: print(bin('==', s.InferenceMonitoringNotReady, num(0))),
      for: '30m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'An InferenceMonitoring has not been Ready for 30 minutes',
        description: '{{ $labels.resource_namespace }}/{{ $labels.resource_name }} has had Ready != True for 30 minutes (ready = {{ $value | humanize }}): a model has no ready replica, or objects were not applied.',
      },
    },
    {
      alert: 'InferenceMonitoringControllerNoLeader',
      expr: print(bin('<', s.InferenceMonitoringControllerNoLeader, num(1))),
      for: '5m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'No inference-monitoring controller replica is leading',
        description: '{{ $value | humanize }} replicas of the inference-monitoring controller hold its Lease (or none is scraped): no InferenceMonitoring is reconciled, hand edits and deleted children are not repaired.',
      },
    },
    {
      alert: 'InferenceMonitoringWorkQueueGrowing',
      expr: print(bin('>', s.InferenceMonitoringWorkQueueGrowing, num(0))),
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'The controller\'s work queue has not drained for 15 minutes',
        description: 'At least {{ $value | humanize }} keys have waited in the inference-monitoring controller\'s work queue throughout the last 15 minutes: changes to resources are applied late.',
      },
    },
  ];
  const base = opts.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL;
  return rules.map((r) => ({ ...r, annotations: { ...r.annotations, runbook_url: runbookUrl(base, r.alert) } }));
}

export function controllerRuleGroup(opts: ControllerAlertOptions = {}): RuleGroup {
  return { name: 'inference-monitoring.controller', rules: controllerAlerts(opts) };
}
