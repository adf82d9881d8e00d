import { EngineProfile, LWS_ENV, MultiNodeContext, ProcessSpec, versionSatisfies } from './profile';

// Names from vllm-project/vllm vllm/v1/metrics/loggers.py. Renames (from its deprecation comments):
// kv_cache_usage_perc added in 0.9.2 (gpu_cache_usage_perc hidden in 0.11, removed in 0.12);
// inter_token_latency_seconds added in 0.11 (time_per_output_token_seconds hidden in 0.12).
// Checked against what 0.11.0 and 0.33.0 export (test/fixtures/engines/vllm-*, recorded by
// tools/engine-metrics): 0.33 has neither old name, even as a hidden metric, counts deferred
// requests in num_requests_waiting and splits them in num_requests_waiting_by_reason{reason}.
const SRC = 'vllm-project/vllm vllm/v1/metrics/loggers.py';

/**
 * vLLM (V1 engine). All data-parallel engines of one server share one `/metrics`
 * and are told apart by the `engine` label.
 */
/** Bucket bounds of the latency histograms (loggers.py). */
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
// vllm/v1/metrics/loggers.py request_latency_buckets (e2e, queue, prefill, decode), recorded from 0.11.0 and 0.33.0.
const REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];

/** vLLM's common arguments for a model copy over several pods: `--nnodes`/`--node-rank` (rank inference in arg_utils.py). */
function multiNodeArgs(ctx: MultiNodeContext, nodeRank: string): string[] {
  return [
    ctx.model,
    '--host', '0.0.0.0',
    '--port', String(ctx.port),
    '--tensor-parallel-size', String(ctx.tensorParallel),
    ...((ctx.pipelineParallel ?? 1) > 1 ? ['--pipeline-parallel-size', String(ctx.pipelineParallel)] : []),
    ...(ctx.dataParallel > 1 ? ['--data-parallel-size', String(ctx.dataParallel), '--data-parallel-size-local', String(ctx.dataLocal)] : []),
    ...(ctx.expertParallel ? ['--enable-expert-parallel'] : []),
    '--nnodes', String(ctx.nodes),
    '--node-rank', nodeRank,
  ];
}
const serve = (args: string[]): ProcessSpec => ({ command: ['vllm', 'serve'], args });
/** `$(VAR)`: the kubelet expands it in arguments from the variables LeaderWorkerSet injects. */
const ref = (name: string) => `$(${name})`;
// vllm/engine/arg_utils.py (0.32-0.34): with --nnodes > 1 the data-parallel start rank is inferred as
// node_rank × local world size / (tp × pp), so one template serves every worker; --headless runs no API server
// (entrypoints/cli/serve.py run_headless); hybrid LB (--data-parallel-hybrid-lb) runs an API server on every
// node for its local engines, labelled with their global ranks (v1/engine/core_client.py engine_ranks_managed).
const MULTI_NODE_SRC = 'vllm/engine/arg_utils.py (create_engine_config: --nnodes, --node-rank, hybrid LB), vllm/entrypoints/cli/serve.py (run_headless), vllm/v1/engine/core_client.py (engine_ranks_managed)';

