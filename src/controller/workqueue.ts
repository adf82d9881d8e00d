/**
 * A rate-limited work queue with client-go semantics: a key is queued at most
 * once (de-duplication), never processed by two workers at once (a re-add
 * while processing waits for `done`), and failures back off exponentially per
 * key (`min(base·2^n, max)`) until `forget`.
 */
export interface WorkQueueOptions {
  /** @default 5 */ readonly baseDelayMs?: number;
  /** @default 300000 */ readonly maxDelayMs?: number;
  /** Called when a worker takes a key, with how long it waited since it was added (seconds). */
  readonly onDequeue?: (waitedSeconds: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** When each waiting key was first added (a re-add while waiting or processing keeps the first time). */
  private readonly addedAt = new Map<string, number>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly base: number;
  private readonly max: number;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.base = opts.baseDelayMs ?? 5;
    this.max = opts.maxDelayMs ?? 300_000;
  }

  get depth(): number { return this.queue.length; }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.addedAt.has(key)) this.addedAt.set(key, performance.now());
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.dequeued(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds after `ms`; a sooner add wins (timers per key are replaced only by sooner ones). */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const existing = this.timers.get(key);
    if (existing) clearTimeout(existing);
    this.timers.set(key, setTimeout(() => { this.timers.delete(key); this.add(key); }, ms).unref());
  }

  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.base * 2 ** n, this.max);
    this.addAfter(key, delay);
    return delay;
  }

  forget(key: string): void { this.failures.delete(key); }

  retries(key: string): number { return this.failures.get(key) ?? 0; }

  /** Next key, or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.dequeued(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private dequeued(key: string): void {
    const at = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (at !== undefined) this.opts.onDequeue?.((performance.now() - at) / 1000);
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
