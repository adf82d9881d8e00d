/**
 * Level-triggered reconcile of one InferenceMonitoring: read it, build the
 * desired objects with the same function as `cdk8s synth` (renderPlan),
 * apply only what differs from what is live (server-side apply, one field
 * manager), prune what it owned before and no longer wants, and write status
 * through the status subresource only when it changed. No manifest logic here.
 *
 * `reconcile()` is a short sequence of named steps; beside it: the Action it
 * returns (action.ts), the errors and the pure error policy (errors.ts), the
 * finalizer (finalizer.ts) and the conditions (conditions.ts).
 */
import { Manifest, renderPlan, stackInputFromResource } from '../render';
import { planStack, StackPlan } from '../plan/plan';
import { PeerStack, seriesConflicts, sharedPrometheusOf, StackSeries, stackSeries } from '../plan/shared-series';
import { Action } from './action';
import { ChildEntry, childEntry, compactObject, desiredDigest, settle } from './compact';
import { boundedMessage, Condition, removeCondition, setCondition } from './conditions';
import { ApplyFailedError, errorPolicy, InvalidSpecError, RenderError, renderErrors, TerminalError } from './errors';
import { withFinalizer } from './finalizer';
import { FIELD_MANAGER, KubeApi, KubeObject } from './kube';
import { INFERENCE_MONITORING, OWNED_KINDS, ResourceKind, kindOf } from './resources';

/** Label on every child: the UID of the owning InferenceMonitoring (for pruning and cross-namespace cleanup). */
export const OWNER_LABEL = 'monitoring.inference.dev/owner-uid';
export const FINALIZER = 'monitoring.inference.dev/cleanup';
/**
 * Annotation on a namespace that lets InferenceMonitoring resources of other
 * namespaces put objects there (targets[].namespace, gpuMetrics.exporterNamespace:
 * discovery Roles, PodMonitors, NetworkPolicies): a comma-separated list of
 * namespaces, or `*`. Set by whoever administers that namespace.
 */
export const ALLOW_FROM_ANNOTATION = 'monitoring.inference.dev/allow-from-namespaces';
export const RESYNC_MS = 5 * 60_000;
/** Requeue while something is not converged yet (models rolling out, objects just applied or pruned). */
export const ROLLOUT_REQUEUE_MS = 15_000;

export interface ReconcilerDeps {
  readonly api: KubeApi;
  /** The current InferenceMonitoring for a key (from the informer cache). */
  readonly getResource: (key: string) => KubeObject | undefined;
  /** Kinds whose API exists in the cluster (CRDs may be missing). */
  readonly availableKinds: () => readonly ResourceKind[];
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;
  readonly now?: () => string;
  /** Called with the object the apiserver returned after a status write, so the next reconcile does not see stale status. */
  readonly observed?: (obj: KubeObject) => void;
  /**
   * Children of an owner in one namespace from the informer caches (entries, see childEntry), or
   * undefined when the caches do not cover that namespace (then they are listed from the apiserver).
   */
  readonly cachedChildren?: (ownerUid: string, namespace: string) => ChildEntry[] | undefined;
  /** Called with each object an apply returned, so the caches are current before the watch event arrives; returns its cache entry. */
  readonly observedChild?: (obj: KubeObject) => ChildEntry | undefined;
  /**
   * The owner label of an object in the informer caches (undefined when they do not hold it): what this
   * process created a moment ago, before the apiserver's reads show it (see claimCreations).
   */
  readonly cachedOwner?: (ref: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) => string | undefined;
  /** A namespace from the controller's namespace cache (its opt-in annotation), undefined when it does not exist. */
  readonly namespace: (name: string) => KubeObject | undefined;
  /**
   * Told, after each pass, the namespaces other than its own that a resource's objects go to: a change of
   * their opt-in annotation enqueues it (the controller watches namespaces).
   */
  readonly usesNamespaces?: (key: string, namespaces: readonly string[]) => void;
  /**
   * The other InferenceMonitoring resources (from the informer cache) whose series may go to the same shared
   * Prometheus as this one's: each is planned (once per generation) and compared (src/plan/shared-series.ts).
   */
  readonly peers?: (key: string) => readonly KubeObject[];
}

/** Bytes of an Event's message (the client cuts at 1024 without saying so: cut here, with the marker). */
const MAX_EVENT_MESSAGE_BYTES = 1000;

