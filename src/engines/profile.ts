/**
 * What we know about an inference engine, as data: how to start it, where its
 * metrics are and what they are called in each version. Dashboards, alerts,
 * scrape configs and workloads ask a profile; none of them spells an engine's
 * metric name or flag itself.
 */
import * as semver from 'semver';

export type EngineName = 'vllm' | 'lmdeploy' | 'sglang' | 'tgi' | 'transformers';

/** The signals dashboards and alerts are built from. */
export type SignalName =
  | 'requestsWaiting'
  | 'requestsRunning'
  | 'kvCacheUsage'
  | 'kvCacheMemory'
  | 'kvCacheFree'
  | 'decodePrefillRatio'
  | 'ttft'
  | 'interTokenLatency'
  | 'timePerOutputToken'
  | 'e2eLatency'
  | 'queueTime'
  | 'promptTokens'
  | 'generationTokens'
  | 'requestsFinished'
  | 'requestsFailed'
  | 'preemptions'
  | 'batchSize'
  | 'batchFill'
  | 'prefixCacheHitRate'
  | 'requestsWaitingByReason'
  | 'prefixCacheHits'
  | 'prefixCacheQueries';

export type MetricType = 'gauge' | 'counter' | 'histogram';

/** A metric that carries one signal. */
export interface SignalMetric {
  /** Metric name as Prometheus stores it (counters with `_total`, histograms without `_bucket`). */
  readonly metric: string;
  readonly type: MetricType;
  /** Unit of the values; dashboards convert to seconds or ratios. */
  readonly unit: 'seconds' | 'milliseconds' | 'ratio' | 'percent' | 'bytes' | 'count';
  /**
   * How series of several data-parallel ranks (or tensor-parallel workers) of one pod combine.
   * `sum`: each rank counts its own requests. `max`: every worker reports the same scheduler value.
   */
  readonly rankAggregation: 'sum' | 'max';
  /** Label holding the finish reason or status, when the counter has one. */
  readonly reasonLabel?: string;
  /** Label values of `reasonLabel` that mean failure (for error ratios). */
  readonly failureReasons?: readonly string[];
  /**
   * Failures a user sees that this counter never counts, read in the engine's code: shown on the error-ratio
   * panel, so the ratio is not read as covering them.
   */
  readonly notCounted?: string;
  /** How the engine's updates of this metric can mislead (read in its code): shown on the panels that use it. */
  readonly caveat?: string;
  /** Where the name comes from in the engine's source. */
  readonly source: string;
  /**
   * Histogram bucket upper bounds (in `unit`), where known from the source: an
   * SLO threshold must be one of them, or the good-request count has no bucket.
   */
  readonly buckets?: readonly number[];
  /**
   * One series per server, without the rank label: the process that counts it
   * is not a data-parallel rank (SGLang's tokenizer manager).
   */
  readonly serverWide?: boolean;
  /**
   * The engine creates the series at its first event (a labelled counter
   * child, a `metrics` crate counter): until then it is absent, which means 0.
   */
  readonly lazy?: boolean;
}

/** A signal's metric for a range of engine versions (semver range, e.g. `>=0.10.2`). */
export interface VersionedSignal extends SignalMetric {
  readonly versions: string;
}

/** How the engine's process(es) serve metrics. */
export type MetricsTransport =
  /** Prometheus scrapes `/metrics`. With `portPerRank`, each data-parallel rank has its own server on `port + rank`. */
  | { readonly kind: 'scrape'; readonly path: string; readonly portPerRank: boolean }
  /** The engine pushes OpenTelemetry metrics over OTLP/HTTP to Prometheus' OTLP receiver. */
  | { readonly kind: 'otlp-push' };

export interface CommandContext {
  readonly model: string;
  readonly port: number;
  readonly tensorParallel: number;
  readonly dataParallel: number;
  readonly version: string;
  /**
   * Pipeline-parallel size.
   * @default 1
   */
  readonly pipelineParallel?: number;
  /**
   * Expert parallelism on (MoE models).
   * @default false
   */
  readonly expertParallel?: boolean;
}

/** The environment variables LeaderWorkerSet injects into every container of a group. */
export const LWS_ENV = { leaderAddress: 'LWS_LEADER_ADDRESS', groupSize: 'LWS_GROUP_SIZE', workerIndex: 'LWS_WORKER_INDEX' } as const;

/** Planning a model copy that spans `nodes` pods (one LeaderWorkerSet group). */
export interface MultiNodeContext extends CommandContext {
  /** Pods per model copy. */
  readonly nodes: number;
  /** Data-parallel ranks per pod (data / nodes). */
  readonly dataLocal: number;
}

