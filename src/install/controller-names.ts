import { PART_OF } from '../names';

/** Name of the controller's objects (Deployment, ServiceAccount, RBAC, Service, ServiceMonitor, PrometheusRule). */
export const CONTROLLER_NAME = 'inference-monitoring-controller';

/** Labels of every object of the controller's install; the Service and the ServiceMonitor select by them. */
export const CONTROLLER_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': CONTROLLER_NAME, 'app.kubernetes.io/part-of': PART_OF, 'app.kubernetes.io/component': 'controller',
};
