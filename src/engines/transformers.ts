import { EngineProfile, versionSatisfies } from './profile';

// Instruments of meter `transformers.generation.continuous_batch_processor` in huggingface/transformers
// src/transformers/utils/metrics.py, as named after Prometheus' default OTLP translation
// (UnderscoreEscapingWithSuffixes: counters get `_total`, the unit is appended unless already a name token).
// Versions that configure the OTLP exporter themselves read the standard OTEL_EXPORTER_OTLP_* variables.
const SRC = 'huggingface/transformers src/transformers/utils/metrics.py';
const STALE_WHEN_IDLE = 'transformers updates this gauge only while requests are pending (continuous_api.py prepare_next_batch): when the server goes idle it keeps the value of its last batch, and before the first request there is none';

/**
 * Hugging Face transformers `transformers serve` with continuous batching. It
 * serves no `/metrics`: it pushes OpenTelemetry metrics over OTLP, so the stack
 * receives them in Prometheus' OTLP receiver, where names are translated
 * (counters get `_total`, units become suffixes).
 */
export const transformers: EngineProfile = {
  engine: 'transformers',
  displayName: 'transformers',
  // The newest release with metrics (5.9.0 removed them).
  defaultVersion: '5.8.1',
  // Recorded from each release's parser (test/fixtures/engine-cli/transformers-*.json).
  minimumVersion: '4.57.0',
  minimumReason: 'transformers serve has --continuous-batching and the /health route the probes use from 4.57.0 on (4.56 enables continuous batching through --attn_implementation sdpa_paged and answers /health with 404)',
  // transformers serve (cli/serve.py, commands/serving.py): one model copy in one process, no data-parallel option.
  noMultiNode: 'transformers serve runs one process on one machine (no multi-node launch); use another engine for models larger than one node',
  noPipelineParallel: 'transformers serve runs the model in one process',
  noDataParallel: 'transformers serve runs one copy of the model in one process and has no data-parallel option; use replicas for more copies',
  // src/transformers/utils/metrics.py (the continuous-batching instruments) was removed in 5.9.0.
  unsupportedFrom: { version: '5.9.0', reason: 'transformers removed its continuous-batching metrics (transformers/utils/metrics.py) in 5.9.0; 5.9 and later export none' },
  // Built from images/transformers-serve (serving extras + opentelemetry-distro); transformers' own CI
  // image has neither the serving extras nor OpenTelemetry.
  image: (version) => `inference-monitoring-transformers-serve:${version.replace(/^v/, '')}`,
  requiresGpu: false,
  defaultPort: 8000,
  // `transformers serve` records its instruments through the OpenTelemetry API but never installs a
  // MeterProvider: without one they go to the API's no-op provider and nothing is exported. Run under
  // opentelemetry-instrument (opentelemetry-distro), whose configurator installs the SDK's providers
  // from the OTEL_* variables. images/transformers-serve is an image with the serving extras and it.
  command: (ctx) => ({
    command: ['opentelemetry-instrument', 'transformers', 'serve'],
    // cli/serve.py from 5.5.0: the model is a positional argument and --force-model is gone (click refuses it);
    // commands/serving.py before: --force-model.
    args: ['--host', '0.0.0.0', '--port', String(ctx.port), '--continuous-batching',
      ...(versionSatisfies(ctx.version, '>=5.5.0') ? [ctx.model] : ['--force-model', ctx.model])],
    // The distro also turns on trace and log exporters (to localhost:4317) unless told otherwise;
    // tracing below sets the trace exporter when traces have somewhere to go.
    env: [
      { name: 'OTEL_TRACES_EXPORTER', value: 'none' },
      { name: 'OTEL_LOGS_EXPORTER', value: 'none' },
    ],
  }),
  // Every @traced function of the continuous-batching loop makes a span: ~1,300 spans per request on 5.8.1 at ratio 1
  // (the SDK's batch processor dropped spans). 1 in 100 traces keeps them useful without flooding Tempo.
  defaultTraceSamplingRatio: 0.01,
  tracing: (ctx) => ({
    args: [],
    env: [
      { name: 'OTEL_TRACES_EXPORTER', value: 'otlp' },
      // The stack's Tempo over OTLP/HTTP (the exporter the image has always had, proven in test:real-engines); an
      // external collector over gRPC, as spec.tracing.endpoint is documented (the gRPC exporter takes the endpoint
      // as it is, and its scheme decides TLS: http is plaintext).
      ...(ctx.httpEndpoint
        ? [{ name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', value: 'http/protobuf' }, { name: 'OTEL_SERVICE_NAME', value: ctx.serviceName }, { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', value: `${ctx.httpEndpoint}/v1/traces` }]
        : [{ name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', value: 'grpc' }, { name: 'OTEL_SERVICE_NAME', value: ctx.serviceName }, { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', value: ctx.grpcEndpoint }]),
      { name: 'OTEL_TRACES_SAMPLER', value: 'traceidratio' },
      { name: 'OTEL_TRACES_SAMPLER_ARG', value: String(ctx.samplingRatio) },
    ],
  }),
  metrics: { kind: 'otlp-push' },
  health: { readinessPath: '/health', livenessPath: '/health', startupSeconds: 1800 },
  resources: { cpu: '8', memory: '64Gi' },
  // From 5.0.0 a request's created_time is time.perf_counter() (generation/continuous_batching/requests.py) while
  // record_ttft_metric and record_request_completion subtract it from time.time() (utils/metrics.py): every TTFT and
  // latency observation is the machine's uptime-independent epoch offset, ~1.8e12 ms. Those versions have no usable
  // TTFT or end-to-end latency: no panel, alert or SLO is built on them.
  // generation/continuous_batching/continuous_api.py (4.57-5.8): prepare_next_batch records the queue gauges only
  // when requests are pending and the KV-cache gauges after each batch, so after the last request the gauges keep
  // their last values (an idle server shows the 1-2 requests of its last batch), and nothing is pushed before the
  // first request.
  signals: {
    requestsWaiting: [{ versions: '*', caveat: STALE_WHEN_IDLE, metric: 'waiting_requests_count', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    requestsRunning: [{ versions: '*', caveat: STALE_WHEN_IDLE, metric: 'active_requests_count', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    kvCacheFree: [{ versions: '*', caveat: STALE_WHEN_IDLE, metric: 'kv_cache_free_memory_bytes', type: 'gauge', unit: 'bytes', rankAggregation: 'sum', source: SRC }],
    kvCacheMemory: [{ versions: '*', metric: 'kv_cache_memory_bytes', type: 'gauge', unit: 'bytes', rankAggregation: 'sum', source: SRC }],
    ttft: [{ versions: '<5.0.0', metric: 'ttft_milliseconds', type: 'histogram', unit: 'milliseconds', rankAggregation: 'sum', source: SRC, buckets: [10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000] }],
    // Each finished request is one observation of the latency histogram: its count is right even where the
    // values are not (5.x), so requests/s comes from it in every version.
    requestsFinished: [{ versions: '*', metric: 'request_latency_milliseconds_count', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    e2eLatency: [{ versions: '<5.0.0', metric: 'request_latency_milliseconds', type: 'histogram', unit: 'milliseconds', rankAggregation: 'sum', source: SRC }],
  },
  // record_batch_metrics compares each state's status with metrics.RequestStatus, but `transformers serve`
  // passes states whose status is transformers.generation's RequestStatus (an IntEnum): nothing is ever
  // DECODING or PREFILLING to it. Fed that way (test/fixtures/engines/transformers-*/stats.json,
  // serve_status_batch), prefill_tokens_processed, decode_tokens_processed and decode_prefill_ratio record
  // nothing and batch_fill_percentage records 0. No other instrument counts tokens, so nothing to derive from.
  missingSignals: {
    ttft: 'transformers 5.0-5.8 records every time to first token as time.time() minus a time.perf_counter() start (continuous_batching/requests.py created_time), about 1.8e12 ms: not a duration, so not shown, alerted on or used for the SLO (4.57 records it correctly)',
    e2eLatency: 'transformers 5.0-5.8 records every request latency as time.time() minus a time.perf_counter() start (continuous_batching/requests.py created_time), about 1.8e12 ms: not a duration, so not shown or alerted on (4.57 records it correctly)',
    promptTokens: 'transformers (4.57-5.8) never increments prefill_tokens_processed: record_batch_metrics compares request states with a different RequestStatus class, and no other instrument counts tokens',
    generationTokens: 'transformers (4.57-5.8) never increments decode_tokens_processed: record_batch_metrics compares request states with a different RequestStatus class, and no other instrument counts tokens',
    decodePrefillRatio: 'transformers (4.57-5.8) never sets decode_prefill_ratio: record_batch_metrics compares request states with a different RequestStatus class',
    batchFill: 'transformers (4.57-5.8) always records 0 in batch_fill_percentage: record_batch_metrics compares request states with a different RequestStatus class, so it counts no tokens',
  },
};
