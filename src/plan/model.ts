/**
 * Planning one model (a GPU workload the stack deploys) or one target (an existing workload it scrapes):
 * engine version, process, ports per data-parallel rank, probes, labels, the environment it gets, and the
 * checks only the plan can make (ports beyond 65535, requests above limits, variables we set).
 */
import { EngineProfile, EnvVarValue, GroupRole, MultiNodeContext, ProcessSpec, availableSignals, healthFor, normalizeVersion, versionSatisfies } from '../engines/profile';
import { profileFor } from '../engines/registry';
import { durationMs } from '../duration';
import { LABEL_ENGINE, LABEL_INSTANCE, LABEL_MODEL, LABEL_NAME, labelValue, objectName, stackLabels } from '../names';
import { InferenceMonitoringSpec, ModelSpec, TargetSpec } from '../api/schema';
import { quantityValue } from '../api/quantity';
import { FieldError } from '../api/validate';
import { GroupPlan, GroupRolePlan, MetricsEndpoint, ModelPlan, Planned, StackPlan, TargetPlan } from './types';

/** The OpenTelemetry SDKs' variable for headers of trace exports. */
export const TRACES_HEADERS_ENV = 'OTEL_EXPORTER_OTLP_TRACES_HEADERS';

/** An argument Kubernetes passes as written: `$$` is its escape for `$`, so `$(VAR)` stays literal. */
export function literalArg(arg: string): string {
  return arg.replace(/\$/g, '$$$$');
}

/**
 * An environment variable value Kubernetes passes as written: it expands `$(VAR)` in `env[].value` as in
 * arguments (a `$(HF_TOKEN)` in a URL we write would become the token), and `$$` is its escape for `$`.
 */
export const literalEnv = literalArg;

/**
 * Variables that make an OTLP-pushing engine send metrics to `endpoint` every `interval` (the stack's scrape
 * interval, a Prometheus duration), labelled like scraped series.
 */