/**
 * Resources whose desired objects are remembered as digests (see
 * desiredDigest). The objects are rendered again only when a child must be
 * compared (its cache entry holds unjudged content) or applied.
 */
const DESIRED_CACHE_SIZE = 4096;
/**
 * Resources whose compacted desired objects are also kept (~35 KiB each), for
 * the comparisons a rollout brings soon after an apply (status and annotation
 * updates of new Deployments) without rendering again. Bounded: 1000
 * converging resources do not keep 1000 desired sets.
 */
const RECENT_COMPACT_SIZE = 256;

/** Least-recently-used map: get refreshes, set evicts the oldest beyond `size`. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly size: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) { this.map.delete(k); this.map.set(k, v); }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
  }
}

/** A desired object as remembered between reconciles: its identity and the digest of its compacted form. */
interface DesiredRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly digest: string;
}

export interface ReconcileOutcome {
  readonly applied: number;
  readonly pruned: number;
  readonly statusWritten: boolean;
}

/** The first path where `live` lacks what `desired` says, for logs; undefined when it contains it all. */
export function firstDifference(desired: unknown, live: unknown, at = ''): string | undefined {
  if (isSubset(desired, live)) return undefined;
  if (Array.isArray(desired) && Array.isArray(live) && desired.length === live.length) {
    for (let i = 0; i < desired.length; i++) { const d = firstDifference(desired[i], live[i], `${at}[${i}]`); if (d) return d; }
  }
  if (desired && typeof desired === 'object' && !Array.isArray(desired) && live && typeof live === 'object') {
    for (const [k, v] of Object.entries(desired as Record<string, unknown>)) { const d = firstDifference(v, (live as any)[k], `${at}.${k}`); if (d) return d; }
  }
  return `${at}: want ${JSON.stringify(desired)?.slice(0, 80)}, have ${JSON.stringify(live)?.slice(0, 80)}`;
}

/** Does `live` contain everything `desired` says? (Extra fields are defaults or other managers'.) */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  if (desired && typeof desired === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, (live as Record<string, unknown>)[k]));
  }
  // Quantities and int-or-strings may come back as the other JSON type.
  return live !== undefined && live !== null && String(desired) === String(live);
}

/** JSON with object keys sorted, for order-insensitive comparison. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
}

/**
 * Why an object is left alone: it exists (or is being created) and is not this resource's. Never the
 * other resource's UID, nor a name the tenant may not see: an owner in the resource's own namespace
 * is named (its owner reference is on the object, which the tenant can read there), any other only as
 * "another InferenceMonitoring".
 */
function notOwnedMessage(want: DesiredRef, cr: KubeObject, owner: string, existing?: KubeObject): string {
  const ref = existing?.metadata.namespace === cr.metadata.namespace
    ? (existing?.metadata.ownerReferences ?? []).find((r: any) => r?.kind === INFERENCE_MONITORING.kind && r?.uid === owner)
    : undefined;
  const whose = owner === '' ? `no ${OWNER_LABEL} label`
    : ref ? `InferenceMonitoring ${ref.name} of this namespace owns it`
      : 'another InferenceMonitoring owns it';
  return `${want.kind} ${want.metadata.namespace}/${want.metadata.name}: exists and is not owned by this InferenceMonitoring (${whose}); left unchanged: rename the model or resource, or delete that object`;
}

const objKey = (o: { apiVersion: string; kind: string; metadata: { namespace?: string; name: string } }) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The desired objects of one reconcile, rendered and compacted on first need (or compacted earlier, see RECENT_COMPACT_SIZE). */
class Rendering {
  private full?: Manifest[];
  constructor(private readonly render: () => Manifest[], private readonly compacted: KubeObject[] = []) {}
  get rendered(): boolean { return this.full !== undefined; }
  all(): Manifest[] { return (this.full ??= this.render()); }
  object(i: number): Manifest { return this.all()[i]; }
  compact(i: number): KubeObject { return (this.compacted[i] ??= compactObject(this.object(i) as KubeObject)); }
  allCompacted(): KubeObject[] { return this.all().map((_, i) => this.compact(i)); }
}

/** What one pass works from: the plan of the resource's generation and its desired objects (rendered on first need). */
interface Pass {
  readonly plan: StackPlan;
  readonly generation: number;
  /** `<uid>/<generation>`: the key of the desired objects remembered between passes. */
  readonly generationKey: string;
  readonly rendering: Rendering;
  readonly desired: DesiredRef[];
}

