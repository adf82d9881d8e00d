/**
 * The reconciler's errors, one class per failure site, each keeping its `cause`, and the policy that
 * decides what follows them (errorPolicy, kube-runtime's `error_policy`: pure, no request).
 *
 * - InvalidSpecError: validation or planning refused the spec (field errors).
 * - RenderError: rendering threw on a spec that validation and planning accepted.
 * - TerminalError wraps either: the same spec fails the same way, so it is reported, not retried.
 * - ApplyFailedError: some objects of a pass could not be applied (the rest were); reported in status and retried.
 *
 * Anything else (an apiserver error while reading, pruning or writing status) is not the policy's:
 * reconcile rethrows it, and the runner (Controller.worker) retries it with per-key exponential backoff.
 */
import type { FieldError } from '../api/validate';
import type { KubeObject } from './kube';
import { Action } from './action';

/** Why the reconciler refuses a spec, as the `reason` of its Degraded condition. */
export type RefusalReason = 'InvalidSpec' | 'RenderFailed';

const fieldMessage = (errors: readonly FieldError[]) => errors.map((e) => `${e.path}: ${e.message}`).join('; ');

/** Validation or planning refused the spec. */
export class InvalidSpecError extends Error {
  readonly reason: RefusalReason = 'InvalidSpec';
  constructor(readonly errors: readonly FieldError[]) {
    super(fieldMessage(errors));
    this.name = 'InvalidSpecError';
  }
}

/**
 * Rendering threw on a spec that was planned: `InvalidSpec` when renderErrors finds the fields to blame,
 * `RenderFailed` (the error itself at `spec`) otherwise.
 */
export class RenderError extends Error {
  readonly reason: RefusalReason;
  readonly errors: readonly FieldError[];
  constructor(spec: unknown, cause: unknown) {
    const errors = renderErrors(spec, cause);
    super(fieldMessage(errors), { cause });
    this.name = 'RenderError';
    this.errors = errors;
    this.reason = errors[0].path === 'spec' ? 'RenderFailed' : 'InvalidSpec';
  }
}

/** Marks an error that must not be retried: the resource's next change reconciles it again. */
export class TerminalError extends Error {
  declare readonly cause: InvalidSpecError | RenderError;
  constructor(cause: InvalidSpecError | RenderError) {
    super(cause.message, { cause });
    this.name = 'TerminalError';
  }
}

/** Objects of a pass that could not be applied (refused namespaces, missing APIs, objects not owned, apply errors), one message each. */
export class ApplyFailedError extends Error {
  constructor(readonly failures: readonly string[]) {
    super(failures.join('; '));
    this.name = 'ApplyFailedError';
  }
}

/** Retry delay after a pass in which objects failed. */
export const APPLY_FAILED_RETRY_MS = 30_000;

export interface ErrorPolicyContext {
  /** @default APPLY_FAILED_RETRY_MS */
  readonly applyFailedRetryMs: number;
}
export const DEFAULT_ERROR_POLICY: ErrorPolicyContext = { applyFailedRetryMs: APPLY_FAILED_RETRY_MS };

/**
 * What follows a failed pass (pure): a TerminalError waits for a change of the resource (no requeue: the
 * same spec fails the same way, and the periodic resync still comes); failed objects are retried after
 * `applyFailedRetryMs`. Both count as `failed` in the metrics.
 */
export function errorPolicy(_obj: KubeObject, err: TerminalError | ApplyFailedError, ctx: ErrorPolicyContext = DEFAULT_ERROR_POLICY): Action {
  if (err instanceof TerminalError) return Action.awaitChange('failed');
  return Action.requeue(ctx.applyFailedRetryMs, 'failed');
}

/**
 * Field errors for a spec that passed validation but could not be rendered: each string of the spec that
 * reads as a URL but that the WHATWG URL parser refuses (`https://[am`, a `%zz` host, port 99999), with its
 * path; otherwise the error itself at `spec`. (Validation refuses these now; a resource stored under an
 * older CRD still reaches the controller.)
 */
export function renderErrors(spec: unknown, error: unknown): FieldError[] {
  const out: FieldError[] = [];
  const walk = (v: unknown, at: string): void => {
    if (typeof v === 'string') {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
        try { new URL(v); } catch { out.push({ path: at, message: `Invalid value: ${JSON.stringify(v)}: not a valid URL (a bracketed host must be an IPv6 address, a host has no % escapes, a port is at most 65535)` }); }
      }
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${at}[${i}]`));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
    }
  };
  walk(spec, 'spec');
  return out.length ? out : [{ path: 'spec', message: `InternalError: the objects could not be rendered: ${(error as Error)?.message ?? String(error)}` }];
}
