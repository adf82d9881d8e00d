/**
 * List-then-watch cache of one kind. On `410 Gone` (the watch's
 * resourceVersion expired) or any broken connection it lists again and
 * reports what changed meanwhile, so no event is lost; errors back off
 * exponentially. Handlers receive every add, update and delete.
 *
 * A watch that falls silent for longer than it asked the apiserver to keep
 * it open (a frozen connection neither answers nor closes) is cut off and the
 * kind is listed again; every list and watch has a deadline (KubeApi). `stalledMs`
 * says how long the informer has gone without hearing from the apiserver,
 * for the health endpoints.
 */
import { KubeApi, KubeObject, KubeTimeoutError } from './kube';
import { ResourceKind, resourcePath } from './resources';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  /** Called for every change. */
  readonly onEvent: (type: InformerEvent, obj: KubeObject) => void;
  /** Called after each (re)list succeeds. */
  readonly onSynced?: () => void;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Start watching from this resourceVersion instead of listing first (as after a restart with a saved position). */
  readonly resourceVersion?: string;
  /** What to keep of each object (e.g. childEntry), given the entry it replaces; the default keeps it whole. */
  readonly transform?: (obj: KubeObject, previous?: KubeObject) => KubeObject;
  /** An index over the cache (e.g. by owner label); read it with byIndex. */
  readonly indexBy?: (obj: KubeObject) => string | undefined;
  /** Silence after which a watch is given up and the kind listed again. @default its timeoutSeconds + WATCH_GRACE_MS */
  readonly idleMs?: number;
}

/**
 * Watches ask the apiserver to end them after 60-90 s (timeoutSeconds; it
 * sends a bookmark just before). Its other bookmarks come only when the
 * kind's resourceVersion moves (121 s apart on a quiet test apiserver), so
 * only the end of the watch is a heartbeat a quiet kind is sure to get: a
 * watch silent beyond its timeoutSeconds plus this grace is dead.
 */
export const WATCH_GRACE_MS = 15_000;
const WATCH_SECONDS = 60;

/** Objects per LIST page; 1000 stacks' dashboard ConfigMaps in one response were what a restart at 1000 resources was OOM-killed on. */
export const LIST_PAGE = 100;

/** A watch that ends (without an error) sooner than this after it was opened is not reopened at once. */
const QUICK_WATCH_MS = 1000;