/** One role of a group (the leader, or every worker): its process and what it serves. */
export interface GroupRole {
  readonly process: ProcessSpec;
  /**
   * Ports of this role that serve `/metrics`, relative to the model's port: `[0]` for one server, `[0, 1]` for one
   * server per local data-parallel rank, `[]` when the role serves no engine metrics (read in the engine's code).
   */
  readonly metricsPortOffsets: readonly number[];
  /**
   * What the kubelet probes. `engine`: the engine's health routes on the first port (they tell the truth for this
   * role). `tcp`: only that the port listens (the role's HTTP health route answers 200 whatever the engine's state,
   * e.g. SGLang's dummy server on nodes ≥ 1). `none`: the role runs no server (vLLM's headless workers); a dead
   * process still restarts the group.
   */
  readonly probes: 'engine' | 'tcp' | 'none';
  /** Which series this role's `/metrics` carries, and where in the engine's code that is decided. */
  readonly serves: string;
  /**
   * Every series this role serves repeats one the leader serves (the same requests counted by another tensor-parallel
   * rank): it is scraped for `up` only, its samples dropped, so nothing is counted twice.
   * @default false
   */
  readonly duplicatesLeader?: boolean;
}

/** How one engine runs a model copy across pods, as data read from its released code. */
export interface MultiNodeMode {
  /** Whether this mode runs `parallelism` (e.g. data-parallel modes need data > 1). */
  readonly when: 'tensorPipeline' | 'dataParallel';
  readonly description: string;
  leader(ctx: MultiNodeContext): GroupRole;
  worker(ctx: MultiNodeContext): GroupRole;
  /** Label telling this mode's ranks apart across the group's pods (global ranks), if any. */
  readonly rankLabel?: string;
  /** Where the mode's launch and `/metrics` facts come from in the engine's code. */
  readonly source: string;
  /** Why the engine would refuse this layout at start (its own rule, read in its code), or undefined. */
  refuses?(ctx: MultiNodeContext): string | undefined;
}

export interface TracingContext {
  /** OTLP gRPC endpoint, e.g. `http://tempo:4317`. */
  readonly grpcEndpoint: string;
  /**
   * OTLP HTTP base endpoint, e.g. `http://tempo:4318`, where one is known (the stack's Tempo); without it, export to
   * `grpcEndpoint` over gRPC.
   */
  readonly httpEndpoint?: string;
  readonly serviceName: string;
  readonly samplingRatio: number;
}

export interface EnvVarValue { readonly name: string; readonly value: string }

export interface ProcessSpec {
  readonly command?: readonly string[];
  readonly args: readonly string[];
  readonly env?: readonly EnvVarValue[];
}

/** How the kubelet probes an engine: routes recorded from each release (test/fixtures/engine-cli/). */
export interface HealthSpec {
  /** Route of the readiness and startup probes. */
  readonly readinessPath: string;
  /** Route of the liveness probe. */
  readonly livenessPath: string;
  /** Longest time model download and load may take before the startup probe gives up. */
  readonly startupSeconds: number;
  /**
   * Seconds the kubelet waits for the readiness (and startup) route to answer.
   * @default 1 (the kubelet's default)
   */
  readonly readinessTimeoutSeconds?: number;
  /**
   * Seconds the kubelet waits for the liveness route to answer: more than the route may take on a
   * healthy server (SGLang's /health runs a generation).
   * @default 1 (the kubelet's default)
   */
  readonly livenessTimeoutSeconds?: number;
}

