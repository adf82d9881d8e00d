import { EngineProfile, LWS_ENV, MultiNodeContext, ProcessSpec, versionSatisfies } from './profile';

const SRC = 'InternLM/lmdeploy lmdeploy/metrics/loggers.py';
/** `lmdeploy serve proxy` listens here and serves no metrics. */
const PROXY_PORT = 8000;
/** Finish reasons (`ResponseType` members) that are failures, from lmdeploy/messages.py. */
const FAILURES = [
  'ResponseType.ENGINE_STOP_ERROR', 'ResponseType.SESSION_REPEAT', 'ResponseType.SESSION_NOT_EXIST',
  'ResponseType.HANDLER_NOT_EXIST', 'ResponseType.INPUT_LENGTH_ERROR', 'ResponseType.INTERNAL_ENGINE_ERROR',
  'ResponseType.PREFIX_CACHE_CONFLICT', 'ResponseType.NO_QUEUE', 'ResponseType.NOT_SUPPORTED', 'ResponseType.OUT_OF_MEMORY',
];

/**
 * LMDeploy (PyTorch backend). With `--dp N` it starts one API server per
 * data-parallel rank on `--server-port + rank`, each with its own `/metrics`
 * labelled `engine="<rank>"`; a proxy routes requests to them.
 * Metrics: `--enable-metrics` in 0.9.2–0.10.x, on by default from 0.11 (`--disable-metrics` turns them off).
 */
/** Bucket bounds of the latency histograms (loggers.py). */
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
// 20 bounds from 0.005 in 0.11.0 and 0.18.0 (test/fixtures/engines/lmdeploy-*, recorded by tools/engine-metrics).
/** 0.9.x: 19 bounds from 0.01 (recorded 0.9.2). */
const TPOT_BUCKETS_0_9 = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
const ITL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];

/** Port of LMDeploy's data-parallel rendezvous (LMDEPLOY_DP_MASTER_PORT). */
const DP_MASTER_PORT = '29555';
/**
 * Every pod of a data-parallel group: `--nnodes`/`--node-rank` make lmdeploy/serve/openai/launch_server.py start one
 * API server per local rank on `--server-port + i`, with dp_rank = node_rank × (dp / nnodes) + i (the `engine`
 * label), each registering with the proxy on the leader.
 */
function multiNodeProcess(ctx: MultiNodeContext, nodeRank: string): ProcessSpec {
  return {
    command: ['lmdeploy', 'serve', 'api_server'],
    args: [
      ctx.model,
      '--backend', 'pytorch',
      '--server-name', '0.0.0.0',
      '--server-port', String(ctx.port),
      '--tp', String(ctx.tensorParallel),
      '--dp', String(ctx.dataParallel),
      ...(ctx.expertParallel ? ['--ep', String(ctx.dataParallel)] : []),
      '--proxy-url', `http://$(${LWS_ENV.leaderAddress}):${PROXY_PORT}`,
      '--nnodes', String(ctx.nodes),
      '--node-rank', nodeRank,
      ...(versionSatisfies(ctx.version, '<0.11.0') ? ['--enable-metrics'] : []),
    ],
    env: [{ name: 'LMDEPLOY_DP_MASTER_ADDR', value: `$(${LWS_ENV.leaderAddress})` }, { name: 'LMDEPLOY_DP_MASTER_PORT', value: DP_MASTER_PORT }],
  };
}
const MULTI_NODE_SRC = 'lmdeploy/serve/openai/launch_server.py (one API server per local data-parallel rank, dp_rank = node_rank × dp_per_node + i)';

