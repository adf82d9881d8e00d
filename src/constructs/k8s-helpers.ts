/**
 * Small helpers shared by the constructs: Pod Security `restricted` settings,
 * quantities patched in as written, and checksums that roll pods when their
 * configuration changes.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { createHash } from 'crypto';

/** Container settings that satisfy Pod Security Standards `restricted`. */
export function restrictedContainer(uid: number, readOnlyRootFilesystem = true): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    user: uid,
    group: uid,
    readOnlyRootFilesystem,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: [kplus.Capability.ALL] },
    seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
  };
}

export interface ResourceQuantities {
  readonly cpu?: string;
  readonly memory?: string;
  readonly [resource: string]: string | undefined;
}

/**
 * Sets a container's requests and limits exactly as written (`64Gi` stays `64Gi`).
 * cdk8s-plus re-spells quantities (`65536Mi`) and knows no extended resources;
 * its typed serializer reads every quantity as `.value`, hence the wrapping.
 */
export function setResources(obj: ApiObject, containerPath: string, requests: ResourceQuantities, limits: ResourceQuantities): void {
  const wrap = (q: ResourceQuantities) => Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => [k, { value: v }]));
  obj.addJsonPatch(JsonPatch.replace(`${containerPath}/resources`, { requests: wrap(requests), limits: wrap(limits) }));
}

/** Stable short digest of configuration content, for pod-template annotations. */
export function checksum(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\u0000');
  return h.digest('hex').slice(0, 16);
}

/** Annotation that changes when mounted configuration changes, so the pods roll. */
export const CONFIG_CHECKSUM_ANNOTATION = 'monitoring.inference.dev/config-checksum';

export interface SingleReplicaStatefulSetProps {
  /** Name of the StatefulSet and of its governing Service. */
  readonly name: string;
  /** Namespace of both. */
  readonly namespace: string;
  /** Labels of both and of the pod. */
  readonly labels: Record<string, string>;
  /** Pod selector of both. */
  readonly selector: Record<string, string>;
  /** The one port the Service exposes, named `http`. */
  readonly port: number;
  /** The rest of the StatefulSet (service account, pod annotations, security context, grace period). */
  readonly statefulSet: Omit<kplus.StatefulSetProps, 'metadata' | 'service' | 'select' | 'replicas'>;
}

/**
 * One replica of a stateful component (Prometheus, Alertmanager) behind a headless Service: it is the
 * StatefulSet's governing Service (stable pod DNS), and with one replica no load balancing is lost.
 * Created in `scope` as `Service` and `Resource`.
 */
export function singleReplicaStatefulSet(scope: Construct, props: SingleReplicaStatefulSetProps): { service: kplus.Service; statefulSet: kplus.StatefulSet } {
  const service = new kplus.Service(scope, 'Service', {
    metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
    clusterIP: 'None',
    ports: [{ name: 'http', port: props.port, targetPort: props.port }],
  });
  for (const [k, v] of Object.entries(props.selector)) service.selectLabel(k, v);
  const statefulSet = new kplus.StatefulSet(scope, 'Resource', {
    ...props.statefulSet,
    metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
    service,
    select: false,
    replicas: 1,
  });
  statefulSet.select(kplus.LabelSelector.of({ labels: props.selector }));
  return { service, statefulSet };
}
