/**
 * The controller's permissions, as data: the install manifests are generated
 * from it and a test checks it has no wildcards. Server-side apply needs
 * `patch` and, for objects that do not exist yet, `create`.
 */
export interface PolicyRule { readonly apiGroups: string[]; readonly resources: string[]; readonly verbs: string[] }

const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'];

export const CONTROLLER_CLUSTER_RULES: readonly PolicyRule[] = [
  { apiGroups: ['monitoring.inference.dev'], resources: ['inferencemonitorings'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['monitoring.inference.dev'], resources: ['inferencemonitorings/status'], verbs: ['patch'] },
  // Owner references with blockOwnerDeletion need update on the owner's finalizers.
  { apiGroups: ['monitoring.inference.dev'], resources: ['inferencemonitorings/finalizers'], verbs: ['update'] },
  { apiGroups: [''], resources: ['configmaps', 'services', 'serviceaccounts', 'persistentvolumeclaims'], verbs: CHILD_VERBS },
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: CHILD_VERBS },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: CHILD_VERBS },
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: CHILD_VERBS },
  // The Roles it creates grant Prometheus read access to pods; RBAC only lets it grant what it holds.
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['monitoring.coreos.com'], resources: ['podmonitors', 'prometheusrules', 'prometheuses'], verbs: CHILD_VERBS },
  { apiGroups: ['keda.sh'], resources: ['scaledobjects'], verbs: CHILD_VERBS },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
];

/** Leader election, in the controller's own namespace only. */
export const CONTROLLER_LEASE_RULES: readonly PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] },
];
