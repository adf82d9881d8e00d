/**
 * The names of the controller's own metrics, in one place, so its dashboard and alerts
 * (src/install/controller-dashboard.ts, src/install/controller-rules.ts) cannot drift from what /metrics
 * serves (src/controller/metrics.ts). Kept apart from prom-client: the install is part of the library, whose
 * users need not install the controller's optional dependencies.
 */
export const CONTROLLER_METRICS = {
  /** Counter {result}: every reconcile. */
  reconciles: 'inference_monitoring_reconcile_total',
  /** Counter {resource_namespace, resource_name, result}: reconciles of each resource. */
  resourceReconciles: 'inference_monitoring_resource_reconcile_total',
  /** Counter: reconciles that threw and were retried with back-off. */
  errors: 'inference_monitoring_reconcile_errors_total',
  /** Histogram: time one reconcile takes. */
  duration: 'inference_monitoring_reconcile_duration_seconds',
  /** Gauge: keys waiting in the work queue. */
  depth: 'inference_monitoring_workqueue_depth',
  /** Histogram: time a key waited in the queue before a worker took it. */
  queueWait: 'inference_monitoring_workqueue_queue_duration_seconds',
  /** Counter: keys re-queued with back-off after an error. */
  retries: 'inference_monitoring_workqueue_retries_total',
  /** Gauge {kind}: requests sent so far (read, watch, write), kept for the benchmark. */
  requests: 'inference_monitoring_kube_requests',
  /** Counter {verb, code}: apiserver responses by Kubernetes verb and HTTP status ("error": no response). */
  apiRequests: 'inference_monitoring_kube_api_requests_total',
  /** Gauge: 1 while this replica holds the Lease. */
  leader: 'inference_monitoring_leader',
  /** Gauge {resource_namespace, resource_name}: 1 when the resource's Ready condition is True. */
  resourceReady: 'inference_monitoring_resource_ready',
} as const;