const key = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Informer {
  public readonly cache = new Map<string, KubeObject>();
  private readonly index = new Map<string, Set<string>>();
  private resourceVersion = '';
  private stopped = false;
  private abort?: AbortController;
  private synced = false;
  /** Relists so far; 410 recoveries show up here. */
  public relists = 0;
  /** Watches that ended with 410 Gone (resource version expired). */
  public expired = 0;
  /** Watches the server ended without an error within QUICK_WATCH_MS of opening them. */
  public quickEnds = 0;
  /** Watches given up because they were silent for idleMs. */
  public silentWatches = 0;
  /** performance.now() when the apiserver last answered: a list page, a watch opened, an event or bookmark. */
  private lastContact = performance.now();

  constructor(private readonly api: KubeApi, private readonly kind: ResourceKind, private readonly opts: InformerOptions) {
    this.resourceVersion = opts.resourceVersion ?? '';
  }

  get hasSynced(): boolean { return this.synced; }

  get kindName(): string { return this.kind.kind; }

  /** Milliseconds since the apiserver last answered this informer (0 once stopped). */
  stalledMs(): number { return this.stopped ? 0 : performance.now() - this.lastContact; }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  /** Records an object a write just returned, unless the cache already holds a newer version; returns the cache entry. */
  observe(obj: KubeObject): KubeObject {
    const k = key(obj);
    const cached = this.cache.get(k);
    if (cached && Number(cached.metadata.resourceVersion) > Number(obj.metadata.resourceVersion)) return cached;
    return this.put(k, obj);
  }

  /** Cached objects whose index value (see `indexBy`) is `value`. */
  byIndex(value: string): KubeObject[] {
    return [...(this.index.get(value) ?? [])].map((k) => this.cache.get(k)!).filter(Boolean);
  }

  private put(k: string, raw: KubeObject): KubeObject {
    // The watch event that follows a write carries the version the write returned: nothing to redo.
    const cached = this.cache.get(k);
    if (cached && raw.metadata.resourceVersion && cached.metadata.resourceVersion === raw.metadata.resourceVersion) return cached;
    const obj = this.opts.transform ? this.opts.transform(raw, cached) : raw;
    this.unindex(k);
    this.cache.set(k, obj);
    const v = this.opts.indexBy?.(obj);
    if (v !== undefined) {
      if (!this.index.has(v)) this.index.set(v, new Set());
      this.index.get(v)!.add(k);
    }
    return obj;
  }

  private remove(k: string): void {
    this.unindex(k);
    this.cache.delete(k);
  }

  private unindex(k: string): void {
    const old = this.cache.get(k);
    const v = old && this.opts.indexBy?.(old);
    if (v === undefined) return;
    const set = this.index.get(v);
    set?.delete(k);
    if (set && !set.size) this.index.delete(v);
  }

  list(): KubeObject[] {
    return [...this.cache.values()];
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    let quick = 0;
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        const opened = Date.now();
        await this.watch();
        if (this.stopped) return;
        if (Date.now() - opened >= QUICK_WATCH_MS) { backoff = 250; quick = 0; continue; }
        // A watch the server ended at once (no error): reopening it at once would spin (it did, tens of
        // thousands of watches in a CI run). Back off, and after a few in a row list again.
        this.quickEnds++;
        if (++quick >= 3) { this.resourceVersion = ''; quick = 0; }
        this.opts.log?.('watch ended at once, backing off', { kind: this.kind.kind, backoffMs: backoff, relist: !this.resourceVersion });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
      } catch (e) {
        if (this.stopped) return;
        const status = (e as { status?: number }).status;
        if (e instanceof KubeTimeoutError && this.resourceVersion) this.silentWatches++;
        if (status === 410) {
          this.expired++;
          this.opts.log?.('watch expired, relisting', { kind: this.kind.kind });
          this.resourceVersion = '';
          continue;
        }
        this.opts.log?.('watch failed, relisting', { kind: this.kind.kind, error: (e as Error).message, backoffMs: backoff });
        // After a failed watch, list again rather than resume: an apiserver that restarted meanwhile
        // serves old resource versions from a fresh watch cache without the deletions in between,
        // and the reconciler trusts this cache. The relist reports those deletions.
        this.resourceVersion = '';
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    // Page by page, each kept as `transform` makes it before the next is read (see listPaged).
    const resourceVersion = await this.api.listPaged(this.kind, this.opts.namespace, this.opts.labelSelector, LIST_PAGE, (item) => {
      this.lastContact = performance.now();
      const k = key(item);
      seen.add(k);
      const old = this.cache.get(k);
      const obj = this.put(k, item);
      if (!old) this.opts.onEvent('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.opts.onEvent('update', obj);
    });
    this.lastContact = performance.now();
    this.relists++;
    for (const [k, old] of [...this.cache.entries()]) {
      if (!seen.has(k)) {
        this.remove(k);
        this.opts.onEvent('delete', old);
      }
    }
    this.resourceVersion = resourceVersion;
    this.synced = true;
    this.opts.onSynced?.();
  }

  private async watch(): Promise<void> {
    this.abort = new AbortController();
    const seconds = WATCH_SECONDS + Math.floor(Math.random() * WATCH_SECONDS / 2);
    const q = new URLSearchParams({ watch: '1', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(seconds) });
    if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
    // The deadline restarts with every byte; a healthy watch ends (with a bookmark) within its timeoutSeconds.
    const res = await this.api.raw('GET', `${resourcePath(this.kind, this.opts.namespace)}?${q}`, undefined, undefined, { signal: this.abort.signal, timeoutMs: this.opts.idleMs ?? seconds * 1000 + WATCH_GRACE_MS });
    this.lastContact = performance.now();
    if ((res.statusCode ?? 0) >= 300) {
      res.resume();
      throw Object.assign(new Error(`watch ${this.kind.plural}: HTTP ${res.statusCode}`), { status: res.statusCode });
    }
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.lastContact = performance.now();
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            this.handle(JSON.parse(line));
          } catch (e) {
            res.destroy();
            reject(e);
            return;
          }
        }
      });
      res.on('end', () => resolve());
      res.on('error', (e) => (this.stopped ? resolve() : reject(e)));
      // Cut off (a deadline, a reset connection) rather than ended: an error, so the kind is listed again.
      res.on('close', () => (res.complete || this.stopped ? resolve() : reject(new Error('watch cut off'))));
    });
  }

  private handle(ev: { type: string; object: KubeObject & { message?: string; code?: number } }): void {
    if (ev.type === 'ERROR') {
      throw Object.assign(new Error(ev.object?.message ?? 'watch error'), { status: ev.object?.code });
    }
    const obj: KubeObject = { ...ev.object, apiVersion: this.kind.apiVersion, kind: this.kind.kind };
    if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return;
    const k = key(obj);
    if (ev.type === 'DELETED') {
      this.remove(k);
      this.opts.onEvent('delete', obj);
    } else {
      const existed = this.cache.has(k);
      this.opts.onEvent(existed ? 'update' : 'add', this.put(k, obj));
    }
  }
}
