/**
 * What the controller keeps of an object in its caches: no managedFields,
 * and every long string (dashboards, Prometheus configuration, rule files)
 * replaced by its SHA-256. Desired objects are compacted the same way before
 * comparison, so drift detection still sees any changed byte while 1000
 * stacks' ConfigMaps do not sit in memory twice.
 */
import { createHash } from 'crypto';
import { KubeObject } from './kube';

/** Strings longer than this are kept as a digest. */
export const LONG_STRING = 512;
const MARK = '\u0000sha256:';

function compactValue(v: unknown): unknown {
  if (typeof v === 'string') return v.length > LONG_STRING ? MARK + createHash('sha256').update(v).digest('hex') : v;
  if (Array.isArray(v)) return v.map(compactValue);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = compactValue(x);
    return out;
  }
  return v;
}

export function compactObject<T extends KubeObject>(obj: T): T {
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return compactValue({ ...obj, metadata }) as T;
}
