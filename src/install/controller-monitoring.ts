import { Construct } from 'constructs';
import { ServiceMonitor } from '../imports/monitoring.coreos.com';
import { StackPrometheusRule } from '../constructs/stack-prometheus-rule';
import { controllerRuleGroup } from './controller-rules';
import { CONTROLLER_LABELS, CONTROLLER_NAME } from './controller-names';

/**
 * Annotation on the objects that need prometheus-operator's CRDs, saying so where Argo CD, `kubectl get -o yaml` and
 * a reviewer of dist/3-controller-monitoring.k8s.yaml see it.
 */
export const OPTIONAL_ANNOTATION = 'monitoring.inference.dev/optional';
export const OPTIONAL_REASON = 'needs the prometheus-operator CRDs (monitoring.coreos.com/v1 ServiceMonitor and PrometheusRule, '
  + 'e.g. from kube-prometheus-stack); apply it only where they are installed: the controller runs without it';

/** The kinds of prometheus-operator's CRDs these objects are. */
export const CONTROLLER_MONITORING_KINDS: ReadonlyArray<{ readonly apiVersion: string; readonly kind: string }> = [
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' },
];

export interface ControllerMonitoringProps {
  /** Namespace the controller runs in. */
  readonly namespace: string;
  /** `release` label of the ServiceMonitor and PrometheusRule, for kube-prometheus-stack. @default 'kube-prometheus-stack' */
  readonly release?: string;
  /** Base of the controller alerts' `runbook_url`. @default DEFAULT_RUNBOOK_BASE_URL */
  readonly runbookBaseUrl?: string;
}

/**
 * The controller's monitoring by prometheus-operator: a ServiceMonitor for its /metrics and a PrometheusRule with its
 * alerts. Optional: these are instances of prometheus-operator's CRDs, which a cluster without kube-prometheus-stack
 * lacks, and neither the controller nor the stacks it renders in the default (managed) mode need them. They are
 * therefore kept apart from the install that must apply everywhere (dist/3-controller-monitoring.k8s.yaml, its own
 * Argo CD Application; a condition in the Helm chart).
 */
export class ControllerMonitoring extends Construct {
  constructor(scope: Construct, id: string, props: ControllerMonitoringProps) {
    super(scope, id);
    const ns = props.namespace;
    const release = props.release ?? 'kube-prometheus-stack';
    const metadata = { name: CONTROLLER_NAME, namespace: ns, labels: { ...CONTROLLER_LABELS, release }, annotations: { [OPTIONAL_ANNOTATION]: OPTIONAL_REASON } };
    new ServiceMonitor(this, 'service-monitor', {
      metadata,
      spec: { selector: { matchLabels: { ...CONTROLLER_LABELS } }, endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }] },
    });
    const rule = new StackPrometheusRule(this, 'rules', { name: CONTROLLER_NAME, namespace: ns, labels: metadata.labels, rules: { groups: [controllerRuleGroup({ runbookBaseUrl: props.runbookBaseUrl })] } });
    rule.resource.metadata.addAnnotation(OPTIONAL_ANNOTATION, OPTIONAL_REASON);
  }
}