/** The ownership read of an object to create: the object (undefined when absent) or the read's error. */
type OwnershipRead = { obj?: KubeObject; error?: unknown };

/** The ownership claims of one pass (see Reconciler.claimCreations). */
interface Claims {
  /** Kinds whose API exists in the cluster, as `apiVersion/kind`. */
  readonly available: ReadonlySet<string>;
  readonly reads: ReadonlyMap<string, OwnershipRead>;
  /** Objects this resource may not create, with the reason (see notOwnedMessage). */
  readonly refused: ReadonlyMap<string, string>;
  /** Objects this pass is creating: released when its creations are done. */
  readonly held: readonly string[];
}

/** Does any desired object go to another namespace that allowed it? (Owner references cannot reach it there.) */
function reachesOtherNamespaces(cr: KubeObject, desired: readonly DesiredRef[], refused: ReadonlyMap<string, string>): boolean {
  return desired.some((d) => d.metadata.namespace && d.metadata.namespace !== cr.metadata.namespace && !refused.has(d.metadata.namespace));
}

/** The status of a pass, before it is compared with the written one. */
interface ReconciledStatus {
  readonly generation: number;
  readonly applied: number;
  readonly pruned: number;
  readonly models: ReadonlyArray<{ name: string; replicas: number; readyReplicas: number; ready: boolean; podsPerReplica?: number }>;
  readonly readyCount: number;
  readonly total: number;
  /** `ready/total`. */
  readonly modelsReady: string;
  /** Every model ready, nothing written this pass, nothing failed. */
  readonly allReady: boolean;
  readonly urls: Record<string, string>;
}

/** What a pass's status says (pure): each model's readiness from its live Deployment, and the plan's URLs. */
function reconciledStatus(pass: Pass, live: ReadonlyMap<string, ChildEntry>, r: { applied: number; pruned: number; failures: readonly string[] }): ReconciledStatus {
  const { plan } = pass;
  const models = plan.models.map((m) => {
    if (m.group) {
      // A LeaderWorkerSet counts groups: one is ready when all of its pods are (its status.readyReplicas).
      const lws = live.get(`leaderworkerset.x-k8s.io/v1/LeaderWorkerSet/${plan.namespace}/${m.objectName}`);
      const ready = lws?.status?.readyReplicas ?? 0;
      const wantGroups = lws?.spec?.replicas ?? m.spec.replicas;
      return { name: m.spec.name, replicas: wantGroups, readyReplicas: ready, podsPerReplica: m.group.size, ready: !!lws && ready >= wantGroups };
    }
    const dep = live.get(`apps/v1/Deployment/${plan.namespace}/${m.objectName}`);
    const ready = dep?.status?.readyReplicas ?? 0;
    // What the Deployment wants (kubectl's READY ready/wanted), not the pods that exist: stable while pods come up, so no status write per pod.
    const wantReplicas = dep?.spec?.replicas ?? m.spec.replicas;
    return { name: m.spec.name, replicas: wantReplicas, readyReplicas: ready, ready: !!dep && ready >= wantReplicas && (dep.status?.observedGeneration ?? 0) >= (dep.metadata.generation ?? 0) };
  });
  const readyCount = models.filter((x) => x.ready).length;
  const urls: Record<string, string> = { prometheus: plan.endpoints.prometheus };
  // The plan's URLs (plan/endpoints.ts), the ones Grafana's datasources use: never rebuilt here.
  if (plan.endpoints.grafana) urls.grafana = plan.endpoints.grafana;
  if (plan.endpoints.tempoQuery) urls.tempo = plan.endpoints.tempoQuery;
  return {
    generation: pass.generation, applied: r.applied, pruned: r.pruned, models, readyCount, total: models.length, modelsReady: `${readyCount}/${models.length}`,
    allReady: readyCount === models.length && r.applied === 0 && r.failures.length === 0, urls,
  };
}

