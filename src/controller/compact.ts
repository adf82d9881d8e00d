/**
 * What the controller keeps of objects in its caches.
 *
 * compactObject: no managedFields, and every long string (dashboards,
 * Prometheus configuration, rule files) replaced by its SHA-256. Desired
 * objects are compacted the same way before comparison, so drift detection
 * still sees any changed byte.
 *
 * childEntry: what the owned-object caches keep of a child, a summary (name,
 * labels, the fields readiness reads, a digest of its content). It also holds
 * the compacted content until the reconciler has compared that with the
 * desired object (settle). After that only the summary stays, so the caches
 * of 1000 stacks hold 24,000 summaries rather than 24,000 objects full of
 * defaults. A later event with the same content digest (a status update)
 * keeps the verdict.
 *
 * childStub: what they keep of an object whose owner label names no
 * InferenceMonitoring the controller knows. Anyone who may create a ConfigMap
 * can label it so (issue #26: ~1 MiB ConfigMaps labelled
 * `owner-uid: not-a-resource` grew the heap by ~1 MiB each until V8 gave up).
 * Such an object is never compared with a desired one, so its content is not
 * kept: only kind, name, namespace and the owner label, a few hundred bytes
 * whatever the object's size.
 */
import { createHash } from 'crypto';
import { KubeObject } from './kube';

/** Strings longer than this are kept as a digest. */
export const LONG_STRING = 512;
const MARK = '\u0000sha256:';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function compactValue(v: unknown): unknown {
  if (typeof v === 'string') return v.length > LONG_STRING ? MARK + sha256(v) : v;
  if (Array.isArray(v)) return v.map(compactValue);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = compactValue(x);
    return out;
  }
  return v;
}

/** The object without metadata.managedFields (bookkeeping the controller never reads). */
export function withoutManagedFields<T extends KubeObject>(obj: T): T {
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

export function compactObject<T extends KubeObject>(obj: T): T {
  return compactValue(withoutManagedFields(obj)) as T;
}

/** Digest of a (compacted) desired object, to recognise it again without keeping it. */
export function desiredDigest(compacted: KubeObject): string {
  return sha256(JSON.stringify(compacted));
}

/** The spec and status fields the reconciler reads for readiness (Deployment rollout). */
const READINESS = { spec: ['replicas'], status: ['replicas', 'readyReplicas', 'observedGeneration'] } as const;

export interface ChildEntry extends KubeObject {
  /** SHA-256 of the object without status, resourceVersion and managedFields. */
  readonly contentDigest: string;
  /** The compacted object, until the reconciler has compared it (see settle). */
  content?: KubeObject;
  /** The desiredDigest of the object this content was found to contain. */
  satisfies?: string;
  /** Only identity is kept (see childStub): the reconciler reads the object if it ever needs it. */
  readonly stub?: true;
}

/**
 * The entry of an object whose owner is unknown: constant size. It keeps no
 * resourceVersion, so the next sighting of the object (an event, a relist, a
 * read once its owner is known) builds its entry afresh.
 */
export function childStub(raw: KubeObject, ownerLabel: string): ChildEntry {
  const owner = raw.metadata.labels?.[ownerLabel];
  return {
    apiVersion: raw.apiVersion,
    kind: raw.kind,
    metadata: { name: raw.metadata.name, namespace: raw.metadata.namespace, labels: owner === undefined ? undefined : { [ownerLabel]: owner } },
    contentDigest: '',
    stub: true,
  };
}

function pick(from: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, unknown> | undefined {
  if (!from) return undefined;
  const out = Object.fromEntries(keys.filter((k) => from[k] !== undefined).map((k) => [k, from[k]]));
  return Object.keys(out).length ? out : undefined;
}

/** The cache entry of a live child; `previous` is the entry it replaces, whose verdict carries over if the content is the same. */
export function childEntry(raw: KubeObject, previous?: KubeObject): ChildEntry {
  const { managedFields: _m, resourceVersion, ...meta } = raw.metadata;
  const { status, ...rest } = raw;
  const contentDigest = sha256(JSON.stringify({ ...rest, metadata: meta }));
  const entry: ChildEntry = {
    apiVersion: raw.apiVersion,
    kind: raw.kind,
    metadata: { name: raw.metadata.name, namespace: raw.metadata.namespace, resourceVersion, generation: raw.metadata.generation, labels: raw.metadata.labels },
    spec: pick(raw.spec, READINESS.spec),
    status: pick(status, READINESS.status),
    contentDigest,
  };
  const prev = previous as ChildEntry | undefined;
  if (prev?.satisfies && prev.contentDigest === contentDigest) entry.satisfies = prev.satisfies;
  else entry.content = compactObject(raw);
  return entry;
}

/** Records that the entry's content contains the desired object with this digest, and drops the content. */
export function settle(entry: ChildEntry, digest: string): void {
  entry.satisfies = digest;
  delete entry.content;
}