export interface EngineProfile {
  readonly engine: EngineName;
  readonly displayName: string;
  /** Version used when the spec gives none; the one our fixtures and dashboards are checked against. */
  readonly defaultVersion: string;
  /** Oldest version the profile supports (its metric names are known from then on). */
  readonly minimumVersion: string;
  /**
   * Why older versions are refused, when it is not their metrics (e.g. the command line or the probes' routes).
   * @default 'exports the metrics we monitor from <minimumVersion> on'
   */
  readonly minimumReason?: string;
  /** First version the profile no longer supports, and why (e.g. the engine stopped exporting metrics). */
  readonly unsupportedFrom?: { readonly version: string; readonly reason: string };
  /**
   * Why the engine cannot run `parallelism.data` > 1 at all (its launcher has no data-parallel option):
   * such a spec is refused at admission with this reason, instead of requesting GPUs one copy never uses.
   */
  readonly noDataParallel?: string;
  /** Oldest version that runs data parallelism the way the profile starts and scrapes it, and why older ones do not. */
  readonly dataParallelFrom?: { readonly version: string; readonly reason: string };
  /**
   * How `parallelism` maps onto GPUs. `product`: every data-parallel rank runs a tensor-parallel group of its
   * own, tensor × data GPUs. `max`: the tensor-parallel size is shared by the data-parallel ranks (each rank
   * gets tensor / data GPUs), max(tensor, data) GPUs, and data parallelism needs tensor > 1.
   * @default 'product'
   */
  readonly gpuLayout?: 'product' | 'max';
  /**
   * How the engine serves a model copy across several pods (`parallelism.nodes` > 1), by mode name; absent
   * when it cannot (with `noMultiNode` the reason admission gives).
   */
  readonly multiNode?: {
    /** Oldest version whose command line and `/metrics` layout the modes were checked against, and why. */
    readonly from: { readonly version: string; readonly reason: string };
    /** The mode used when the spec names none, per kind of parallelism. */
    readonly defaults: { readonly tensorPipeline?: string; readonly dataParallel?: string };
    readonly modes: Readonly<Record<string, MultiNodeMode>>;
  };
  /** Why the engine cannot serve one model copy across pods: the reason admission gives for `parallelism.nodes` > 1. */
  readonly noMultiNode?: string;
  /** Why the engine has no pipeline parallelism: the reason admission gives for `parallelism.pipeline` > 1. */
  readonly noPipelineParallel?: string;
  /** Image for a version. */
  image(version: string): string;
  /** Whether the engine cannot run without a GPU. */
  readonly requiresGpu: boolean;
  readonly defaultPort: number;
  /** Container command and arguments; the spec's own args are appended by the workload. */
  command(ctx: CommandContext): ProcessSpec;
  /**
   * Share of traces kept when `spec.tracing.samplingRatio` is not set: an engine that makes many spans per request
   * gets less, so tracing on by default does not flood Tempo.
   * @default 1
   */
  readonly defaultTraceSamplingRatio?: number;
  /** Flags and environment that make the engine export OTLP traces; undefined when it cannot. */
  tracing(ctx: TracingContext, version: string): ProcessSpec | undefined;
  /**
   * A router in front of per-rank API servers (LMDeploy's proxy), run as a second
   * container when the engine starts one server per data-parallel rank.
   */
  router?(ctx: CommandContext): { readonly name: string; readonly port: number; readonly process: ProcessSpec; readonly image?: string };
  readonly metrics: MetricsTransport;
  /** Label that tells data-parallel ranks apart inside one scrape, if any. */
  readonly rankLabel?: string;
  /**
   * Labels of workers that each report the same scheduler gauge (SGLang's
   * tensor/pipeline-parallel ranks); gauges with `rankAggregation: 'max'` are
   * collapsed over them before summing.
   */
  readonly duplicateLabels?: readonly string[];
  /** Label with the served model's name, if the engine sets one. */
  readonly modelLabel?: string;
  readonly health: HealthSpec;
  /**
   * Probe settings of the version ranges whose routes differ from `health` (a route added or
   * changed), first match wins; each names where in the engine's code the difference is.
   */
  readonly healthByVersion?: ReadonlyArray<{ readonly versions: string; readonly health: Partial<HealthSpec>; readonly source: string }>;
  /** Default container resources (requests = limits for memory). */
  readonly resources: { readonly cpu: string; readonly memory: string };
  readonly signals: Partial<Record<SignalName, readonly VersionedSignal[]>>;
  /** Signals the engine does not have, with what the dashboard says instead. */
  readonly missingSignals?: Partial<Record<SignalName, string>>;
}

/** Version strings such as `v0.11.0` or `0.10` made comparable. */
export function normalizeVersion(version: string): string {
  const coerced = semver.coerce(version, { includePrerelease: false });
  if (!coerced) throw new Error(`'${version}' is not a version`);
  return coerced.version;
}

export function versionSatisfies(version: string, range: string): boolean {
  return semver.satisfies(normalizeVersion(version), range, { includePrerelease: true });
}

/** The metric carrying `signal` in `version`, or undefined if the engine has none. */
export function signalMetric(profile: EngineProfile, signal: SignalName, version: string): SignalMetric | undefined {
  const candidates = profile.signals[signal] ?? [];
  return candidates.find((c) => versionSatisfies(version, c.versions));
}

/** Every signal the engine has in `version`. */
export function availableSignals(profile: EngineProfile, version: string): Map<SignalName, SignalMetric> {
  const out = new Map<SignalName, SignalMetric>();
  for (const name of Object.keys(profile.signals).sort() as SignalName[]) {
    const metric = signalMetric(profile, name, version);
    if (metric) out.set(name, metric);
  }
  return out;
}

/** The probe settings of `version`: `healthByVersion`'s first matching range over `health`. */
export function healthFor(profile: EngineProfile, version: string): HealthSpec {
  const override = profile.healthByVersion?.find((h) => versionSatisfies(version, h.versions));
  return override ? { ...profile.health, ...override.health } : profile.health;
}
