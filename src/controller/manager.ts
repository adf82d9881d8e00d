/**
 * Runs the controller: informers for InferenceMonitoring, for every owned
 * kind (an owned object's change enqueues its owner, so hand edits and
 * deletions are repaired) and for namespaces (a change of a namespace's
 * opt-in enqueues the resources whose objects go there), a rate-limited work
 * queue, workers that run the reconciler only while this replica holds the
 * Lease (and a fence that refuses writes the moment it does not), a periodic
 * resync, /metrics, /healthz, /readyz, JSON logs and a shutdown bounded in time.
 *
 * Start-up serves the health endpoints first and then waits for the
 * apiserver, logging each failed try: an apiserver that never answers gives a
 * failing /healthz and a log line, not a silent process.
 */
import * as http from 'http';
import * as os from 'os';
import { Registry } from 'prom-client';
import { sharedSeriesSignature } from '../plan/shared-series';
import { ChildEntry, childEntry, childStub, withoutManagedFields } from './compact';
import { Informer } from './informer';
import { FencedError, KubeApi, KubeApiError, KubeObject } from './kube';
import { LeaderElector } from './leader-election';
import { ControllerMetrics } from './metrics';
import { ALLOW_FROM_ANNOTATION, OWNER_LABEL, RESYNC_MS, Reconciler } from './reconciler';
import { INFERENCE_MONITORING, NAMESPACE, OWNED_KINDS, ResourceKind, resourcePath } from './resources';
import { WorkQueue } from './workqueue';

/**
 * An informer that has not heard from the apiserver for this long is stuck: a
 * healthy watch ends (with a bookmark) within 90 s, and is cut off and listed
 * again 15 s after that (see WATCH_GRACE_MS).
 */
export const INFORMER_STALL_MS = 120_000;
/** Deadline of each request of the start-up discovery; it is retried until it succeeds. */
const DISCOVERY_TIMEOUT_MS = 5_000;
/** On SIGTERM: how long reconciles in flight may finish before their requests are aborted. */
const STOP_DRAIN_MS = 5_000;