export const lmdeploy: EngineProfile = {
  engine: 'lmdeploy',
  displayName: 'LMDeploy',
  defaultVersion: '0.18.0',
  minimumVersion: '0.9.2',
  // lmdeploy/serve/openai/launch_server.py (read in the 0.11.0-0.18.0 wheels): up to 0.12 the rank servers of
  // `--dp N` always start on find_available_ports() (random free ports); in 0.13 and 0.14 they do whenever
  // --proxy-url is given, which the proxy this profile runs needs; from 0.15 --server-port + rank is used when
  // --server-port is given (as here). The scrape cannot find random ports, so older versions are rejected.
  // lmdeploy/serve/openai/launch_server.py (0.11.0 and 0.18.0 wheels): with --dp > 1 it asserts tp > 1 or ep > 1,
  // uses num_devices = max(dp, tp, ep) GPUs and gives each rank num_devices // dp of them.
  gpuLayout: 'max',
  dataParallelFrom: { version: '0.15.0', reason: 'before 0.15 LMDeploy starts the data-parallel rank servers on random ports (find_available_ports) when a proxy is used and ignores --server-port, so their /metrics cannot be scraped' },
  image: (version) => `openmmlab/lmdeploy:v${version.replace(/^v/, '')}-cu12`,
  requiresGpu: true,
  defaultPort: 23333,
  command: (ctx) => ({
    command: ['lmdeploy', 'serve', 'api_server'],
    args: [
      ctx.model,
      '--backend', 'pytorch',
      '--server-name', '0.0.0.0',
      // Always explicit: with --proxy-url and no --server-port the ranks pick random ports.
      '--server-port', String(ctx.port),
      '--tp', String(ctx.tensorParallel),
      ...(ctx.dataParallel > 1
        ? ['--dp', String(ctx.dataParallel), ...(ctx.expertParallel ? ['--ep', String(ctx.dataParallel)] : []), '--proxy-url', `http://127.0.0.1:${PROXY_PORT}`, '--nnodes', '1', '--node-rank', '0']
        : []),
      ...(versionSatisfies(ctx.version, '<0.11.0') ? ['--enable-metrics'] : []),
    ],
    env: ctx.dataParallel > 1
      ? [{ name: 'LMDEPLOY_DP_MASTER_ADDR', value: '127.0.0.1' }, { name: 'LMDEPLOY_DP_MASTER_PORT', value: '29555' }]
      : [],
  }),
  router: () => ({
    name: 'proxy',
    port: PROXY_PORT,
    process: {
      command: ['lmdeploy', 'serve', 'proxy'],
      args: ['--server-name', '0.0.0.0', '--server-port', String(PROXY_PORT), '--routing-strategy', 'min_expected_latency', '--serving-strategy', 'Hybrid'],
    },
  }),
  tracing: () => undefined,
  noPipelineParallel: 'lmdeploy serve api_server has no pipeline-parallel option',
  multiNode: {
    from: { version: '0.18.0', reason: 'the multi-node data-parallel launch (--nnodes, --node-rank, --proxy-url, one server per local rank) is checked against 0.18.0' },
    defaults: { dataParallel: 'native' },
    modes: {
      native: {
        when: 'dataParallel',
        description: 'data parallelism over the group: every pod runs one API server per local rank; the leader also runs the proxy',
        rankLabel: 'engine',
        leader: (ctx) => ({ process: multiNodeProcess(ctx, '0'), metricsPortOffsets: Array.from({ length: ctx.dataLocal }, (_, i) => i), probes: 'engine', serves: 'one /metrics per local rank, engine = global rank' }),
        worker: (ctx) => ({ process: multiNodeProcess(ctx, `$(${LWS_ENV.workerIndex})`), metricsPortOffsets: Array.from({ length: ctx.dataLocal }, (_, i) => i), probes: 'engine', serves: 'one /metrics per local rank, engine = global rank' }),
        source: MULTI_NODE_SRC,
      },
    },
  },
  metrics: { kind: 'scrape', path: '/metrics', portPerRank: true },
  rankLabel: 'engine',
  modelLabel: 'model_name',
  health: { readinessPath: '/health', livenessPath: '/health', startupSeconds: 1800 },
  resources: { cpu: '8', memory: '64Gi' },
  signals: {
    requestsWaiting: [{ versions: '*', metric: 'lmdeploy:num_requests_waiting', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    requestsRunning: [{ versions: '*', metric: 'lmdeploy:num_requests_running', type: 'gauge', unit: 'count', rankAggregation: 'sum', source: SRC }],
    kvCacheUsage: [{ versions: '*', metric: 'lmdeploy:gpu_cache_usage_perc', type: 'gauge', unit: 'ratio', rankAggregation: 'max', source: SRC }],
    ttft: [{ versions: '*', metric: 'lmdeploy:time_to_first_token_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: TTFT_BUCKETS }],
    // Time between consecutive tokens (the histogram has no `_seconds` suffix, but observes seconds).
    // iter_token_latency exists from 0.10.0 (absent from the recorded 0.9.2, present in the 0.10.0 wheel). Before,
    // time_per_output_token_seconds observed each iteration's interval per token: the inter-token latency.
    interTokenLatency: [
      { versions: '<0.10.0', metric: 'lmdeploy:time_per_output_token_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: TPOT_BUCKETS_0_9 },
      { versions: '>=0.10.0', metric: 'lmdeploy:iter_token_latency', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC, buckets: ITL_BUCKETS },
    ],
    // Per-request mean time per output token.
    timePerOutputToken: [{ versions: '*', metric: 'lmdeploy:time_per_output_token_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC }],
    e2eLatency: [{ versions: '*', metric: 'lmdeploy:e2e_request_latency_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC }],
    queueTime: [{ versions: '*', metric: 'lmdeploy:request_queue_time_seconds', type: 'histogram', unit: 'seconds', rankAggregation: 'sum', source: SRC }],
    promptTokens: [{ versions: '*', metric: 'lmdeploy:prompt_tokens_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    generationTokens: [{ versions: '*', metric: 'lmdeploy:generation_tokens_total', type: 'counter', unit: 'count', rankAggregation: 'sum', source: SRC }],
    requestsFinished: [{ versions: '*', metric: 'lmdeploy:request_success_total', type: 'counter', unit: 'count', rankAggregation: 'sum', reasonLabel: 'finished_reason', failureReasons: FAILURES, source: SRC }],
    // From 0.14.0 (absent from the 0.13.0 wheel's loggers.py, present in 0.14.0; recorded in 0.18.0, absent in 0.11.0).
    prefixCacheHitRate: [{ versions: '>=0.14.0', metric: 'lmdeploy:prefix_cache_hit_rate', type: 'gauge', unit: 'ratio', rankAggregation: 'max', source: SRC }],
  },
  missingSignals: { preemptions: 'LMDeploy does not count preemptions' },
};