export class Reconciler {
  private readonly wanted = new Lru<DesiredRef[]>(DESIRED_CACHE_SIZE);
  private readonly recentCompact = new Lru<KubeObject[]>(RECENT_COMPACT_SIZE);
  /** Peers' series by uid/generation (null: a spec that does not plan), see seriesConflicts. */
  private readonly peerSeries = new Lru<StackSeries | null>(DESIRED_CACHE_SIZE);
  /** Objects being created right now (objKey → the creating resource's UID), see claimCreations. */
  private readonly creating = new Map<string, string>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /** The stamped desired objects of a resource at its generation, from its plan (planned once, in reconcile). */
  private render(cr: KubeObject, plan: StackPlan): Manifest[] {
    return renderPlan(plan).map((m) => this.stamp(m, cr));
  }

  /** The desired objects' references and digests at the resource's generation (LRU); renders only on a miss. */
  private desiredRefs(generationKey: string, rendering: Rendering): DesiredRef[] {
    const hit = this.wanted.get(generationKey);
    if (hit) return hit;
    const refs = rendering.all().map((m, i): DesiredRef => ({
      apiVersion: m.apiVersion, kind: m.kind, metadata: { name: m.metadata.name, namespace: m.metadata.namespace }, digest: desiredDigest(rendering.compact(i)),
    }));
    this.wanted.set(generationKey, refs);
    return refs;
  }

  /**
   * One level-triggered pass over a resource: a short sequence of named steps. The finalizer (withFinalizer)
   * runs the cleanup of a resource being deleted; otherwise: plan, namespaces, finalizer (when objects go to
   * other namespaces), live children, ownership claims, apply, prune, status. What follows is the error
   * policy's for a refused spec or failed objects (errorPolicy), otherwise a requeue: soon while converging,
   * at the resync period once converged. Any other error is thrown: the runner retries it with backoff.
   */
  async reconcile(key: string): Promise<Action & { outcome?: ReconcileOutcome }> {
    const cr = this.deps.getResource(key);
    if (!cr) return Action.awaitChange();
    try {
      return await withFinalizer(this.deps.api, INFERENCE_MONITORING, FINALIZER, cr, {
        cleanup: () => this.deleteChildrenInOtherNamespaces(cr),
        apply: async (finalizer) => {
          const pass = this.plan(cr, key); // a spec that cannot be rendered: TerminalError
          const refused = this.refusedNamespaces(cr, pass.desired, key);
          // Owner references cannot cross namespaces: a finalizer cleans those children up on deletion.
          if (await finalizer.add(reachesOtherNamespaces(cr, pass.desired, refused))) return Action.requeue(0);
          const live = await this.liveChildren(cr, pass.desired);
          const failures = [...refused.values()];
          const claims = await this.claimCreations(cr, pass.desired, refused, live);
          const applied = await this.applyDesired(pass, refused, live, claims, failures);
          const pruned = await this.prune(pass.desired, refused, live);
          const status = reconciledStatus(pass, live, { applied, pruned, failures });
          const statusWritten = await this.writeReconciledStatus(cr, status, failures, this.seriesConflicts(key, pass.plan));
          this.deps.log('reconciled', { key, applied, pruned, failures: failures.length, ready: status.modelsReady });
          const outcome: ReconcileOutcome = { applied, pruned, statusWritten };
          if (failures.length) return { ...errorPolicy(cr, new ApplyFailedError(failures)), outcome };
          return { ...Action.requeue(status.allReady ? RESYNC_MS : ROLLOUT_REQUEUE_MS, 'success'), outcome };
        },
      });
    } catch (e) {
      if (!(e instanceof TerminalError)) throw e;
      await this.refuse(cr, e.cause);
      return errorPolicy(cr, e);
    }
  }

  /**
   * Step plan: the plan and desired objects of the resource's generation. Validation, planning and
   * rendering are pure functions of the spec: what they refuse (or throw on) is refused again until the
   * spec changes, so it is a TerminalError (reported by refuse, not retried). Rendering is lazy: the
   * desired objects' references of a generation seen before come from the LRU.
   */
  private plan(cr: KubeObject, key: string): Pass {
    const generation = cr.metadata.generation ?? 0;
    const generationKey = `${cr.metadata.uid}/${generation}`;
    try {
      const input = stackInputFromResource(cr, cr.metadata.namespace);
      const planned = input.ok ? planStack(input.value) : input;
      if (!planned.ok) throw new TerminalError(new InvalidSpecError(planned.errors));
      const plan = planned.value;
      const rendering = new Rendering(() => this.render(cr, plan), this.recentCompact.get(generationKey));
      return { plan, generation, generationKey, rendering, desired: this.desiredRefs(generationKey, rendering) };
    } catch (e) {
      if (e instanceof TerminalError) throw e;
      const error = new RenderError(cr.spec, e);
      this.deps.log('render failed', { key, error: (e as Error)?.message, at: error.errors.map((x) => x.path) });
      throw new TerminalError(error);
    }
  }