export interface ControllerOptions {
  readonly api: KubeApi;
  /** Watch one namespace; default all. */
  readonly namespace?: string;
  /** Port of /metrics, /healthz, /readyz; 0 picks a free one; undefined: no server. */
  readonly metricsPort?: number;
  /** Address /metrics, /healthz, /readyz listen on (e.g. 127.0.0.1). @default - every interface */
  readonly metricsHost?: string;
  /** @default 2 */ readonly workers?: number;
  /** Periodic re-enqueue of every resource. @default 5 minutes */
  readonly resyncMs?: number;
  /** Lease for leader election; without it this replica always leads. */
  readonly leaderElection?: { readonly namespace: string; readonly name?: string; readonly identity?: string; readonly leaseSeconds?: number; readonly renewDeadlineMs?: number; readonly retryMs?: number };
  /** Silence after which a watch is cut off and its kind listed again. @default each watch's timeoutSeconds + 15 s */
  readonly watchIdleMs?: number;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export function jsonLogger(stream: NodeJS.WritableStream = process.stderr): (msg: string, fields?: Record<string, unknown>) => void {
  return (msg, fields = {}) => stream.write(`${JSON.stringify({ ts: new Date().toISOString(), msg, ...fields })}\n`);
}

export class Controller {
  public readonly queue = new WorkQueue({ onDequeue: (s) => this.metrics.waited(s) });
  public readonly registry: Registry;
  public readonly crInformer: Informer;
  public readonly ownedInformers = new Map<string, Informer>();
  public readonly namespaceInformer: Informer;
  public server?: http.Server;
  public port?: number;
  private readonly reconciler: Reconciler;
  private readonly elector?: LeaderElector;
  private available: ResourceKind[] = [];
  /** Without leader election this replica always leads; with it, the elector's clock-based answer. */
  private leadingWithoutElection = false;
  private running = false;
  /** Set once discovery and the first InferenceMonitoring list are done. */
  private started = false;
  private startError?: string;
  private readonly startedAt = performance.now();
  /** Namespaces other than their own that resources' objects go to (from the reconciler), and the reverse. */
  private readonly namespaceUsers = new Map<string, Set<string>>();
  private readonly usedNamespaces = new Map<string, readonly string[]>();
  /** The opt-in annotation of each namespace as last seen, to enqueue only on a change. */
  private readonly optIns = new Map<string, string | undefined>();
  /** Resources on a shared Prometheus, with what they send there (sharedSeriesSignature), to enqueue their peers on a change. */
  private readonly sharedSignatures = new Map<string, string>();
  private resyncTimer?: NodeJS.Timeout;
  private readonly log: (msg: string, fields?: Record<string, unknown>) => void;
  private readonly uidToKey = new Map<string, string>();
  private readonly metrics: ControllerMetrics;
  private workersDone: Promise<void>[] = [];

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log ?? jsonLogger();
    this.metrics = new ControllerMetrics({
      queueDepth: () => this.queue.depth,
      requestCounts: () => opts.api.counts,
      leading: () => this.isLeader,
      resources: () => [...this.crInformer.cache.values()].map((cr) => ({
        namespace: cr.metadata.namespace!, name: cr.metadata.name,
        ready: (cr.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
      })),
    });
    this.registry = this.metrics.registry;
    opts.api.onResponse.push((verb, code) => this.metrics.response(verb, code));

    this.crInformer = new Informer(opts.api, INFERENCE_MONITORING, {
      namespace: opts.namespace,
      log: this.log,
      transform: withoutManagedFields,
      onEvent: (type, obj) => {
        const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
        if (obj.metadata.uid) {
          if (type === 'delete') this.uidToKey.delete(obj.metadata.uid); else this.uidToKey.set(obj.metadata.uid, key);
        }
        if (type === 'delete') {
          this.metrics.forget({ namespace: obj.metadata.namespace!, name: obj.metadata.name });
          this.setUsedNamespaces(key, []);
        }
        this.queue.add(key);
        // A stack on a shared Prometheus that appears, goes, or changes what it sends there: the other stacks on
        // shared Prometheuses compare their series with it again (their SeriesConflict condition).
        const signature = type === 'delete' ? undefined : sharedSeriesSignature(obj);
        const before = this.sharedSignatures.get(key);
        if (signature === undefined) this.sharedSignatures.delete(key); else this.sharedSignatures.set(key, signature);
        if (signature !== before) for (const other of this.sharedSignatures.keys()) if (other !== key) this.queue.add(other);
      },
    });
    this.namespaceInformer = new Informer(opts.api, NAMESPACE, {
      log: this.log,
      idleMs: opts.watchIdleMs,
      // Only the opt-in annotation is read.
      transform: (ns) => ({ apiVersion: ns.apiVersion, kind: ns.kind, metadata: { name: ns.metadata.name, resourceVersion: ns.metadata.resourceVersion,
        annotations: ns.metadata.annotations?.[ALLOW_FROM_ANNOTATION] === undefined ? undefined : { [ALLOW_FROM_ANNOTATION]: ns.metadata.annotations[ALLOW_FROM_ANNOTATION] } } }),
      onEvent: (type, ns) => {
        const name = ns.metadata.name;
        const optIn = type === 'delete' ? undefined : ns.metadata.annotations?.[ALLOW_FROM_ANNOTATION];
        const before = this.optIns.get(name);
        if (type === 'delete') this.optIns.delete(name); else this.optIns.set(name, optIn);
        if (optIn === before && type !== 'delete') return;
        for (const key of this.namespaceUsers.get(name) ?? []) this.queue.add(key);
      },
    });
    this.reconciler = new Reconciler({
      api: opts.api,
      getResource: (key) => this.crInformer.cache.get(key),
      availableKinds: () => this.available,
      log: this.log,
      observed: (obj) => this.crInformer.observe(obj),
      cachedChildren: (uid, namespace) => {
        if (this.opts.namespace && namespace !== this.opts.namespace) return undefined;
        return [...this.ownedInformers.values()].flatMap((i) => i.byIndex(uid) as ChildEntry[]).filter((o) => o.metadata.namespace === namespace);
      },
      observedChild: (obj) => this.ownedInformers.get(`${obj.apiVersion}/${obj.kind}`)?.observe(obj) as ChildEntry | undefined,
      cachedOwner: (o) => this.ownedInformers.get(`${o.apiVersion}/${o.kind}`)?.cache.get(`${o.metadata.namespace ?? ''}/${o.metadata.name}`)?.metadata.labels?.[OWNER_LABEL],
      namespace: (name) => this.namespaceInformer.cache.get(`/${name}`),
      usesNamespaces: (key, namespaces) => this.setUsedNamespaces(key, namespaces),
      peers: (key) => [...this.sharedSignatures.keys()].filter((k) => k !== key).flatMap((k) => this.crInformer.cache.get(k) ?? []),
    });
    if (opts.leaderElection) {
      const le = opts.leaderElection;
      this.elector = new LeaderElector(opts.api, {
        namespace: le.namespace,
        name: le.name ?? 'inference-monitoring-controller',
        identity: le.identity ?? `${os.hostname()}-${process.pid}`,
        leaseSeconds: le.leaseSeconds, renewDeadlineMs: le.renewDeadlineMs, retryMs: le.retryMs,
        log: this.log,
        onStartedLeading: () => { for (const k of this.crInformer.cache.keys()) this.queue.add(k); },
        // Writes sent before the deadline and still unanswered are cut off: none may land after another replica leads.
        onStoppedLeading: () => { const n = opts.api.abortInflight(); if (n) this.log('aborted writes in flight', { requests: n }); },
      });
      // Every write checks the clock-based answer just before it is sent.
      opts.api.fence = () => this.elector!.isLeader;
    }
  }

