/**
 * Status conditions in the metav1.Condition shape, set the way apimachinery's
 * SetStatusCondition does: `lastTransitionTime` changes only when `status`
 * flips, `observedGeneration` is always set, and the caller learns whether
 * anything changed so it writes status only then.
 */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export function setCondition(conditions: Condition[], c: Omit<Condition, 'lastTransitionTime'>, now: () => string = () => new Date().toISOString()): boolean {
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