  /**
   * Reports, refusing to go on, a spec that cannot be rendered: `Degraded` (the reason, every field path)
   * for the resource's generation, a Warning Event when the status changed, nothing applied. Terminal:
   * no requeue (the same spec fails the same way, see errorPolicy); the resource's next change, or the
   * periodic resync, reconciles it again, and an unchanged status is not written again.
   */
  private async refuse(cr: KubeObject, error: InvalidSpecError | RenderError): Promise<void> {
    const { reason } = error;
    const generation = cr.metadata.generation ?? 0;
    const parts = error.errors.map((e) => `${e.path}: ${e.message}`);
    const written = await this.writeStatus(cr, (conds) => [
      setCondition(conds, { type: 'Degraded', status: 'True', reason, message: boundedMessage(parts), observedGeneration: generation }, this.deps.now),
      setCondition(conds, { type: 'Ready', status: 'False', reason, message: reason === 'InvalidSpec' ? 'the spec is invalid; nothing was applied' : 'the objects could not be rendered; nothing was applied', observedGeneration: generation }, this.deps.now),
      setCondition(conds, { type: 'Progressing', status: 'False', reason, message: 'waiting for a valid spec', observedGeneration: generation }, this.deps.now),
    ], {});
    if (written) await this.deps.api.event(cr, 'Warning', reason, boundedMessage(parts, MAX_EVENT_MESSAGE_BYTES)).catch(() => undefined);
  }

  /**
   * Step ownership claims: reads, all at once (one round trip per pass instead of one per object), each
   * missing object that may be created (in an allowed namespace, its API installed), then decides which
   * of them this resource may create (see decideClaims). The reads are settled here, so a read nobody
   * awaits cannot reject unhandled.
   */
  private async claimCreations(cr: KubeObject, desired: readonly DesiredRef[], refused: ReadonlyMap<string, string>, live: ReadonlyMap<string, ChildEntry>): Promise<Claims> {
    const available = new Set(this.deps.availableKinds().map((k) => `${k.apiVersion}/${k.kind}`));
    const existing = new Map<string, Promise<OwnershipRead>>();
    for (const want of desired) {
      if (refused.has(want.metadata.namespace!) || !available.has(`${want.apiVersion}/${want.kind}`) || live.has(objKey(want))) continue;
      existing.set(objKey(want), this.deps.api.get(kindOf(want.apiVersion, want.kind), want.metadata.namespace ?? '', want.metadata.name, { fromCache: true })
        .then((obj) => ({ obj }), (error: unknown) => ({ error })));
    }
    const reads = new Map<string, OwnershipRead>();
    for (const [k, p] of existing) reads.set(k, await p);
    return { available, reads, ...this.decideClaims(cr, desired.filter((d) => existing.has(objKey(d))), reads) };
  }

  /**
   * Decides, for one pass, which missing objects this resource may create: every one at once, before the
   * first request, so that two resources whose objects share names and that are reconciled together never
   * split those names between them: the first to claim gets every contested name, the other none (it is
   * Degraded, naming each object). An object is refused when it exists and is not this resource's (no
   * owner label, or another resource's: the ownership read at the start of the pass, or the informer
   * caches, which hold what this process created a moment ago before the apiserver's reads do), or when
   * another resource is creating it now. The claims are held until this pass's creations are done.
   * (An object created outside this process between the read and the apply would still be merged into:
   * a window of one pass, tens of milliseconds.)
   */
  private decideClaims(cr: KubeObject, toCreate: readonly DesiredRef[], reads: ReadonlyMap<string, OwnershipRead>): { refused: Map<string, string>; held: string[] } {
    const uid = cr.metadata.uid!;
    const refused = new Map<string, string>();
    for (const want of toCreate) {
      const k = objKey(want);
      const read = reads.get(k);
      if (read?.error) continue; // reported when its creation is attempted
      const readOwner = read?.obj ? read.obj.metadata.labels?.[OWNER_LABEL] ?? '' : undefined;
      const cachedOwner = this.deps.cachedOwner?.(want);
      const creator = this.creating.get(k);
      const other = [readOwner, cachedOwner, creator].find((o) => o !== undefined && o !== uid);
      if (other !== undefined) refused.set(k, notOwnedMessage(want, cr, other, read?.obj));
    }
    const held: string[] = [];
    for (const want of toCreate) {
      const k = objKey(want);
      if (refused.has(k) || reads.get(k)?.error) continue;
      this.creating.set(k, uid);
      held.push(k);
    }
    return { refused, held };
  }