  get isLeader(): boolean { return this.elector ? this.elector.isLeader : this.leadingWithoutElection; }
  get ready(): boolean {
    return this.started && this.crInformer.hasSynced && this.namespaceInformer.hasSynced && [...this.ownedInformers.values()].every((i) => i.hasSynced);
  }

  /**
   * What is stuck, if anything: the Lease loop without an answer beyond the renew deadline (a leader has
   * stopped leading by then), an informer without one beyond INFORMER_STALL_MS, a start-up still waiting
   * for the apiserver after DISCOVERY_TIMEOUT_MS.
   */
  stuck(): string[] {
    const out: string[] = [];
    if (!this.started && performance.now() - this.startedAt > DISCOVERY_TIMEOUT_MS) out.push(`starting: the apiserver has not answered${this.startError ? ` (${this.startError})` : ''}`);
    if (this.elector && this.elector.stalledMs() > this.elector.renewDeadline) out.push(`lease: no answer from the apiserver for ${Math.round(this.elector.stalledMs() / 1000)} s`);
    for (const inf of [this.crInformer, this.namespaceInformer, ...this.ownedInformers.values()]) {
      if (inf.stalledMs() > INFORMER_STALL_MS) out.push(`informer ${inf.kindName}: no answer from the apiserver for ${Math.round(inf.stalledMs() / 1000)} s`);
    }
    return out;
  }

  /**
   * Whether the reconciler compares this object with a desired one: its owner label names a known
   * resource, and it is in a namespace that resource's objects go to (its own, or one it last reported
   * through usesNamespaces). Anything else, whoever labelled it, is kept as a stub: a tenant with two
   * namespaces cannot grow the caches by labelling objects in the second with their resource's UID.
   */
  private compared(obj: KubeObject): boolean {
    const key = this.uidToKey.get(obj.metadata.labels?.[OWNER_LABEL] ?? '');
    if (!key) return false;
    const ns = obj.metadata.namespace ?? '';
    return key.startsWith(`${ns}/`) || (this.usedNamespaces.get(key) ?? []).includes(ns);
  }

