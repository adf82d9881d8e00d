import { EngineProfile, LWS_ENV, MultiNodeContext, versionSatisfies } from './profile';

// Names from sgl-project/sglang python/sglang/srt/metrics/collector.py (scheduler gauges carry
// tp_rank/pp_rank/dp_rank; tokenizer-side histograms and counters are per server). The release that
// added inter_token_latency_seconds is 0.4.4 (absent from the 0.4.2 wheel's collector.py).
// Checked against what 0.5.4 and 0.5.23 export (test/fixtures/engines/sglang-*, tools/engine-metrics):
// from 0.5.7 (absent from the 0.5.6 wheel) scheduler metrics also carry moe_ep_rank, and num_retracted_requests_total exists;
// tokenizer-side metrics (TTFT, ITL, e2e, tokens, requests) carry no rank label and, from 0.5.2x,
// engine_type and is_streaming.
const SRC = 'sgl-project/sglang python/sglang/srt/metrics/collector.py';

/**
 * SGLang. One `/metrics` per server; scheduler gauges are reported by every
 * tensor-parallel worker (`tp_rank` label) and must be combined with `max`,
 * never summed.
 */
/** Bucket bounds of the latency histograms (collector.py). */
const TTFT_BUCKETS = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400];
const ITL_BUCKETS = [0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8];
/** Tokenizer-manager metrics: one series per server, no rank label. */
const SERVER = { serverWide: true } as const;

/** Port of SGLang's torch.distributed rendezvous on the leader (`--dist-init-addr host:port`), as LeaderWorkerSet's own example uses. */
export const SGLANG_DIST_INIT_PORT = 20000;
function multiNodeArgs(ctx: MultiNodeContext, nodeRank: string): string[] {
  return [
    '--model-path', ctx.model,
    '--host', '0.0.0.0',
    '--port', String(ctx.port),
    '--tp-size', String(ctx.tensorParallel),
    ...((ctx.pipelineParallel ?? 1) > 1 ? ['--pp-size', String(ctx.pipelineParallel)] : []),
    ...(ctx.expertParallel ? ['--ep-size', String(ctx.tensorParallel)] : []),
    '--nnodes', String(ctx.nodes),
    '--node-rank', nodeRank,
    '--dist-init-addr', `$(${LWS_ENV.leaderAddress}):${SGLANG_DIST_INIT_PORT}`,
    '--enable-metrics',
  ];
}
// srt/entrypoints/engine.py (0.5.23): a node with node_rank >= 1 runs no tokenizer or HTTP API but
// launch_dummy_health_check_server (srt/utils/common.py) on the same port: /health and /health_generate answer 200
// whatever the schedulers do, /metrics serves that node's scheduler series (multiprocess collector).
const MULTI_NODE_SRC = 'python/sglang/srt/entrypoints/engine.py (node_rank >= 1), python/sglang/srt/utils/common.py (launch_dummy_health_check_server)';

