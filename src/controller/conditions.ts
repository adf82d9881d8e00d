/**
 * Status conditions in the metav1.Condition shape, set the way apimachinery's
 * SetStatusCondition does: `lastTransitionTime` changes only when `status`
 * flips, `observedGeneration` is always set, and the caller learns whether
 * anything changed so it writes status only then. Messages are bounded
 * (boundedMessage): the CRD would refuse the whole status for one too long.
 */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export function setCondition(conditions: Condition[], cond: Omit<Condition, 'lastTransitionTime'>, now: () => string = () => new Date().toISOString()): boolean {
  // The CRD refuses a longer message, and with it the whole status write.
  const c = { ...cond, message: boundedMessage([cond.message]) };
  const existing = conditions.find((x) => x.type === c.type);
  if (!existing) {
    conditions.push({ ...c, lastTransitionTime: now() });
    return true;
  }
  let changed = false;
  if (existing.status !== c.status) {
    existing.status = c.status;
    existing.lastTransitionTime = now();
    changed = true;
  }
  for (const k of ['reason', 'message', 'observedGeneration'] as const) {
    if (existing[k] !== c[k]) {
      (existing as any)[k] = c[k];
      changed = true;
    }
  }
  return changed;
}

/** Removes a condition that no longer applies (one that only exists while true, like SeriesConflict); true if it was there. */
export function removeCondition(conditions: Condition[], type: string): boolean {
  const i = conditions.findIndex((x) => x.type === type);
  if (i < 0) return false;
  conditions.splice(i, 1);
  return true;
}

/**
 * What a condition message may carry, in UTF-8 bytes: half the CRD's `maxLength` (32768) for
 * `status.conditions[].message`, so a status with a long list of problems is still written.
 */
export const MAX_CONDITION_MESSAGE_BYTES = 16 * 1024;

/** The longest prefix of `s` of at most `maxBytes` UTF-8 bytes, not splitting a character. */
function utf8Prefix(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let out = Buffer.from(s).subarray(0, Math.max(0, maxBytes)).toString('utf8');
  // A character cut in two decodes as U+FFFD: drop it.
  while (out.endsWith('\uFFFD') && Buffer.byteLength(out) > 0) out = out.slice(0, -1);
  return out;
}

/**
 * `parts` joined with `; `, at most `maxBytes` long: whole parts as long as they fit, then a
 * marker saying how many problems and bytes were left out (`… 212 more problems (38912 bytes) not shown`).
 * A first part longer than the bound on its own is cut, and the marker says so.
 */
export function boundedMessage(parts: readonly string[], maxBytes = MAX_CONDITION_MESSAGE_BYTES): string {
  const full = parts.join('; ');
  const total = Buffer.byteLength(full);
  if (total <= maxBytes) return full;
  const marker = (problems: number, bytes: number) => `… ${problems ? `${problems} more problem${problems === 1 ? '' : 's'} ` : ''}(${bytes} bytes) not shown`;
  // Room for the longest marker this message can need.
  const reserve = Buffer.byteLength(`; ${marker(parts.length, total)}`);
  let kept = 0;
  let used = 0;
  for (const p of parts) {
    const add = Buffer.byteLength(p) + (kept ? 2 : 0);
    if (used + add > maxBytes - reserve) break;
    used += add;
    kept++;
  }
  if (kept === 0) {
    const head = utf8Prefix(parts[0] ?? '', maxBytes - reserve);
    return `${head} ${marker(parts.length - 1, total - Buffer.byteLength(head))}`;
  }
  return `${parts.slice(0, kept).join('; ')}; ${marker(parts.length - kept, total - used)}`;
}
