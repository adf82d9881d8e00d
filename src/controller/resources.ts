/**
 * The kinds the controller reads and writes, with their REST paths. Static
 * data instead of discovery: the set is exactly what the constructs emit.
 */
export interface ResourceKind {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

export const INFERENCE_MONITORING: ResourceKind = { apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', plural: 'inferencemonitorings', namespaced: true };

/** Watched for the opt-in annotation a namespace needs before the controller writes into it for another namespace's resource. */
export const NAMESPACE: ResourceKind = { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };

/** Every kind a stack can contain, in apply order (config before workloads). */
export const OWNED_KINDS: readonly ResourceKind[] = [
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true },
  // Models whose replicas span several pods; the API exists only where LeaderWorkerSet is installed.
  { apiVersion: 'leaderworkerset.x-k8s.io/v1', kind: 'LeaderWorkerSet', plural: 'leaderworkersets', namespaced: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', plural: 'podmonitors', namespaced: true },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', plural: 'prometheusrules', namespaced: true },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus', plural: 'prometheuses', namespaced: true },
  { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', plural: 'scaledobjects', namespaced: true },
];

export function kindOf(apiVersion: string, kind: string): ResourceKind {
  const k = [INFERENCE_MONITORING, ...OWNED_KINDS].find((x) => x.apiVersion === apiVersion && x.kind === kind);
  if (!k) throw new Error(`the controller does not manage ${apiVersion} ${kind}`);
  return k;
}

/** `/api/v1/namespaces/ns/configmaps[/name]` or `/apis/group/version/...`. */
export function resourcePath(k: ResourceKind, namespace?: string, name?: string): string {
  const base = k.apiVersion.includes('/') ? `/apis/${k.apiVersion}` : `/api/${k.apiVersion}`;
  const ns = k.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${k.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