  private setUsedNamespaces(key: string, namespaces: readonly string[]): void {
    for (const ns of this.usedNamespaces.get(key) ?? []) {
      const users = this.namespaceUsers.get(ns);
      users?.delete(key);
      if (users && !users.size) this.namespaceUsers.delete(ns);
    }
    if (!namespaces.length) { this.usedNamespaces.delete(key); return; }
    this.usedNamespaces.set(key, namespaces);
    for (const ns of namespaces) {
      if (!this.namespaceUsers.has(ns)) this.namespaceUsers.set(ns, new Set());
      this.namespaceUsers.get(ns)!.add(key);
    }
  }

  /**
   * Serves /healthz, /readyz and /metrics, then waits for the apiserver (discovery, retried with a
   * deadline on each request), lists InferenceMonitoring resources and only then their children: an
   * owned object is kept whole only when its owner label names a resource already known (see childStub).
   */
  async start(): Promise<void> {
    this.running = true;
    this.log('controller starting', { namespace: this.opts.namespace ?? '(all)' });
    if (this.opts.metricsPort !== undefined) await this.serve(this.opts.metricsPort);
    if (this.elector) this.elector.start(); else this.leadingWithoutElection = true;
    this.available = await this.discoverKinds();
    if (!this.running) return;
    this.crInformer.start();
    this.namespaceInformer.start();
    await this.untilSynced(this.crInformer);
    if (!this.running) return;
    for (const k of this.available) this.startOwnedInformer(k);
    this.started = true;
    const every = this.opts.resyncMs ?? RESYNC_MS;
    this.resyncTimer = setInterval(() => {
      for (const k of this.crInformer.cache.keys()) this.queue.add(k);
      void this.discoverNewKinds();
    }, every);
    this.resyncTimer.unref();
    for (let i = 0; i < (this.opts.workers ?? 2); i++) this.workersDone.push(this.worker());
    this.log('controller started', { namespace: this.opts.namespace ?? '(all)', kinds: this.available.map((k) => k.kind) });
  }

  /**
   * Kinds whose API was missing at start (LeaderWorkerSet, prometheus-operator, KEDA installed later) are looked
   * for again at every resync: once served, their informer starts and the next reconciles apply them, without a
   * restart. One look at a time; a failed look waits for the next resync.
   */
  private discovering = false;
  private async discoverNewKinds(): Promise<void> {
    if (this.discovering || !this.running) return;
    this.discovering = true;
    try {
      for (const k of OWNED_KINDS.filter((x) => !this.available.includes(x))) {
        try {
          await this.opts.api.request('GET', `${resourcePath(k, this.opts.namespace)}?limit=1`, undefined, undefined, { timeoutMs: DISCOVERY_TIMEOUT_MS });
        } catch {
          continue;
        }
        if (!this.running) return;
        this.log('API now installed; objects of this kind are applied', { kind: k.kind });
        this.startOwnedInformer(k);
        this.available = [...this.available, k];
      }
    } finally {
      this.discovering = false;
    }
  }

  /** Lists and watches one owned kind (our children, by owner label); its events queue their owner. */
  private startOwnedInformer(k: ResourceKind): void {
    const inf = new Informer(this.opts.api, k, {
      namespace: this.opts.namespace,
      labelSelector: OWNER_LABEL,
      log: this.log,
      idleMs: this.opts.watchIdleMs,
      // A summary of each child; its content only until the reconciler has compared it (see childEntry).
      // An object the reconciler will never compare keeps a constant-size stub (see childStub).
      transform: (obj, previous) => (this.compared(obj) ? childEntry(obj, previous) : childStub(obj, OWNER_LABEL)),
      indexBy: (obj) => obj.metadata.labels?.[OWNER_LABEL],
      onEvent: (_type, obj) => {
        const owner = obj.metadata.labels?.[OWNER_LABEL];
        const key = owner ? this.uidToKey.get(owner) : undefined;
        if (key) this.queue.add(key);
      },
    });
    this.ownedInformers.set(`${k.apiVersion}/${k.kind}`, inf);
    inf.start();
  }