export function otlpMetricsEnv(endpoint: string, model: string, engine: string, interval: string): EnvVarValue[] {
  return [
    { name: 'OTEL_METRICS_EXPORTER', value: 'otlp' },
    // The SDKs push every 60 s by default: a 1-minute rate() window would rarely hold two samples. Pushed at
    // the scrape interval, pushed series are as dense as scraped ones.
    { name: 'OTEL_METRIC_EXPORT_INTERVAL', value: String(durationMs(interval)) },
    { name: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', value: 'http/protobuf' },
    { name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', value: literalEnv(`${endpoint}/v1/metrics`) },
    // Promoted to labels by the OTLP receiver, so pushed series carry the same labels as scraped ones.
    { name: 'OTEL_RESOURCE_ATTRIBUTES', value: `model=${model},inference_engine=${engine},namespace=$(POD_NAMESPACE),pod=$(POD_NAME)` },
  ];
}

/** Ports of the engine container: the first API server, then one per extra data-parallel rank. */
export function enginePorts(plan: ModelPlan): Array<{ name: string; port: number }> {
  if (plan.metricsEndpoints.length > 0) return plan.metricsEndpoints.map((e) => ({ name: e.portName, port: e.port }));
  return [{ name: 'http', port: plan.enginePort }];
}

/** Service ports: the client port and every metrics port, each once. */
export function servicePorts(plan: ModelPlan): Array<{ name: string; port: number }> {
  const out = new Map<string, number>();
  out.set(plan.servicePort.name, plan.servicePort.port);
  for (const p of enginePorts(plan)) out.set(p.name, p.port);
  return [...out.entries()].map(([name, port]) => ({ name, port }));
}

export function resolveVersion(profile: EngineProfile, given: string | undefined, path: string, errors: FieldError[]): string {
  const version = normalizeVersion(given ?? profile.defaultVersion);
  if (!versionSatisfies(version, `>=${profile.minimumVersion}`)) {
    const why = profile.minimumReason ?? `${profile.displayName} exports the metrics we monitor from ${profile.minimumVersion} on`;
    errors.push({ path, message: `Unsupported value: ${JSON.stringify(given)}: ${why}; use ${profile.minimumVersion} or later` });
  }
  const until = profile.unsupportedFrom;
  if (until && versionSatisfies(version, `>=${until.version}`)) {
    errors.push({ path, message: `Unsupported value: ${JSON.stringify(given ?? profile.defaultVersion)}: ${until.reason}; use a version below ${until.version}` });
  }
  return version;
}

/** The apiserver refuses a container whose request exceeds its limit, so do we, here where the field path is known. */
function checkRequestsWithinLimits(m: ModelSpec, profile: EngineProfile, at: string, errors: FieldError[]): void {
  for (const r of ['cpu', 'memory'] as const) {
    const limit = m.resources.limits?.[r];
    if (!limit) continue;
    const request = m.resources.requests?.[r] ?? profile.resources[r];
    if (quantityValue(request) <= quantityValue(limit)) continue;
    errors.push(m.resources.requests?.[r]
      ? { path: `${at}.resources.requests.${r}`, message: `Invalid value: "${request}": must be less than or equal to ${r} limit of ${limit}` }
      : { path: `${at}.resources.limits.${r}`, message: `Invalid value: "${limit}": below ${profile.displayName}'s default ${r} request of ${profile.resources[r]}; set resources.requests.${r} too` });
  }
}

/** Default GPU toleration: the taint the NVIDIA GPU Operator and most clouds put on GPU nodes. */
export const DEFAULT_GPU_TOLERATION = { key: 'nvidia.com/gpu', operator: 'Exists' } as const;

/** Requests and limits of the engine container: the spec's, else the engine profile's defaults. */
function engineResources(m: ModelSpec, profile: EngineProfile): ModelPlan['resources'] {
  const gpu = m.gpu.count > 0 ? { [m.gpu.resourceName]: String(m.gpu.count) } : {};
  return {
    requests: { cpu: m.resources.requests?.cpu ?? profile.resources.cpu, memory: m.resources.requests?.memory ?? profile.resources.memory, ...gpu },
    // No CPU limit unless asked for: CFS throttling hurts token latency.
    limits: { cpu: m.resources.limits?.cpu, memory: m.resources.limits?.memory ?? m.resources.requests?.memory ?? profile.resources.memory, ...gpu },
  };
}

/** What planning a model needs to know about the stack around it. */
export interface ModelContext {
  /** metadata.name of the resource (the instance label). */
  readonly instance: string;
  /** Prefix of object names (`base-<model>`). */
  readonly base: string;
  readonly spec: InferenceMonitoringSpec;
  /** The stack's endpoints engines send traces and metrics to. */
  readonly endpoints: Pick<StackPlan['endpoints'], 'tempoGrpc' | 'tempoHttp' | 'otlpMetrics'>;
}

/** Plans `spec.models[index]`. */
export function planModel(ctx: ModelContext, m: ModelSpec, index: number): Planned<ModelPlan> {
  const { spec, endpoints } = ctx;
  const errors: FieldError[] = [];
  const at = `spec.models[${index}]`;
  const profile = profileFor(m.engine);
  const version = resolveVersion(profile, m.engineVersion, `${at}.engineVersion`, errors);
  const dpFrom = profile.dataParallelFrom;
  if (dpFrom && m.parallelism.data > 1 && !versionSatisfies(version, `>=${dpFrom.version}`)) {
    errors.push({ path: `${at}.parallelism.data`, message: `Invalid value: ${m.parallelism.data}: ${profile.displayName} ${version} cannot be monitored with data parallelism: ${dpFrom.reason}; use ${dpFrom.version} or later` });
  }
  const enginePort = m.port ?? profile.defaultPort;
  const cmdCtx = {
    model: m.model, port: enginePort, tensorParallel: m.parallelism.tensor, dataParallel: m.parallelism.data, version,
    ...(m.parallelism.pipeline > 1 ? { pipelineParallel: m.parallelism.pipeline } : {}),
    ...(m.parallelism.expert ? { expertParallel: true } : {}),
  };
  const perRank = profile.metrics.kind === 'scrape' && profile.metrics.portPerRank && m.parallelism.data > 1;
  const router = perRank && profile.router ? profile.router(cmdCtx) : undefined;

  const tracingArgs = (): ProcessSpec | undefined => (endpoints.tempoGrpc
    ? profile.tracing({
      grpcEndpoint: endpoints.tempoGrpc,
      // Only the stack's Tempo is known to take OTLP over HTTP; an external collector is the gRPC endpoint it is documented as.
      httpEndpoint: endpoints.tempoHttp,
      serviceName: m.name,
      samplingRatio: spec.tracing.samplingRatio ?? profile.defaultTraceSamplingRatio ?? 1,
    }, version)
    : undefined);
  const group = m.parallelism.nodes > 1 ? planGroup(m, profile, version, { ...cmdCtx, nodes: m.parallelism.nodes, dataLocal: m.parallelism.data / m.parallelism.nodes }, tracingArgs(), at, errors) : undefined;

  let metricsEndpoints: MetricsEndpoint[] = [];
  if (group) {
    metricsEndpoints = unionOfEndpoints([...group.leader.metricsEndpoints, ...group.worker.metricsEndpoints]);
  } else if (profile.metrics.kind === 'scrape') {
    const path = profile.metrics.path;
    metricsEndpoints = perRank
      ? Array.from({ length: m.parallelism.data }, (_, rank) => ({ portName: `rank-${rank}`, port: enginePort + rank, path, rank }))
      : [{ portName: 'http', port: enginePort, path }];
  }
  const lastPort = Math.max(...metricsEndpoints.map((e) => e.port), enginePort);
  if (lastPort > 65535) {
    errors.push({ path: `${at}.port`, message: `Invalid value: ${enginePort}: ${group ? group.dataLocal : m.parallelism.data} data-parallel ranks use ports ${enginePort}-${lastPort}, beyond 65535` });
  }
  if (router && router.port >= enginePort && router.port <= lastPort) {
    errors.push({ path: `${at}.port`, message: `Invalid value: ${enginePort}: rank ports ${enginePort}-${lastPort} overlap the ${router.name} port ${router.port}` });
  }

  const tracing = tracingArgs();
  const engine = profile.command(cmdCtx);
  const engineProcess: ProcessSpec = {
    command: engine.command,
    // `$` doubled: Kubernetes expands `$(VAR)` in args, which would put a referenced Secret's value into the process arguments.
    args: [...engine.args, ...(tracing?.args ?? []), ...(m.args ?? [])].map(literalArg),
    // Tracing's variables override the engine's defaults of the same name (one entry per name). Every value is
    // literal (`$` doubled): none of the profiles' values means to reference another variable.
    env: lastByName([...(engine.env ?? []), ...(tracing?.env ?? [])]).map((e) => ({ name: e.name, value: literalEnv(e.value) })),
  };

  checkRequestsWithinLimits(m, profile, at, errors);
  const pushesOtlpMetrics = profile.metrics.kind === 'otlp-push';
  const otlpPushEnv = pushesOtlpMetrics && endpoints.otlpMetrics ? otlpMetricsEnv(endpoints.otlpMetrics, m.name, m.engine, spec.monitoring.interval) : [];
  // A user variable of a name we generate would replace ours (kplus keeps the last): a plaintext HF_TOKEN, a spoofed endpoint.
  const generatedEnv = new Map<string, string>([
    ...(engineProcess.env ?? []).map((e): [string, string] => [e.name, `the ${profile.displayName} engine profile (tracing: spec.tracing)`]),
    ...otlpPushEnv.map((e): [string, string] => [e.name, 'the OTLP metrics push to the stack\'s Prometheus']),
    ...(tracing && spec.tracing.headersSecretRef ? [[TRACES_HEADERS_ENV, 'spec.tracing.headersSecretRef'] as [string, string]] : []),
  ]);
  (m.env ?? []).forEach((e, j) => {
    const by = generatedEnv.get(e.name);
    if (by) errors.push({ path: `${at}.env[${j}].name`, message: `Forbidden: ${e.name} is set by ${by}; change it through the spec` });
  });

  if (m.autoscaling) {
    const signal = m.autoscaling.metric === 'queueLength' ? 'requestsWaiting' : 'kvCacheUsage';
    if (!availableSignals(profile, version).has(signal)) {
      errors.push({ path: `${at}.autoscaling.metric`, message: `Unsupported value: "${m.autoscaling.metric}": ${profile.displayName} ${version} exports no ${signal === 'requestsWaiting' ? 'queue length' : 'KV-cache usage'}` });
    }
  }
  const selectorLabels = { [LABEL_INSTANCE]: labelValue(ctx.instance), [LABEL_MODEL]: m.name };
  const image = m.image ?? profile.image(m.engineVersion ?? profile.defaultVersion);
  const value: ModelPlan = {
    index,
    spec: m,
    profile,
    version,
    objectName: objectName([ctx.base, m.name]),
    image,
    servicePort: router ? { name: router.name, port: router.port } : { name: 'http', port: enginePort },
    enginePort,
    engineProcess,
    router: router ? { ...router, image: router.image ?? image } : undefined,
    metricsEndpoints,
    pushesOtlpMetrics,
    ...(otlpPushEnv.length ? { otlpPushEnv } : {}),
    tracesHeadersSecret: tracing ? spec.tracing.headersSecretRef : undefined,
    tracesExported: tracing !== undefined,
    health: healthFor(profile, version),
    resources: engineResources(m, profile),
    tolerations: m.gpu.tolerations ?? (m.gpu.count > 0 ? [DEFAULT_GPU_TOLERATION] : []),
    selectorLabels,
    labels: { ...stackLabels(ctx.instance, m.engine, 'inference'), ...selectorLabels, [LABEL_ENGINE]: m.engine, [LABEL_NAME]: m.engine },
    signals: availableSignals(profile, version),
    ...(group ? { group } : {}),
  };
  return { value, errors };
}

/** Each port once, in port order. */
function unionOfEndpoints(endpoints: readonly MetricsEndpoint[]): MetricsEndpoint[] {
  const byPort = new Map<number, MetricsEndpoint>();
  for (const e of endpoints) if (!byPort.has(e.port)) byPort.set(e.port, e);
  return [...byPort.values()].sort((a, b) => a.port - b.port);
}

/**
 * A replica over `parallelism.nodes` pods: the engine's multi-node mode (the spec's, else the profile's default for
 * the kind of parallelism), the leader's and workers' processes, and the ports each serves `/metrics` on.
 */
function planGroup(m: ModelSpec, profile: EngineProfile, version: string, ctx: MultiNodeContext, tracing: ProcessSpec | undefined, at: string, errors: FieldError[]): GroupPlan | undefined {
  const multi = profile.multiNode;
  if (!multi) {
    errors.push({ path: `${at}.parallelism.nodes`, message: `Forbidden: ${profile.displayName} cannot serve one model over several pods: ${profile.noMultiNode ?? 'it has no multi-node launch'}` });
    return undefined;
  }
  if (!versionSatisfies(version, `>=${multi.from.version}`)) {
    errors.push({ path: `${at}.engineVersion`, message: `Unsupported value: "${version}": ${profile.displayName} runs over several pods here from ${multi.from.version} on (${multi.from.reason}); use ${multi.from.version} or later, or parallelism.nodes 1` });
  }
  const kind = m.parallelism.data > 1 ? 'dataParallel' : 'tensorPipeline';
  const modeName = m.parallelism.multiNodeMode ?? multi.defaults[kind];
  const mode = modeName === undefined ? undefined : multi.modes[modeName];
  if (!mode || mode.when !== kind) {
    const fits = Object.entries(multi.modes).filter(([, md]) => md.when === kind).map(([n]) => n);
    const what = kind === 'dataParallel' ? 'data parallelism (data > 1)' : 'tensor × pipeline parallelism (data 1)';
    errors.push(m.parallelism.multiNodeMode
      ? { path: `${at}.parallelism.multiNodeMode`, message: `Unsupported value: "${modeName}": with ${what} ${profile.displayName} runs ${fits.length ? fits.map((f) => `"${f}"`).join(', ') : 'no multi-node mode'}` }
      : { path: `${at}.parallelism`, message: `Invalid value: ${profile.displayName} cannot run ${what} over several pods${fits.length ? '' : ' (no multi-node mode)'}` });
    return undefined;
  }
  const refused = mode.refuses?.(ctx);
  if (refused) errors.push({ path: `${at}.parallelism`, message: `Invalid value: ${profile.displayName} ${modeName}: ${refused}` });
  const role = (r: GroupRole, isLeader: boolean): GroupRolePlan => ({
    process: {
      command: r.process.command,
      // The engine's own arguments keep their `$(LWS_…)` references (the kubelet expands them); tracing's and the
      // spec's are literal (`$` doubled), as on single-pod models.
      args: [...r.process.args, ...[...(tracing?.args ?? []), ...(m.args ?? [])].map(literalArg)],
      env: lastByName([...(r.process.env ?? []), ...(tracing?.env ?? []).map((e) => ({ name: e.name, value: literalEnv(e.value) }))]),
    },
    metricsEndpoints: r.metricsPortOffsets.map((offset) => ({
      portName: r.metricsPortOffsets.length > 1 ? `rank-${offset}` : 'http',
      port: ctx.port + offset,
      path: profile.metrics.kind === 'scrape' ? profile.metrics.path : '/metrics',
      ...(r.metricsPortOffsets.length > 1 ? { rank: offset } : {}),
    })),
    probes: r.probes,
    router: isLeader && profile.router !== undefined && profile.metrics.kind === 'scrape' && profile.metrics.portPerRank,
    serves: r.serves,
    duplicatesLeader: r.duplicatesLeader ?? false,
  });
  const leader = role(mode.leader(ctx), true);
  const worker = role(mode.worker(ctx), false);
  return {
    size: ctx.nodes,
    mode: modeName!,
    dataLocal: ctx.dataLocal,
    leader,
    worker,
    targetsPerGroup: leader.metricsEndpoints.length + (ctx.nodes - 1) * worker.metricsEndpoints.length,
    ...(mode.rankLabel ? { rankLabel: mode.rankLabel } : {}),
    source: mode.source,
  };
}

/** Plans `spec.targets[index]`. */
export function planTarget(ctx: { readonly base: string; readonly namespace: string }, t: TargetSpec, index: number): Planned<TargetPlan> {
  const errors: FieldError[] = [];
  const at = `spec.targets[${index}]`;
  const profile = profileFor(t.engine);
  const version = resolveVersion(profile, t.engineVersion, `${at}.engineVersion`, errors);
  if (t.port + t.ranks - 1 > 65535) {
    errors.push({ path: `${at}.ranks`, message: `Invalid value: ${t.ranks}: ports ${t.port}-${t.port + t.ranks - 1} go beyond 65535` });
  }
  const metricsEndpoints = Array.from({ length: t.ranks }, (_, rank) => ({
    portName: t.ranks > 1 ? `rank-${rank}` : 'http', port: t.port + rank, path: t.path, ...(t.ranks > 1 ? { rank } : {}),
  }));
  return {
    value: {
      index, spec: t, profile, version,
      objectName: objectName([ctx.base, t.name]),
      namespace: t.namespace ?? ctx.namespace,
      metricsEndpoints,
      signals: availableSignals(profile, version),
    },
    errors,
  };
}

/** One entry per name, the last value winning, at the position of the first. */
function lastByName<T extends { readonly name: string }>(env: readonly T[]): T[] {
  const byName = new Map<string, T>();
  for (const e of env) byName.set(e.name, e);
  return [...byName.values()];
}
