/**
 * A finalizer around a reconcile, the way kube-runtime's `finalizer()` works, with one difference: the
 * finalizer is added only when `apply` says it is needed (here: the resource has children in other
 * namespaces, which owner references cannot reach; children in its own namespace are deleted by the
 * garbage collector), so most resources never carry one.
 *
 * Expected flow
 * 1. The object is not being deleted: `apply` runs. Before its first write it calls `finalizer.add(needed)`;
 *    when that adds the finalizer (needed, and absent), `apply` ends the pass (Action.requeue(0)) and the
 *    next pass sees the object with it.
 * 2. The object is being deleted and carries the finalizer: `cleanup` runs, then the finalizer is removed.
 * 3. The object is being deleted without it: nothing to do.
 * A deletion (2 or 3) ends with Action.awaitChange('success').
 *
 * Guarantees
 * - `cleanup` runs to completion before the finalizer is removed; a cleanup that throws leaves it in place
 *   (the runner retries).
 * - Each patch carries the `resourceVersion` read (optimistic concurrency, the role of kube-runtime's
 *   JSON-patch `test` op): it never overwrites a finalizer list someone else changed since.
 *
 * Assumptions
 * - `cleanup` is idempotent and treats objects already gone as deleted (KubeApi.delete ignores NotFound):
 *   it may run again after a failure or a conflict.
 * - The finalizer's name is this controller's alone.
 *
 * Caveats
 * - Removing the finalizer ignores NotFound (the object is gone) and Conflict (it changed: the watch
 *   brings it back, and the next pass removes the finalizer then). Adding it does not: a conflict is
 *   thrown, and the runner retries.
 * - A finalizer added once stays until deletion, even when the object no longer needs it.
 */
import { Action } from './action';
import { KubeApi, KubeApiError, KubeObject } from './kube';
import { ResourceKind } from './resources';

export interface FinalizerGate {
  /** Adds the finalizer when `needed` and absent; true when it did (then end the pass with Action.requeue(0)). */
  add(needed: boolean): Promise<boolean>;
}

export interface FinalizerHandlers<A extends Action> {
  /** The object is live: reconcile it. */
  apply(finalizer: FinalizerGate): Promise<A>;
  /** The object is being deleted and carries the finalizer: delete what the garbage collector will not. */
  cleanup(): Promise<void>;
}

export type FinalizerApi = Pick<KubeApi, 'mergePatch'>;

export const hasFinalizer = (obj: KubeObject, name: string): boolean => (obj.metadata.finalizers ?? []).includes(name);

export async function withFinalizer<A extends Action>(api: FinalizerApi, kind: ResourceKind, name: string, obj: KubeObject, handlers: FinalizerHandlers<A>): Promise<A | Action> {
  const patch = (finalizers: string[]) => api.mergePatch(kind, obj.metadata.namespace!, obj.metadata.name, { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } });
  if (obj.metadata.deletionTimestamp) {
    if (hasFinalizer(obj, name)) {
      await handlers.cleanup();
      try {
        await patch((obj.metadata.finalizers ?? []).filter((f) => f !== name));
      } catch (e) {
        if (!(e instanceof KubeApiError && (e.status === 404 || e.status === 409))) throw e;
      }
    }
    return Action.awaitChange('success');
  }
  return handlers.apply({
    add: async (needed) => {
      if (!needed || hasFinalizer(obj, name)) return false;
      await patch([...(obj.metadata.finalizers ?? []), name]);
      return true;
    },
  });
}
