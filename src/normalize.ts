/**
 * Removes what cdk8s(-plus) emits but the apiserver would drop or default,
 * so that applied objects and Git agree and Argo CD shows no drift:
 * empty lists, `false`/`0` fields that are omitted when empty, and the
 * construct-path label cdk8s-plus adds to pod templates (it would differ
 * between `cdk8s synth` and the controller).
 */
const DROP_WHEN_FALSE = new Set(['hostNetwork', 'setHostnameAsFQDN', 'hostIPC', 'hostPID', 'readOnly', 'shareProcessNamespace']);
const DROP_WHEN_ZERO = new Set(['minReadySeconds']);
const CONSTRUCT_LABEL = 'cdk8s.io/metadata.addr';

export function normalizeManifest<T>(obj: T): T {
  const kind = (obj as any)?.kind;
  // Schemas of CRDs are data, not defaults: leave them as written.
  if (kind === 'CustomResourceDefinition') return obj;
  const out = clean(obj) as any;
  // The core group is spelled "" by cdk8s-plus; the apiserver omits it, so it would always differ.
  for (const s of out?.subjects ?? []) if (s.apiGroup === '') delete s.apiGroup;
  return out as T;
}

function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (Array.isArray(v) && v.length === 0) continue;
    if (v === false && DROP_WHEN_FALSE.has(k)) continue;
    if (v === 0 && DROP_WHEN_ZERO.has(k)) continue;
    if (k === CONSTRUCT_LABEL) continue;
    if (k === 'securityContext' && v && typeof v === 'object' && (v as any).fsGroupChangePolicy && (v as any).fsGroup === undefined) {
      const { fsGroupChangePolicy: _unused, ...rest } = v as Record<string, unknown>;
      out[k] = clean(rest);
      continue;
    }
    out[k] = clean(v);
  }
  return out;
}
