/**
 * Small helpers shared by the constructs: Pod Security `restricted` settings,
 * quantities patched in as written, and checksums that roll pods when their
 * configuration changes.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { createHash } from 'crypto';
import { ResourceQuantities } from '../plan/types';

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

export { ResourceQuantities };

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