export const vllm: EngineProfile = {
  engine: 'vllm',
  displayName: 'vLLM',
  defaultVersion: '0.33.0',
  minimumVersion: '0.8.0',
  // vllm/v1/metrics/loggers.py labels series with the engine index from 0.8.3 (labelnames ["model_name", "engine"];
  // 0.8.2 has ["model_name"] only, bisected over the released wheels).
  dataParallelFrom: { version: '0.8.3', reason: 'before 0.8.3 vLLM labels its metrics with the model only, so the series of data-parallel engines cannot be told apart' },
  image: (version) => `vllm/vllm-openai:v${version.replace(/^v/, '')}`,
  requiresGpu: true,
  defaultPort: 8000,
  command: (ctx) => ({
    command: ['vllm', 'serve'],
    args: [
      ctx.model,
      '--host', '0.0.0.0',
      '--port', String(ctx.port),
      '--tensor-parallel-size', String(ctx.tensorParallel),
      ...(ctx.dataParallel > 1 ? ['--data-parallel-size', String(ctx.dataParallel)] : []),
    ],
  }),
  // vllm/engine/arg_utils.py (0.8.0-0.10.1.1, recorded catalogs): --otlp-traces-endpoint makes the release fall back to
  // its V0 engine (NotImplementedError under VLLM_USE_V1=1), which has no data-parallel launcher and other metrics;
  // 0.10.2 traces the V1 engine. Older versions run without tracing rather than on another engine.
  tracing: (ctx, version) => (versionSatisfies(version, '<0.10.2') ? undefined : {
    args: ['--otlp-traces-endpoint', ctx.grpcEndpoint],
    env: [
      { name: 'OTEL_SERVICE_NAME', value: ctx.serviceName },
      { name: 'OTEL_EXPORTER_OTLP_TRACES_INSECURE', value: 'true' },
      { name: 'OTEL_TRACES_SAMPLER', value: 'traceidratio' },
      { name: 'OTEL_TRACES_SAMPLER_ARG', value: String(ctx.samplingRatio) },
    ],
  }),
  multiNode: {
    from: { version: '0.33.0', reason: 'the multi-node command lines (--nnodes, --node-rank, --headless, --data-parallel-size-local, --data-parallel-hybrid-lb) are checked against the parsers recorded from 0.33.0 and 0.34.0' },
    defaults: { tensorPipeline: 'native', dataParallel: 'hybrid' },
    modes: {
      native: {
        when: 'tensorPipeline',
        description: 'tensor × pipeline parallelism over the group with the multiprocessing executor: the leader runs the API server, the workers run headless',
        leader: (ctx) => ({ process: serve([...multiNodeArgs(ctx, '0'), '--master-addr', ref(LWS_ENV.leaderAddress)]), metricsPortOffsets: [0], probes: 'engine', serves: 'every engine metric, engine="0"' }),
        worker: (ctx) => ({ process: serve([...multiNodeArgs(ctx, ref(LWS_ENV.workerIndex)), '--master-addr', ref(LWS_ENV.leaderAddress), '--headless']), metricsPortOffsets: [], probes: 'none', serves: 'nothing: a headless worker runs no API server (serve.py run_headless)' }),
        source: MULTI_NODE_SRC,
      },
      hybrid: {
        when: 'dataParallel',
        description: 'data parallelism over the group, an API server on every pod for its local engines (hybrid load balancing)',
        rankLabel: 'engine',
        leader: (ctx) => ({ process: serve([...multiNodeArgs(ctx, '0'), '--data-parallel-address', ref(LWS_ENV.leaderAddress), '--data-parallel-hybrid-lb']), metricsPortOffsets: [0], probes: 'engine', serves: 'its local engines, engine = global rank 0..dataLocal-1' }),
        worker: (ctx) => ({ process: serve([...multiNodeArgs(ctx, ref(LWS_ENV.workerIndex)), '--data-parallel-address', ref(LWS_ENV.leaderAddress), '--data-parallel-hybrid-lb']), metricsPortOffsets: [0], probes: 'engine', serves: 'its local engines, engine = global rank (worker index × dataLocal + i)' }),
        source: MULTI_NODE_SRC,
        // arg_utils.py: with one local rank hybrid LB switches to external LB, which refuses non-MoE models.
        refuses: (ctx) => (ctx.dataLocal === 1 && !ctx.expertParallel
          ? 'with one data-parallel rank per pod vLLM switches hybrid load balancing to external load balancing, which it refuses for models without experts; set parallelism.expert for a mixture-of-experts model, or put at least 2 data-parallel ranks on each pod'
          : undefined),
      },
    },
  },
  metrics: { kind: 'scrape', path: '/metrics', portPerRank: false },
  rankLabel: 'engine',
  modelLabel: 'model_name',
  health: { readinessPath: '/health', livenessPath: '/health', startupSeconds: 1800 },
  resources: { cpu: '8', memory: '64Gi' },
  signals: {
    requestsWaiting: [{ versions: '*', metric: 'vllm:num_requests_waiting', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    requestsRunning: [{ versions: '*', metric: 'vllm:num_requests_running', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    kvCacheUsage: [
      { versions: '<0.9.2', metric: 'vllm:gpu_cache_usage_perc', type: 'gauge', unit: 'ratio', rankAggregation: 'max', source: SRC },
      { versions: '>=0.9.2', metric: 'vllm:kv_cache_usage_perc', type: 'gauge', unit: 'ratio', rankAggregation: 'max', source: SRC },
    ],
    ttft: [{ versions: '*', metric: 'vllm:time_to_first_token_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: TTFT_BUCKETS }],
    interTokenLatency: [
      { versions: '<0.11.0', metric: 'vllm:time_per_output_token_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: ITL_BUCKETS },
      { versions: '>=0.11.0', metric: 'vllm:inter_token_latency_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: ITL_BUCKETS },
    ],
    e2eLatency: [{ versions: '*', metric: 'vllm:e2e_request_latency_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: REQUEST_LATENCY_BUCKETS }],
    queueTime: [{ versions: '*', metric: 'vllm:request_queue_time_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: REQUEST_LATENCY_BUCKETS }],
    promptTokens: [{ versions: '*', metric: 'vllm:prompt_tokens_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    generationTokens: [{ versions: '*', metric: 'vllm:generation_tokens_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    // v1/engine/output_processor.py (0.33.0): OutputProcessor.abort_requests, the path of a client disconnect or a
    // cancelled stream, drops the request without update_from_finished_request, so no finished_reason="abort" is
    // counted for it (seen on the real 0.32 server: 4 of 12 requests dropped, error ratio 0).
    requestsFinished: [{ versions: '*', metric: 'vllm:request_success_total', type: 'counter', unit: 'count', rankAggregation: 'sum', reasonLabel: 'finished_reason', failureReasons: ['abort', 'error'], source: SRC,
      notCounted: 'client disconnects and cancelled streams (vLLM drops an aborted request without recording it as finished: OutputProcessor.abort_requests), and requests refused before the engine (HTTP 400 validation errors)' }],
    preemptions: [{ versions: '*', metric: 'vllm:num_preemptions_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    // Prompt tokens looked up in / found in the prefix cache (in 0.11.0 and 0.33.0; older releases named them gpu_prefix_cache_*).
    prefixCacheQueries: [{ versions: '>=0.11.0', metric: 'vllm:prefix_cache_queries_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    prefixCacheHits: [{ versions: '>=0.11.0', metric: 'vllm:prefix_cache_hits_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    // From 0.22.0 (bisected over the released wheels' loggers.py: absent in 0.21.0).
    requestsWaitingByReason: [{ versions: '>=0.22.0', metric: 'vllm:num_requests_waiting_by_reason', type: 'gauge', unit: 'count', rankAggregation: 'sum', reasonLabel: 'reason', source: SRC }],
  },
};
