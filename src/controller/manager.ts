/**
 * Runs the controller: informers for InferenceMonitoring and for every owned
 * kind (an owned object's change enqueues its owner, so hand edits and
 * deletions are repaired), a rate-limited work queue, workers that run the
 * reconciler only while this replica holds the Lease, a periodic resync,
 * /metrics, /healthz, /readyz, JSON logs and graceful shutdown.
 */
import * as http from 'http';
import * as os from 'os';
import { Registry } from 'prom-client';
import { ChildEntry, childEntry, withoutManagedFields } from './compact';
import { Informer } from './informer';
import { KubeApi, KubeApiError, KubeObject } from './kube';
import { LeaderElector } from './leader-election';
import { ControllerMetrics } from './metrics';
import { OWNER_LABEL, RESYNC_MS, Reconciler } from './reconciler';
import { INFERENCE_MONITORING, OWNED_KINDS, ResourceKind, resourcePath } from './resources';
import { WorkQueue } from './workqueue';

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
  readonly leaderElection?: { readonly namespace: string; readonly name?: string; readonly identity?: string };
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
  public server?: http.Server;
  public port?: number;
  private readonly reconciler: Reconciler;
  private readonly elector?: LeaderElector;
  private available: ResourceKind[] = [];
  private leading = false;
  private running = false;
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
      leading: () => this.leading,
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
        if (type === 'delete') this.metrics.forget({ namespace: obj.metadata.namespace!, name: obj.metadata.name });
        this.queue.add(key);
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
    });
    if (opts.leaderElection) {
      this.elector = new LeaderElector(opts.api, {
        namespace: opts.leaderElection.namespace,
        name: opts.leaderElection.name ?? 'inference-monitoring-controller',
        identity: opts.leaderElection.identity ?? `${os.hostname()}-${process.pid}`,
        log: this.log,
        onStartedLeading: () => { this.leading = true; for (const k of this.crInformer.cache.keys()) this.queue.add(k); },
        onStoppedLeading: () => { this.leading = false; },
      });
    }
  }

  get isLeader(): boolean { return this.leading; }
  get ready(): boolean { return this.crInformer.hasSynced && [...this.ownedInformers.values()].every((i) => i.hasSynced); }

  async start(): Promise<void> {
    this.running = true;
    this.available = await this.discoverKinds();
    for (const k of this.available) {
      const inf = new Informer(this.opts.api, k, {
        namespace: this.opts.namespace,
        labelSelector: OWNER_LABEL,
        log: this.log,
        // A summary of each child; its content only until the reconciler has compared it (see childEntry).
        transform: childEntry,
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
    this.crInformer.start();
    if (this.opts.metricsPort !== undefined) await this.serve(this.opts.metricsPort);
    if (this.elector) this.elector.start(); else this.leading = true;
    const every = this.opts.resyncMs ?? RESYNC_MS;
    this.resyncTimer = setInterval(() => { for (const k of this.crInformer.cache.keys()) this.queue.add(k); }, every);
    this.resyncTimer.unref();
    for (let i = 0; i < (this.opts.workers ?? 2); i++) this.workersDone.push(this.worker());
    this.log('controller started', { namespace: this.opts.namespace ?? '(all)', kinds: this.available.map((k) => k.kind) });
  }

  /** Graceful: stop taking keys, finish the reconciles in flight, release the Lease. */
  async stop(): Promise<void> {
    this.running = false;
    this.queue.shutDown();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await Promise.all(this.workersDone);
    this.crInformer.stop();
    for (const i of this.ownedInformers.values()) i.stop();
    await this.elector?.stop();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.log('controller stopped');
  }

  private async discoverKinds(): Promise<ResourceKind[]> {
    const out: ResourceKind[] = [];
    for (const k of OWNED_KINDS) {
      try {
        await this.opts.api.request('GET', `${resourcePath(k, this.opts.namespace)}?limit=1`);
        out.push(k);
      } catch (e) {
        if (e instanceof KubeApiError && e.status === 404) { this.log('API not installed; objects of this kind are reported, not applied', { kind: k.kind }); continue; }
        throw e;
      }
    }
    return out;
  }

  private async worker(): Promise<void> {
    while (this.running) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        if (!this.leading) continue; // a standby keeps its caches warm but does not write
        if (!this.ready) { this.queue.addAfter(key, 200); continue; }
        const end = this.metrics.startReconcile();
        const action = await this.reconciler.reconcile(key);
        end();
        if (action.result) this.metrics.reconciled(refOf(key), action.result);
        this.queue.forget(key);
        if (action.requeueAfterMs !== undefined) this.queue.addAfter(key, action.requeueAfterMs);
      } catch (e) {
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
        res.writeHead(200); res.end('ok');
      } else if (req.url === '/readyz') {
        res.writeHead(this.ready ? 200 : 503); res.end(this.ready ? 'ok' : 'informers not synced');
      } else {
        res.writeHead(404); res.end();
      }
    });
    return new Promise((resolve, reject) => this.server!.once('error', reject).listen(port, this.opts.metricsHost, () => { this.port = (this.server!.address() as any).port; resolve(); }));
  }
}

function refOf(key: string): { namespace: string; name: string } {
  const [namespace, name] = key.split('/');
  return { namespace, name };
}
