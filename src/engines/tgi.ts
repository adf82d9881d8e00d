import { EngineProfile, versionSatisfies } from './profile';

const SRC = 'huggingface/text-generation-inference router/src/server.rs, router/src/infer/mod.rs';

/**
 * Text Generation Inference. Metrics on the HTTP port (the `metrics` crate: counters carry no
 * `_total`); no time-to-first-token histogram. The router also binds 0.0.0.0:9000 for its
 * Prometheus recorder (TGI issue #3062), so 9000 must stay free in the pod.
 */
/**
 * Duration histograms (router/src/server.rs, Matcher::Suffix("duration")): 35 bounds, `value = 0.0001`,
 * then `value *= 1.5` before each push, computed in the same order so the floats (and `le` strings) are
 * the router's (checked against test/fixtures/engines/tgi-3.3.6/catalog.json, read from the v3.3.6 source).
 */
const DURATION_BUCKETS: readonly number[] = (() => {
  const out: number[] = [];
  let value = 0.0001;
  for (let i = 0; i < 35; i++) { value *= 1.5; out.push(value); }
  return out;
})();

export const tgi: EngineProfile = {
  engine: 'tgi',
  displayName: 'TGI',
  defaultVersion: '3.3.6',
  minimumVersion: '2.0.0',
  // launcher/src/main.rs (every recorded release): --num-shard splits one copy over GPUs; no option starts more copies.
  noMultiNode: 'text-generation-launcher shards a model over the GPUs of one machine only (no multi-node launch); use a smaller model or another engine',
  noPipelineParallel: 'text-generation-launcher shards the model over --num-shard GPUs (tensor parallelism) only',
  noDataParallel: 'text-generation-launcher serves one copy of the model, sharded over parallelism.tensor GPUs, and has no data-parallel option; use replicas for more copies',
  image: (version) => `ghcr.io/huggingface/text-generation-inference:${version.replace(/^v/, '')}`,
  requiresGpu: true,
  defaultPort: 8080,
  command: (ctx) => ({
    command: ['text-generation-launcher'],
    args: [
      '--model-id', ctx.model,
      '--hostname', '0.0.0.0',
      '--port', String(ctx.port),
      '--num-shard', String(ctx.tensorParallel),
    ],
  }),
  // launcher/src/main.rs: --otlp-service-name from 2.1.0; 2.0.x names its spans' service text-generation-inference.router.
  tracing: (ctx, version) => ({
    args: ['--otlp-endpoint', ctx.grpcEndpoint, ...(versionSatisfies(version, '>=2.1.0') ? ['--otlp-service-name', ctx.serviceName] : [])],
  }),
  metrics: { kind: 'scrape', path: '/metrics', portPerRank: false },
  health: { readinessPath: '/health', livenessPath: '/health', startupSeconds: 1800 },
  resources: { cpu: '8', memory: '64Gi' },
  signals: {
    requestsWaiting: [{ versions: '*', metric: 'tgi_queue_size', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    requestsRunning: [{ versions: '*', metric: 'tgi_batch_current_size', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    interTokenLatency: [{ versions: '*', metric: 'tgi_request_mean_time_per_token_duration', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: DURATION_BUCKETS }],
    e2eLatency: [{ versions: '*', metric: 'tgi_request_duration', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC }],
    queueTime: [{ versions: '*', metric: 'tgi_request_queue_duration', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC }],
    promptTokens: [{ versions: '*', metric: 'tgi_request_input_length_sum', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    generationTokens: [{ versions: '*', metric: 'tgi_request_generated_tokens_sum', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    requestsFinished: [{ versions: '*', metric: 'tgi_request_success', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    // The `metrics` crate registers a counter at its first increment: a server without failures has no tgi_request_failure.
    requestsFailed: [{ versions: '*', metric: 'tgi_request_failure', type: 'counter', unit: 'count', rankAggregation: 'sum', reasonLabel: 'err', source: SRC, lazy: true }],
  },
  missingSignals: {
    ttft: 'TGI has no time-to-first-token histogram; the panel shows queue time + prefill time (tgi_request_queue_duration + tgi_batch_inference_duration{method="prefill"}) as an approximation',
    kvCacheUsage: 'TGI does not export KV-cache usage',
  },
};