  /**
   * Graceful and bounded: stop taking keys, give the reconciles in flight STOP_DRAIN_MS, then cut off
   * every request (a frozen connection would hold them forever), release the Lease (briefly, see
   * LeaderElector.stop) and close the server with its open connections.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.queue.shutDown();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    let drainTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all(this.workersDone).then(() => true),
      new Promise<boolean>((r) => { drainTimer = setTimeout(() => r(false), STOP_DRAIN_MS); }),
    ]);
    clearTimeout(drainTimer);
    if (!drained) {
      this.opts.api.fence = () => false;
      this.log('reconciles still running at shutdown: aborting their requests', { requests: this.opts.api.abortInflight(true) });
      await Promise.all(this.workersDone);
    }
    this.crInformer.stop();
    this.namespaceInformer.stop();
    for (const i of this.ownedInformers.values()) i.stop();
    await this.elector?.stop();
    this.opts.api.abortInflight(true);
    await new Promise<void>((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
    this.log('controller stopped');
  }

  private async untilSynced(inf: Informer): Promise<void> {
    while (this.running && !inf.hasSynced) await sleep(50);
  }

  /** The owned kinds whose API exists; retried (each request with a deadline) until the apiserver answers. */
  private async discoverKinds(): Promise<ResourceKind[]> {
    for (let attempt = 0, backoff = 500; this.running; attempt++, backoff = Math.min(backoff * 2, 10_000)) {
      try {
        const out: ResourceKind[] = [];
        for (const k of OWNED_KINDS) {
          try {
            await this.opts.api.request('GET', `${resourcePath(k, this.opts.namespace)}?limit=1`, undefined, undefined, { timeoutMs: DISCOVERY_TIMEOUT_MS });
            out.push(k);
          } catch (e) {
            if (e instanceof KubeApiError && e.status === 404) { this.log('API not installed; objects of this kind are reported, not applied', { kind: k.kind }); continue; }
            throw e;
          }
        }
        this.startError = undefined;
        return out;
      } catch (e) {
        this.startError = (e as Error).message;
        this.log('waiting for the apiserver', { error: this.startError, attempt, retryInMs: backoff });
        await sleep(backoff);
      }
    }
    return [];
  }

  private async worker(): Promise<void> {
    while (this.running) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        if (!this.isLeader) continue; // a standby keeps its caches warm but does not write
        if (!this.ready) { this.queue.addAfter(key, 200); continue; }
        const end = this.metrics.startReconcile();
        const action = await this.reconciler.reconcile(key);
        end();
        if (action.result) this.metrics.reconciled(refOf(key), action.result);
        this.queue.forget(key);
        if (action.requeueAfterMs !== undefined) this.queue.addAfter(key, action.requeueAfterMs);
      } catch (e) {
        // Leadership ended during the pass: not a failure of this resource; the next leader reconciles it.
        if (e instanceof FencedError || !this.isLeader) { this.log('reconcile stopped: not the leader', { key }); continue; }
        this.metrics.reconciled(refOf(key), 'error');
        this.metrics.retried();
        const delay = this.queue.addRateLimited(key);
        this.log('reconcile failed', { key, error: (e as Error).message, retryInMs: delay });
        const cr = this.crInformer.cache.get(key);
        if (cr && this.queue.retries(key) === 1) await this.opts.api.event(cr as KubeObject, 'Warning', 'ReconcileFailed', (e as Error).message).catch(() => undefined);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private serve(port: number): Promise<void> {
    this.server = http.createServer(async (req, res) => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'Content-Type': this.registry.contentType });
        res.end(await this.registry.metrics());
      } else if (req.url === '/healthz') {
        const stuck = this.stuck();
        res.writeHead(stuck.length ? 503 : 200); res.end(stuck.length ? stuck.join('\n') : 'ok');
      } else if (req.url === '/readyz') {
        const problems = [...this.stuck(), ...(this.ready ? [] : ['informers not synced'])];
        res.writeHead(problems.length ? 503 : 200); res.end(problems.length ? problems.join('\n') : 'ok');
      } else {
        res.writeHead(404); res.end();
      }
    });
    return new Promise((resolve, reject) => this.server!.once('error', reject).listen(port, this.opts.metricsHost, () => { this.port = (this.server!.address() as any).port; resolve(); }));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function refOf(key: string): { namespace: string; name: string } {
  const [namespace, name] = key.split('/');
  return { namespace, name };
}
