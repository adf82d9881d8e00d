/**
 * Leader election on a coordination.k8s.io Lease (client-go semantics: 15 s
 * lease, renew every 2 s, give up leadership when a renewal has not succeeded
 * within 10 s). Only the leader reconciles.
 */
import { KubeApi, KubeApiError } from './kube';

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** @default 15 */ readonly leaseSeconds?: number;
  /** @default 2000 */ readonly retryMs?: number;
  /** @default 10000 */ readonly renewDeadlineMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Lease times need microsecond precision (RFC 3339 with 6 fractional digits). */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private lastRenew = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly api: KubeApi, private readonly opts: LeaderElectionOptions) {}

  get isLeader(): boolean { return this.leading; }

  start(): void { void this.tick(); }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading) {
      // Release so a standby takes over at once instead of after the lease expires.
      await this.api.request('PATCH', this.path(), { spec: { holderIdentity: null, leaseDurationSeconds: 1 } }, 'application/merge-patch+json').catch(() => undefined);
      this.setLeading(false);
    }
  }

  private path(name = true): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases${name ? `/${this.opts.name}` : ''}`;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) this.lastRenew = Date.now();
      if (ok && !this.leading) this.setLeading(true);
      if (!ok && this.leading) this.setLeading(false);
    } catch (e) {
      this.opts.log?.('lease renewal failed', { error: (e as Error).message });
    }
    if (this.leading && Date.now() - this.lastRenew > (this.opts.renewDeadlineMs ?? 10_000)) this.setLeading(false);
    this.timer = setTimeout(() => void this.tick(), this.opts.retryMs ?? 2000);
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.opts.log?.(v ? 'became leader' : 'lost leadership', { identity: this.opts.identity });
    if (v) this.opts.onStartedLeading(); else this.opts.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const leaseSeconds = this.opts.leaseSeconds ?? 15;
    const now = microTime();
    let lease: any;
    try {
      lease = await this.api.request('GET', this.path());
    } catch (e) {
      if (!(e instanceof KubeApiError && e.status === 404)) throw e;
      try {
        await this.api.request('POST', this.path(false), {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: leaseSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) return false;
        throw err;
      }
    }
    const s = lease.spec ?? {};
    const held = s.holderIdentity && s.holderIdentity !== this.opts.identity;
    const expired = !s.renewTime || Date.now() > new Date(s.renewTime).getTime() + (s.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (held && !expired) return false;
    lease.spec = {
      ...s, holderIdentity: this.opts.identity, leaseDurationSeconds: leaseSeconds, renewTime: now,
      acquireTime: s.holderIdentity === this.opts.identity ? s.acquireTime : now,
      leaseTransitions: (s.leaseTransitions ?? 0) + (s.holderIdentity === this.opts.identity ? 0 : 1),
    };
    try {
      // The resourceVersion in the body makes this an optimistic-concurrency update.
      await this.api.request('PUT', this.path(), lease);
      return true;
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 409) return false;
      throw e;
    }
  }
}