export const sglang: EngineProfile = {
  engine: 'sglang',
  displayName: 'SGLang',
  defaultVersion: '0.5.23',
  minimumVersion: '0.4.0',
  image: (version) => `lmsysorg/sglang:v${version.replace(/^v/, '')}-cu126`,
  requiresGpu: true,
  defaultPort: 30000,
  command: (ctx) => ({
    command: ['python3', '-m', 'sglang.launch_server'],
    args: [
      '--model-path', ctx.model,
      '--host', '0.0.0.0',
      '--port', String(ctx.port),
      '--tp-size', String(ctx.tensorParallel),
      ...(ctx.dataParallel > 1 ? ['--dp-size', String(ctx.dataParallel)] : []),
      '--enable-metrics',
    ],
  }),
  // Recorded parsers (test/fixtures/engine-cli/sglang-*.json): --enable-trace from 0.5.3, its endpoint spelt
  // --oltp-traces-endpoint until 0.5.4.post1 and --otlp-traces-endpoint from 0.5.4.post2 (no alias), trace context
  // propagated from 0.5.5.post3 (srt/tracing/trace.py). Patch releases (.postN) compare equal here, so tracing is
  // turned on from 0.5.6, the first release where every patch level has it working.
  tracing: (ctx, version) => (versionSatisfies(version, '>=0.5.6') ? {
    args: ['--enable-trace', '--otlp-traces-endpoint', ctx.grpcEndpoint.replace(/^https?:\/\//, '')],
    env: [{ name: 'OTEL_SERVICE_NAME', value: ctx.serviceName }],
  } : undefined),
  multiNode: {
    from: { version: '0.5.23', reason: 'the multi-node command line (--nnodes, --node-rank, --dist-init-addr) and the dummy server of nodes >= 1 are checked against 0.5.23' },
    defaults: { tensorPipeline: 'native' },
    modes: {
      native: {
        when: 'tensorPipeline',
        description: 'tensor (× pipeline) parallelism over the group: the leader runs the HTTP API, every other node a dummy health server on the same port',
        leader: (ctx) => ({ process: { command: ['python3', '-m', 'sglang.launch_server'], args: multiNodeArgs(ctx, '0') }, metricsPortOffsets: [0], probes: 'engine', serves: 'tokenizer series and the schedulers of node 0' }),
        worker: (ctx) => ({ process: { command: ['python3', '-m', 'sglang.launch_server'], args: multiNodeArgs(ctx, `$(${LWS_ENV.workerIndex})`) }, metricsPortOffsets: [0], probes: 'tcp', serves: 'its tensor-parallel ranks\' scheduler series: queue time and retractions again (each rank counts the same requests), no gauges (only attention-TP rank 0 reports them); dummy server, /health always 200', duplicatesLeader: true }),
        source: MULTI_NODE_SRC,
      },
    },
  },
  metrics: { kind: 'scrape', path: '/metrics', portPerRank: false },
  rankLabel: 'dp_rank',
  // Every scheduler of a data-parallel rank reports the same values (with --enable-metrics-for-all-schedulers):
  // tensor-, pipeline- and expert-parallel ranks (moe_ep_rank from 0.5.7) are collapsed before summing ranks.
  duplicateLabels: ['tp_rank', 'pp_rank', 'moe_ep_rank'],
  modelLabel: 'model_name',
  // srt/entrypoints/http_server.py (0.5.20, 0.5.23): /ready answers at once, 200 once warmed up, not paused and not
  // shutting down. /health (one handler with /health_generate since 0.4.10.post2) submits a 1-token generation and
  // polls it every second: even a healthy idle server answers after about 1 s, and a stuck one gets 503 after
  // SGLANG_HEALTH_CHECK_TIMEOUT (20 s). The liveness timeout waits for that answer rather than the kubelet's 1 s.
  health: { readinessPath: '/ready', livenessPath: '/health', startupSeconds: 1800, livenessTimeoutSeconds: 25 },
  healthByVersion: [
    { versions: '<0.5.20', health: { readinessPath: '/health', readinessTimeoutSeconds: 25 }, source: 'sglang/srt/entrypoints/http_server.py: no /ready before 0.5.20 (0.4.x: sglang/srt/server.py)' },
  ],
  resources: { cpu: '8', memory: '64Gi' },
  signals: {
    requestsWaiting: [{ versions: '*', metric: 'sglang:num_queue_reqs', type: 'gauge', unit: 'count', rankAggregation: 'max', source: SRC }],
    requestsRunning: [{ versions: '*', metric: 'sglang:num_running_reqs', type: 'gauge', unit: 'count', rankAggregation: 'max', source: SRC }],
    kvCacheUsage: [{ versions: '*', metric: 'sglang:token_usage', type: 'gauge', unit: 'ratio', rankAggregation: 'max', source: SRC }],
    ttft: [{ versions: '*', metric: 'sglang:time_to_first_token_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: TTFT_BUCKETS, ...SERVER }],
    interTokenLatency: [
      { versions: '<0.4.4', metric: 'sglang:time_per_output_token_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, ...SERVER },
      // Bounds recorded from 0.5.4 and 0.5.23; not checked for 0.4.4-0.5.3.
      { versions: '>=0.4.4 <0.5.4', metric: 'sglang:inter_token_latency_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, ...SERVER },
      { versions: '>=0.5.4', metric: 'sglang:inter_token_latency_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: ITL_BUCKETS, ...SERVER },
    ],
    e2eLatency: [{ versions: '*', metric: 'sglang:e2e_request_latency_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, ...SERVER }],
    promptTokens: [{ versions: '*', metric: 'sglang:prompt_tokens_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC, ...SERVER }],
    generationTokens: [{ versions: '*', metric: 'sglang:generation_tokens_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC, ...SERVER }],
    // Observed by every scheduler of a rank alike (like the gauges). From 0.5.3 (absent from the 0.5.2 wheel).
    queueTime: [{ versions: '>=0.5.3', metric: 'sglang:queue_time_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'max', source: SRC }],
    // From 0.4.2 (absent from the 0.4.1 wheel).
    requestsFinished: [{ versions: '>=0.4.2', metric: 'sglang:num_requests_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC, ...SERVER }],
    // A labelled counter child created at the first abort. From 0.5.3 (absent from the 0.5.2 wheel).
    requestsFailed: [{ versions: '>=0.5.3', metric: 'sglang:num_aborted_requests_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC, lazy: true, ...SERVER }],
    prefixCacheHitRate: [{ versions: '*', metric: 'sglang:cache_hit_rate', type: 'gauge', unit: 'ratio', rankAggregation: 'max', source: SRC }],
    // Requests retracted (evicted from the running batch for lack of KV cache) since start; before 0.5.7 only a per-interval gauge.
    preemptions: [{ versions: '>=0.5.7', metric: 'sglang:num_retracted_requests_total', type: 'counter', unit: 'count', rankAggregation: 'max', source: SRC }],
  },
  missingSignals: { preemptions: 'SGLang before 0.5.7 reports retractions only as a per-interval gauge' },
};
