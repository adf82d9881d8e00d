/**
 * The controller's own metrics, named in metric-names.ts (which its dashboard
 * and alerts read without loading prom-client). A resource is named by
 * `resource_namespace`/`resource_name`, not `namespace`: the scrape sets
 * `namespace` to the controller's own.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CONTROLLER_METRICS } from './metric-names';

export { CONTROLLER_METRICS };

/** Results of a reconcile: everything applied; done but some objects not applied or the spec invalid; threw (retried). */
export type ReconcileResult = 'success' | 'failed' | 'error';

export interface ResourceRef { readonly namespace: string; readonly name: string }

export interface MetricSources {
  readonly queueDepth: () => number;
  readonly requestCounts: () => { reads: number; watches: number; writes: number };
  readonly leading: () => boolean;
  /** The resources in the cache with whether their Ready condition is True. */
  readonly resources: () => Iterable<ResourceRef & { readonly ready: boolean }>;
}

const RESULTS: readonly ReconcileResult[] = ['success', 'failed', 'error'];

export class ControllerMetrics {
  public readonly registry = new Registry();
  private readonly reconciles: Counter<'result'>;
  private readonly resourceReconciles: Counter<'resource_namespace' | 'resource_name' | 'result'>;
  private readonly errors: Counter;
  private readonly duration: Histogram;
  private readonly queueWait: Histogram;
  private readonly retries: Counter;
  private readonly apiRequests: Counter<'verb' | 'code'>;

  constructor(src: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.reconciles = new Counter({ name: CONTROLLER_METRICS.reconciles, help: 'Reconciles by result.', labelNames: ['result'], registers });
    this.resourceReconciles = new Counter({ name: CONTROLLER_METRICS.resourceReconciles, help: 'Reconciles of each InferenceMonitoring by result (success, failed: objects not applied or spec invalid, error: retried with back-off).', labelNames: ['resource_namespace', 'resource_name', 'result'], registers });
    this.errors = new Counter({ name: CONTROLLER_METRICS.errors, help: 'Reconciles that failed and were retried.', registers });
    this.duration = new Histogram({ name: CONTROLLER_METRICS.duration, help: 'Reconcile duration.', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.queueWait = new Histogram({ name: CONTROLLER_METRICS.queueWait, help: 'Time a key waited in the work queue before a worker took it.', buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300], registers });
    this.retries = new Counter({ name: CONTROLLER_METRICS.retries, help: 'Keys re-queued with back-off after an error.', registers });
    this.apiRequests = new Counter({ name: CONTROLLER_METRICS.apiRequests, help: 'Apiserver responses by Kubernetes verb and HTTP status code ("error" when no response came).', labelNames: ['verb', 'code'], registers });
    // Gauges read their value when scraped (prom-client calls collect()).
    const depth: Gauge = new Gauge({ name: CONTROLLER_METRICS.depth, help: 'Keys waiting in the work queue.', registers, collect: () => { depth.set(src.queueDepth()); } });
    const requests: Gauge<'kind'> = new Gauge({ name: CONTROLLER_METRICS.requests, help: 'Requests sent to the apiserver so far: reads (get, list), watches opened, writes.', labelNames: ['kind'], registers,
      collect: () => {
        const { reads, watches, writes } = src.requestCounts();
        requests.set({ kind: 'read' }, reads);
        requests.set({ kind: 'watch' }, watches);
        requests.set({ kind: 'write' }, writes);
      } });
    const leader: Gauge = new Gauge({ name: CONTROLLER_METRICS.leader, help: '1 while this replica holds the Lease.', registers, collect: () => { leader.set(src.leading() ? 1 : 0); } });
    const ready: Gauge<'resource_namespace' | 'resource_name'> = new Gauge({ name: CONTROLLER_METRICS.resourceReady, help: '1 when the InferenceMonitoring\'s Ready condition is True, else 0 (every replica reports what its cache holds).', labelNames: ['resource_namespace', 'resource_name'], registers,
      collect: () => {
        // From the cache at scrape time: a deleted resource disappears with it.
        ready.reset();
        for (const r of src.resources()) ready.set({ resource_namespace: r.namespace, resource_name: r.name }, r.ready ? 1 : 0);
      } });
  }

  startReconcile(): () => number { return this.duration.startTimer(); }

  reconciled(r: ResourceRef, result: ReconcileResult): void {
    this.reconciles.inc({ result });
    this.resourceReconciles.inc({ resource_namespace: r.namespace, resource_name: r.name, result });
    if (result === 'error') this.errors.inc();
  }

  retried(): void { this.retries.inc(); }

  waited(seconds: number): void { this.queueWait.observe(seconds); }

  response(verb: string, code: number | 'error'): void { this.apiRequests.inc({ verb, code: String(code) }); }

  /** A deleted resource's series go (its counters would otherwise stay for the process's life). */
  forget(r: ResourceRef): void {
    for (const result of RESULTS) this.resourceReconciles.remove({ resource_namespace: r.namespace, resource_name: r.name, result });
  }
}