  /**
   * Step apply: each desired object that is not already satisfied, in order. Ours (in `live`) are applied
   * (server-side apply); anything else only created, when claimed, never taken over. What fails is added
   * to `failures`; the claims are released at the end. Returns how many objects were written.
   */
  private async applyDesired(pass: Pass, refused: ReadonlyMap<string, string>, live: ReadonlyMap<string, ChildEntry>, claims: Claims, failures: string[]): Promise<number> {
    const { rendering } = pass;
    let applied = 0;
    try {
      for (const [i, want] of pass.desired.entries()) {
        if (refused.has(want.metadata.namespace!)) continue;
        if (!claims.available.has(`${want.apiVersion}/${want.kind}`)) {
          failures.push(`${want.kind} ${want.metadata.name}: the ${want.apiVersion} API is not installed in the cluster`);
          continue;
        }
        const current = live.get(objKey(want));
        if (current?.satisfies === want.digest) continue;
        if (current?.content) {
          if (isSubset(rendering.compact(i), current.content)) { settle(current, want.digest); continue; }
          this.deps.log('drifted, applying', { object: objKey(want), at: firstDifference(rendering.compact(i), current.content) });
        }
        // Otherwise the object is missing, or it was judged against an earlier desired object: apply.
        const refusal = current ? undefined : claims.refused.get(objKey(want));
        if (refusal) { failures.push(refusal); continue; }
        try {
          const d = rendering.object(i) as KubeObject;
          const returned = current ? await this.deps.api.apply(d) : await this.createClaimed(d, claims.reads.get(objKey(want)));
          const entry = this.deps.observedChild?.(returned);
          if (entry?.content && isSubset(rendering.compact(i), entry.content)) settle(entry, want.digest);
          applied++;
        } catch (e) {
          failures.push(`${want.kind} ${want.metadata.namespace}/${want.metadata.name}: ${(e as Error).message}`);
        }
      }
    } finally {
      for (const k of claims.held) this.creating.delete(k);
    }
    if (rendering.rendered) this.recentCompact.set(pass.generationKey, rendering.allCompacted());
    return applied;
  }

  /** Creates (server-side apply) an object decideClaims allowed; the ownership read's error, if it failed, instead. */
  private async createClaimed(obj: KubeObject, read: OwnershipRead | undefined): Promise<KubeObject> {
    if (read?.error) throw read.error;
    return this.deps.api.apply(obj);
  }

  /** Step prune: deletes the children it owns and no longer wants (including those in namespaces that withdrew their opt-in). */
  private async prune(desired: readonly DesiredRef[], refused: ReadonlyMap<string, string>, live: ReadonlyMap<string, ChildEntry>): Promise<number> {
    const wanted = new Set(desired.filter((d) => !refused.has(d.metadata.namespace!)).map(objKey));
    let pruned = 0;
    for (const [k, obj] of live) {
      if (!wanted.has(k)) {
        await this.deps.api.delete(obj);
        pruned++;
      }
    }
    return pruned;
  }

