/**
 * Leader election on a coordination.k8s.io Lease, with client-go's rules
 * (k8s.io/client-go/tools/leaderelection): a 15 s lease, a try every 2 s, and
 * a leader that has not renewed within its 10 s renew deadline stops leading.
 *
 * Fencing, by the local clock (monotonic, performance.now()):
 * - A leader leads until `renewDeadline` after it *sent* its last successful
 *   renewal. `isLeader` reads the clock each time it is asked (KubeApi checks
 *   it before every write), and a timer ends leadership at that instant even
 *   while a renewal hangs: no decision waits for a request to return.
 * - A standby takes the Lease only when it has seen the record unchanged for
 *   `leaseSeconds` on its own clock (client-go's observedTime), not by the
 *   renewTime written in it, so clock skew does not matter. It first sees a
 *   renewal after the leader sent it, so it acquires at the earliest
 *   leaseSeconds after that send: 5 s after the leader stopped writing.
 * - Every Lease request has a deadline (`requestTimeoutMs`), so the loop goes
 *   on trying however the connection fails.
 * A write already sent when leadership ends cannot be recalled: the caller
 * aborts those in flight (KubeApi.abortInflight), as client-go cancels its context.
 */
import { KubeApi, KubeApiError } from './kube';

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** @default 15 */ readonly leaseSeconds?: number;
  /** @default 2000 */ readonly retryMs?: number;
  /** @default 10000 */ readonly renewDeadlineMs?: number;
  /** Deadline of each Lease request. @default 4000 (two tries fit in the renew deadline) */
  readonly requestTimeoutMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Lease times need microsecond precision (RFC 3339 with 6 fractional digits). */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease { metadata: { name: string; namespace: string; resourceVersion?: string }; spec?: LeaseSpec; [k: string]: unknown }

export class LeaderElector {
  private leading = false;
  /** performance.now() when the last successful renewal was sent. */
  private renewedAt = -Infinity;
  /** The Lease record as last seen, and when it was first seen so (client-go's observedRecord/observedTime). */
  private observed?: { record: string; at: number };
  /** performance.now() when the apiserver last answered a Lease request (any status): health. */
  private answeredAt = performance.now();
  private timer?: NodeJS.Timeout;
  private deadline?: NodeJS.Timeout;
  private stopped = false;
  private readonly leaseSeconds: number;
  private readonly retryMs: number;
  private readonly renewDeadlineMs: number;
  private readonly requestTimeoutMs: number;

  constructor(private readonly api: KubeApi, private readonly opts: LeaderElectionOptions) {
    this.leaseSeconds = opts.leaseSeconds ?? 15;
    this.retryMs = opts.retryMs ?? 2000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 4000;
  }

  /** Leading, and within the renew deadline of the last renewal: read from the clock on every call. */
  get isLeader(): boolean { return this.leading && performance.now() < this.renewedAt + this.renewDeadlineMs; }

  /** Milliseconds since the apiserver last answered a Lease request. */
  stalledMs(): number { return this.stopped ? 0 : performance.now() - this.answeredAt; }

  get renewDeadline(): number { return this.renewDeadlineMs; }

  start(): void { void this.tick(); }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    if (this.isLeader) {
      // Release so a standby takes over at once instead of after the lease expires; briefly: SIGTERM has a grace period.
      await this.api.request('PATCH', this.path(), { spec: { holderIdentity: null, leaseDurationSeconds: 1 } }, 'application/merge-patch+json',
        { unfenced: true, timeoutMs: Math.min(this.requestTimeoutMs, 2000) }).catch(() => undefined);
    }
    if (this.leading) this.setLeading(false);
  }

  private path(name = true): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases${name ? `/${this.opts.name}` : ''}`;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const sentAt = await this.tryAcquireOrRenew();
      if (this.stopped) return;
      if (sentAt !== undefined) {
        this.renewedAt = sentAt;
        if (!this.leading) this.setLeading(true);
        this.armDeadline();
      } else if (this.leading) {
        this.setLeading(false); // another replica holds it: we were told so
      }
    } catch (e) {
      this.opts.log?.('lease renewal failed', { error: (e as Error).message, leading: this.isLeader });
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.retryMs);
  }

  /** Ends leadership at the renew deadline unless a renewal moves it first. */
  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    const at = this.renewedAt + this.renewDeadlineMs;
    this.deadline = setTimeout(() => {
      if (this.leading && !this.isLeader) {
        this.opts.log?.('lease not renewed within the renew deadline, stopping leading', { renewDeadlineMs: this.renewDeadlineMs });
        this.setLeading(false);
      }
    }, Math.max(0, at - performance.now()) + 1);
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.opts.log?.(v ? 'became leader' : 'lost leadership', { identity: this.opts.identity });
    if (v) this.opts.onStartedLeading(); else this.opts.onStoppedLeading();
  }

  /** One Lease request: sent whatever the fence says (it is how leadership is gained), with a deadline; any status is an answer. */
  private async call(method: string, path: string, body?: unknown): Promise<Lease> {
    try {
      const out = await this.api.request(method, path, body, 'application/json', { unfenced: true, timeoutMs: this.requestTimeoutMs });
      this.answeredAt = performance.now();
      return out;
    } catch (e) {
      if (e instanceof KubeApiError) this.answeredAt = performance.now();
      throw e;
    }
  }

  /** Tries to take or renew the Lease; returns when the successful write was sent, or undefined when another replica holds it. */
  private async tryAcquireOrRenew(): Promise<number | undefined> {
    const now = microTime();
    let lease: Lease;
    try {
      lease = await this.call('GET', this.path());
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 404)) throw e;
      const sentAt = performance.now();
      try {
        await this.call('POST', this.path(false), {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: this.leaseSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        return sentAt;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) return undefined;
        throw err;
      }
    }
    const s = lease.spec ?? {};
    const record = JSON.stringify([s.holderIdentity, s.renewTime, s.acquireTime, s.leaseDurationSeconds, s.leaseTransitions]);
    if (this.observed?.record !== record) this.observed = { record, at: performance.now() };
    const mine = s.holderIdentity === this.opts.identity;
    const held = !!s.holderIdentity && !mine;
    const valid = performance.now() < this.observed.at + (s.leaseDurationSeconds ?? this.leaseSeconds) * 1000;
    if (held && valid) return undefined;
    lease.spec = {
      ...s, holderIdentity: this.opts.identity, leaseDurationSeconds: this.leaseSeconds, renewTime: now,
      acquireTime: mine ? s.acquireTime : now,
      leaseTransitions: (s.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
    const sentAt = performance.now();
    try {
      // The resourceVersion in the body makes this an optimistic-concurrency update.
      const updated = await this.call('PUT', this.path(), lease);
      const u = updated.spec ?? {};
      this.observed = { record: JSON.stringify([u.holderIdentity, u.renewTime, u.acquireTime, u.leaseDurationSeconds, u.leaseTransitions]), at: performance.now() };
      return sentAt;
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 409) return undefined;
      throw e;
    }
  }
}
