/**
 * What the runner does with a resource after a pass (kube-runtime's `Action`): reconcile it again after
 * a delay, or only when it or one of its children changes. Never a bare "requeue: true" left to a rate
 * limiter: errors that must be retried with backoff are thrown instead (see errors.ts).
 */
import type { ReconcileResult } from './metrics';

export interface Action {
  readonly requeueAfterMs?: number;
  /** How the pass ended, for the metrics; undefined when there was nothing to reconcile. */
  readonly result?: ReconcileResult;
}
export const Action = {
  /** Reconcile again after `ms` (0: at once). */
  requeue: (ms: number, result?: ReconcileResult): Action => (result ? { requeueAfterMs: ms, result } : { requeueAfterMs: ms }),
  /** Reconcile again only when the resource or one of its children changes (or on the periodic resync). */
  awaitChange: (result?: ReconcileResult): Action => (result ? { result } : {}),
};