  /** Step status: the conditions and fields of a pass, written when changed; a Warning Event when written with failures, and when a series conflict appears or changes. */
  private async writeReconciledStatus(cr: KubeObject, s: ReconciledStatus, failures: readonly string[], conflicts: readonly string[]): Promise<boolean> {
    const { generation, applied, pruned, readyCount, total, allReady } = s;
    let conflictChanged = false;
    const statusWritten = await this.writeStatus(cr, (conds) => [
      failures.length
        ? setCondition(conds, { type: 'Degraded', status: 'True', reason: 'ApplyFailed', message: boundedMessage(failures), observedGeneration: generation }, this.deps.now)
        : setCondition(conds, { type: 'Degraded', status: 'False', reason: 'Reconciled', message: 'all objects applied', observedGeneration: generation }, this.deps.now),
      setCondition(conds, allReady
        ? { type: 'Ready', status: 'True', reason: 'AllModelsReady', message: `${readyCount}/${total} models ready`, observedGeneration: generation }
        : { type: 'Ready', status: 'False', reason: failures.length ? 'ApplyFailed' : 'ModelsNotReady', message: `${readyCount}/${total} models ready`, observedGeneration: generation }, this.deps.now),
      // Messages stay the same from one pass to the next of a rollout, so each pass does not write status.
      setCondition(conds, allReady
        ? { type: 'Progressing', status: 'False', reason: 'Converged', message: 'every object matches the spec', observedGeneration: generation }
        : readyCount < total
          ? { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${readyCount}/${total} models ready`, observedGeneration: generation }
          : applied || pruned
            ? { type: 'Progressing', status: 'True', reason: 'Applying', message: `applied ${applied}, pruned ${pruned}`, observedGeneration: generation }
            : { type: 'Progressing', status: 'True', reason: 'ApplyFailed', message: 'retrying the objects Degraded names', observedGeneration: generation }, this.deps.now),
      // Present only while another stack's series clash with this one's: the objects are applied all the same (one
      // team's stack must not stop another's), the condition and a Warning Event say what to rename.
      conflictChanged = conflicts.length
        ? setCondition(conds, { type: 'SeriesConflict', status: 'True', reason: 'SharedSeries', message: boundedMessage(conflicts), observedGeneration: generation }, this.deps.now)
        : removeCondition(conds, 'SeriesConflict'),
    ], { models: s.models, modelsReady: s.modelsReady, urls: s.urls });
    if (statusWritten && failures.length) await this.deps.api.event(cr, 'Warning', 'ApplyFailed', boundedMessage(failures, MAX_EVENT_MESSAGE_BYTES)).catch(() => undefined);
    if (statusWritten && conflictChanged && conflicts.length) await this.deps.api.event(cr, 'Warning', 'SeriesConflict', boundedMessage(conflicts, MAX_EVENT_MESSAGE_BYTES)).catch(() => undefined);
    return statusWritten;
  }

  /**
   * Step series conflicts: this stack's models whose series another stack sends to the same shared Prometheus
   * with the same labels. Peers are planned once per generation (a peer whose spec does not plan is its own
   * problem, reported on it, and skipped here).
   */
  private seriesConflicts(key: string, plan: StackPlan): string[] {
    if (!this.deps.peers || sharedPrometheusOf(plan) === undefined) return [];
    const peers: PeerStack[] = [];
    for (const peer of this.deps.peers(key)) {
      const peerKey = `${peer.metadata.uid}/${peer.metadata.generation ?? 0}`;
      let series = this.peerSeries.get(peerKey);
      if (series === undefined) {
        const input = stackInputFromResource(peer, peer.metadata.namespace);
        const result = input.ok ? planStack(input.value) : input;
        series = result.ok ? stackSeries(result.value) : null;
        this.peerSeries.set(peerKey, series);
      }
      if (series) peers.push({ ref: `${peer.metadata.namespace}/${peer.metadata.name}`, series });
    }
    return seriesConflicts(stackSeries(plan), peers);
  }

  /**
   * Namespaces other than the resource's that its objects would go to and that
   * do not list the resource's namespace in ALLOW_FROM_ANNOTATION, with the
   * failure naming the spec field that points there.
   */
  private refusedNamespaces(cr: KubeObject, desired: readonly DesiredRef[], key: string): Map<string, string> {
    const own = cr.metadata.namespace!;
    const others = [...new Set(desired.map((d) => d.metadata.namespace!).filter((ns) => ns && ns !== own))].sort();
    this.deps.usesNamespaces?.(key, others);
    const out = new Map<string, string>();
    for (const ns of others) {
      const obj = this.deps.namespace(ns);
      const allowed = (obj?.metadata.annotations?.[ALLOW_FROM_ANNOTATION] ?? '').split(',').map((x) => x.trim());
      if (obj && (allowed.includes('*') || allowed.includes(own))) continue;
      const spec = cr.spec ?? {};
      const fields = [
        ...(spec.targets ?? []).map((t: any, i: number) => (t?.namespace === ns ? `spec.targets[${i}].namespace` : undefined)),
        spec.gpuMetrics?.exporterNamespace === ns ? 'spec.gpuMetrics.exporterNamespace' : undefined,
      ].filter(Boolean);
      out.set(ns, `${fields.join(', ') || 'spec'}: Forbidden: namespace ${ns} ${obj ? `does not allow InferenceMonitoring resources from ${own} (its administrator can annotate it ${ALLOW_FROM_ANNOTATION}=${own})` : 'does not exist'}; nothing was applied there`);
    }
    return out;
  }

  /** Labels and owner references that tie a child to its InferenceMonitoring. */
  private stamp(m: Manifest, cr: KubeObject): Manifest {
    const out: Manifest = JSON.parse(JSON.stringify(m));
    out.metadata.labels = { ...(out.metadata.labels ?? {}), [OWNER_LABEL]: cr.metadata.uid! };
    if (!out.metadata.namespace || out.metadata.namespace === cr.metadata.namespace) {
      out.metadata.ownerReferences = [{ apiVersion: cr.apiVersion, kind: cr.kind, name: cr.metadata.name, uid: cr.metadata.uid, controller: true, blockOwnerDeletion: true }];
    }
    return out;
  }

  /** Children that exist now, by owner label, in every namespace the desired set or the last spec touched (cache entries). */
  private async liveChildren(cr: KubeObject, desired: readonly DesiredRef[]): Promise<Map<string, ChildEntry>> {
    const namespaces = [...new Set([cr.metadata.namespace!, ...desired.map((d) => d.metadata.namespace!).filter(Boolean)])];
    const out = new Map<string, ChildEntry>();
    for (const ns of namespaces) {
      const cached = this.deps.cachedChildren?.(cr.metadata.uid!, ns);
      if (cached) {
        for (const item of cached) {
          // Cached while its owner was unknown (see childStub): read it now that it matters.
          const entry = item.stub ? await this.readStub(cr, item) : item;
          if (entry) out.set(objKey(entry), entry);
        }
        continue;
      }
      for (const k of this.deps.availableKinds()) {
        const { items } = await this.deps.api.list(k, ns, `${OWNER_LABEL}=${cr.metadata.uid}`);
        for (const item of items) out.set(objKey(item), childEntry(item));
      }
    }
    return out;
  }

  /** The full entry of a child the caches hold only as a stub; undefined when it is gone or no longer this resource's. */
  private async readStub(cr: KubeObject, stub: ChildEntry): Promise<ChildEntry | undefined> {
    const obj = await this.deps.api.get(kindOf(stub.apiVersion, stub.kind), stub.metadata.namespace ?? '', stub.metadata.name);
    if (!obj || obj.metadata.labels?.[OWNER_LABEL] !== cr.metadata.uid) return undefined;
    const entry = this.deps.observedChild?.(obj);
    return entry && !entry.stub ? entry : childEntry(obj);
  }

  /** Cleanup on deletion (see withFinalizer): the children in other namespaces, which owner references cannot reach. */
  private async deleteChildrenInOtherNamespaces(cr: KubeObject): Promise<void> {
    for (const k of this.deps.availableKinds()) {
      const { items } = await this.deps.api.list(k, undefined, `${OWNER_LABEL}=${cr.metadata.uid}`);
      for (const item of items.filter((i) => i.metadata.namespace !== cr.metadata.namespace)) await this.deps.api.delete(item);
    }
  }

  /** Writes status only when a condition or field changed. */
  private async writeStatus(cr: KubeObject, update: (conds: Condition[]) => boolean[], fields: Record<string, unknown>): Promise<boolean> {
    const current = cr.status ?? {};
    const conds: Condition[] = JSON.parse(JSON.stringify(current.conditions ?? []));
    const changed = update(conds).some(Boolean);
    const generation = cr.metadata.generation ?? 0;
    const next = { ...fields, observedGeneration: generation, conditions: conds };
    // Key order differs between what we send and what the apiserver returns: compare canonically.
    const fieldsChanged = Object.entries(next).some(([k, v]) => k !== 'conditions' && canonical(current[k]) !== canonical(v));
    if (!changed && !fieldsChanged) return false;
    const updated = await this.deps.api.applyStatus(INFERENCE_MONITORING, cr.metadata.namespace!, cr.metadata.name, next);
    this.deps.observed?.({ ...updated, apiVersion: INFERENCE_MONITORING.apiVersion, kind: INFERENCE_MONITORING.kind });
    return true;
  }
}

export { Action, errorPolicy, FIELD_MANAGER, OWNED_KINDS, renderErrors };
