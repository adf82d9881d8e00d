/**
 * The controller's permissions, as data: the install manifests are generated
 * from it, and a test (test/cluster/controller.test.ts, "RBAC audit") fails on
 * wildcards and on any verb the controller never sends. Children are read by
 * list+watch, and by `get` once before creating one (an object of that name that
 * is not its own is never taken over); server-side apply is `patch`, or `create`
 * for an object that does not exist yet.
 */
export interface PolicyRule { readonly apiGroups: string[]; readonly resources: string[]; readonly verbs: string[] }

export const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'];

export const CONTROLLER_CLUSTER_RULES: readonly PolicyRule[] = [
  { apiGroups: ['monitoring.inference.dev'], resources: ['inferencemonitorings'], verbs: ['list', 'watch', 'patch'] },
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
  { apiGroups: ['leaderworkerset.x-k8s.io'], resources: ['leaderworkersets'], verbs: CHILD_VERBS },
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  // Namespaces' opt-in annotation, checked before writing there for another namespace's resource: watched,
  // so granting or withdrawing it takes effect at once rather than at the next resync.
  { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
];

/** Leader election, in the controller's own namespace only. */
export const CONTROLLER_LEASE_RULES: readonly PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] },
];

/**
 * Permissions the controller holds but never sends a request for, and why.
 * The RBAC audit accepts exactly these and nothing else.
 */
export const HELD_WITHOUT_REQUEST: ReadonlyArray<{ readonly permission: string; readonly reason: string }> = [
  ...['get', 'list', 'watch'].map((verb) => ({ permission: `${verb} /pods`, reason: 'RBAC escalation prevention: the discovery Roles it creates grant Prometheus these verbs, and a Role can only grant what its creator holds' })),
  { permission: 'update monitoring.inference.dev/inferencemonitorings/finalizers', reason: 'OwnerReferencesPermissionEnforcement admission: children set blockOwnerDeletion on their owner' },
];
