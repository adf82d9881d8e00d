/**
 * A pure function from a validated, defaulted spec to what must exist: per
 * model its workload shape and every metrics endpoint (one per data-parallel
 * rank where the engine runs a server per rank), and the stack's components
 * and in-cluster endpoints. No cdk8s here, so it is cheap to test.
 */
import { EngineProfile, EnvVarValue, HealthSpec, ProcessSpec, SignalMetric, SignalName, availableSignals, healthFor, normalizeVersion, versionSatisfies } from '../engines/profile';
import { profileFor } from '../engines/registry';
import { LABEL_ENGINE, LABEL_INSTANCE, LABEL_MODEL, LABEL_NAME, MAX_NAME, labelValue, objectName, stackLabels } from '../names';
import { InferenceMonitoringSpec, ModelSpec, TargetSpec } from '../spec/schema';
import { quantityValue } from '../spec/quantity';
import { durationMs } from '../duration';
import { FieldError, ValidationResult, validateSpec } from '../spec/validate';

/** A port that serves `/metrics` and must be scraped. */
export interface MetricsEndpoint {
  /** Container/Service port name, `http` or `rank-<i>`. */
  readonly portName: string;
  readonly port: number;
  readonly path: string;
  /** Data-parallel rank served on this port, when the engine runs one server per rank. */
  readonly rank?: number;
}

export interface ModelPlan {
  readonly index: number;
  readonly spec: ModelSpec;
  readonly profile: EngineProfile;
  /** Normalized engine version (`0.11.0`). */
  readonly version: string;
  /** Name of the Deployment, Service and related objects. */
  readonly objectName: string;
  readonly image: string;
  /** Port clients send requests to (the router's, when there is one). */
  readonly servicePort: { readonly name: string; readonly port: number };
  /** Port of the first API server. */
  readonly enginePort: number;
  readonly engineProcess: ProcessSpec;
  readonly router?: { readonly name: string; readonly port: number; readonly process: ProcessSpec; readonly image: string };
  /** Empty for engines that push metrics over OTLP. */
  readonly metricsEndpoints: readonly MetricsEndpoint[];
  readonly pushesOtlpMetrics: boolean;
  /** The Secret key whose value the engine sends as headers of its trace exports (TRACES_HEADERS_ENV). */
  readonly tracesHeadersSecret?: { readonly name: string; readonly key: string };
  readonly tracesExported: boolean;
  /** The probes of this engine version (routes and timeouts). */
  readonly health: HealthSpec;
  readonly selectorLabels: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly signals: ReadonlyMap<SignalName, SignalMetric>;
}

export interface TargetPlan {
  readonly index: number;
  readonly spec: TargetSpec;
  readonly profile: EngineProfile;
  readonly version: string;
  readonly objectName: string;
  readonly namespace: string;
  readonly metricsEndpoints: readonly MetricsEndpoint[];
  readonly signals: ReadonlyMap<SignalName, SignalMetric>;
}

export interface StackPlan {
  readonly name: string;
  readonly namespace: string;
  readonly spec: InferenceMonitoringSpec;
  readonly models: readonly ModelPlan[];
  readonly targets: readonly TargetPlan[];
  readonly names: {
    readonly prometheus: string; readonly tempo: string; readonly grafana: string; readonly dcgm: string; readonly grafanaAdminSecret: string;
    readonly alertmanager: string; readonly alertmanagerConfigSecret: string;
  };
  readonly endpoints: {
    readonly tempoGrpc?: string;
    readonly tempoHttp?: string;
    readonly prometheus: string;
    readonly otlpMetrics?: string;
    /** The stack's own Alertmanager, when it runs one. */
    readonly alertmanager?: { readonly host: string; readonly port: number };
  };
}

export interface StackInput {
  /** metadata.name of the InferenceMonitoring resource. */
  readonly name: string;
  /** metadata.namespace. */
  readonly namespace: string;
  /** The raw (not yet validated) spec. */
  readonly spec: unknown;
}

/** Alertmanager's web (API) port. */
export const ALERTMANAGER_PORT = 9093;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates, defaults and plans a stack. Never throws for bad input. */
export function planStack(input: StackInput): ValidationResult<StackPlan> {
  const errors: FieldError[] = [];
  if (!DNS_SUBDOMAIN.test(input.name) || input.name.length > 253) {
    errors.push({ path: 'metadata.name', message: `Invalid value: ${JSON.stringify(input.name)}: must be a lowercase RFC 1123 subdomain` });
  }
  if (!DNS_LABEL.test(input.namespace) || input.namespace.length > 63) {
    errors.push({ path: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(input.namespace)}: must be a lowercase RFC 1123 label` });
  }
  const validated = validateSpec(input.spec);
  if (!validated.ok) return { ok: false, errors: [...errors, ...validated.errors] };
  if (errors.length) return { ok: false, errors };
  const spec = validated.value;
  // Object names start with a letter so Services (DNS-1035) stay valid.
  const base = /^[a-z]/.test(input.name) ? input.name.replace(/\./g, '-') : `im-${input.name.replace(/\./g, '-')}`;

  const names = {
    // StatefulSet pods carry `controller-revision-hash: <statefulset>-<10 hex>`, a label value of at most 63:
    // the managed StatefulSet is this name, the operator's `prometheus-<this name>`.
    prometheus: objectName([base, 'prometheus'], MAX_NAME - 11 - 'prometheus-'.length),
    tempo: objectName([base, 'tempo']),
    grafana: objectName([base, 'grafana']),
    dcgm: objectName([base, 'dcgm-exporter']),
    grafanaAdminSecret: spec.grafana.adminSecretRef?.name ?? objectName([base, 'grafana-admin']),
    alertmanager: objectName([base, 'alertmanager'], MAX_NAME - 11),
    alertmanagerConfigSecret: spec.alerting.alertmanager.configSecretRef?.name ?? objectName([base, 'alertmanager']),
  };
  const svc = (n: string, port: number) => `http://${n}.${input.namespace}.svc:${port}`;
  const tracingEndpoint = spec.tracing.endpoint;
  const managed = spec.monitoring.mode === 'managed';
  // prometheus-operator serves every Prometheus of a namespace behind `prometheus-operated`.
  const prometheusUrl = managed ? svc(names.prometheus, 9090)
    : spec.monitoring.createPrometheus ? svc('prometheus-operated', 9090) : spec.monitoring.prometheusUrl;
  const endpoints = {
    prometheus: prometheusUrl,
    tempoGrpc: spec.tracing.enabled ? tracingEndpoint ?? (spec.tempo.enabled ? svc(names.tempo, 4317) : undefined) : undefined,
    tempoHttp: spec.tracing.enabled && !tracingEndpoint && spec.tempo.enabled ? svc(names.tempo, 4318) : undefined,
    otlpMetrics: `${prometheusUrl}/api/v1/otlp`,
    // The stack's own Alertmanager runs beside a Prometheus of the stack's own; a shared Prometheus has its own.
    alertmanager: spec.alerting.alertmanager.deploy && (managed || spec.monitoring.createPrometheus) ? { host: `${names.alertmanager}.${input.namespace}.svc`, port: ALERTMANAGER_PORT } : undefined,
  };

  const models = (spec.models ?? []).map((m, i) => planModel(input, base, spec, m, i, endpoints, errors));
  const targets = (spec.targets ?? []).map((t, i) => planTarget(input, base, t, i, errors));
  checkSloThresholds(spec, [...models, ...targets], errors);
  checkNameCollisions(input, names, [...models.map((m) => ({ at: `spec.models[${m.index}].name`, name: m.spec.name, objectName: m.objectName })),
    ...targets.map((t, i) => ({ at: `spec.targets[${i}].name`, name: t.spec.name, objectName: t.objectName }))], errors);
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { name: input.name, namespace: input.namespace, spec, models, targets, names, endpoints } };
}

/**
 * A model or target whose objects would take the name of one of the stack's
 * own (`<name>-prometheus`, `-grafana`, …) or of another model's (names are
 * shortened with a hash past 63 characters) is refused, rather than rendering
 * two objects of one name.
 */
function checkNameCollisions(input: StackInput, names: StackPlan['names'], workloads: ReadonlyArray<{ at: string; name: string; objectName: string }>, errors: FieldError[]): void {
  const taken = new Map<string, string>(Object.entries(names).map(([component, n]) => [n, `the stack's ${component}`]));
  taken.set(objectName([input.name, 'default-deny']), 'the stack\'s default-deny NetworkPolicy');
  for (const w of workloads) {
    const by = taken.get(w.objectName);
    if (by) errors.push({ path: w.at, message: `Invalid value: ${JSON.stringify(w.name)}: its objects would be named ${w.objectName}, like ${by}; choose another name` });
    else taken.set(w.objectName, `those of ${w.at.replace(/\.name$/, '')}`);
  }
}

/**
 * A latency SLO counts requests faster than its threshold from the histogram
 * bucket with exactly that bound; a threshold between buckets would silently
 * count nothing, so it is rejected with the bounds that exist.
 */
function checkSloThresholds(spec: InferenceMonitoringSpec, workloads: ReadonlyArray<{ profile: EngineProfile; version: string }>, errors: FieldError[]): void {
  const slos: Array<['ttft' | 'interTokenLatency', SignalName]> = [['ttft', 'ttft'], ['interTokenLatency', 'interTokenLatency']];
  for (const [key, signal] of slos) {
    const threshold = spec.slo?.[key]?.thresholdSeconds;
    if (threshold === undefined) continue;
    for (const w of workloads) {
      const metric = w.profile.signals[signal]?.find((x) => versionSatisfies(w.version, x.versions));
      if (!metric?.buckets) continue;
      const inUnit = metric.unit === 'milliseconds' ? threshold * 1000 : threshold;
      if (metric.buckets.some((b) => Math.abs(b - inUnit) < 1e-9)) continue;
      const scale = metric.unit === 'milliseconds' ? 1000 : 1;
      const near = metric.buckets.map((b) => b / scale).filter((b) => b >= threshold / 4 && b <= threshold * 4);
      errors.push({
        path: `spec.slo.${key}.thresholdSeconds`,
        message: `Invalid value: ${threshold}: not a bucket bound of ${w.profile.displayName}'s ${metric.metric} histogram, so no request could be counted against it; use one of ${(near.length ? near : metric.buckets.map((b) => b / scale)).join(', ')}`,
      });
      break;
    }
  }
}

function resolveVersion(profile: EngineProfile, given: string | undefined, path: string, errors: FieldError[]): string {
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

function planModel(
  input: StackInput, base: string, spec: InferenceMonitoringSpec, m: ModelSpec, index: number,
  endpoints: StackPlan['endpoints'], errors: FieldError[],
): ModelPlan {
  const at = `spec.models[${index}]`;
  const profile = profileFor(m.engine);
  const version = resolveVersion(profile, m.engineVersion, `${at}.engineVersion`, errors);
  const dpFrom = profile.dataParallelFrom;
  if (dpFrom && m.parallelism.data > 1 && !versionSatisfies(version, `>=${dpFrom.version}`)) {
    errors.push({ path: `${at}.parallelism.data`, message: `Invalid value: ${m.parallelism.data}: ${profile.displayName} ${version} cannot be monitored with data parallelism: ${dpFrom.reason}; use ${dpFrom.version} or later` });
  }
  const enginePort = m.port ?? profile.defaultPort;
  const ctx = { model: m.model, port: enginePort, tensorParallel: m.parallelism.tensor, dataParallel: m.parallelism.data, version };
  const perRank = profile.metrics.kind === 'scrape' && profile.metrics.portPerRank && m.parallelism.data > 1;
  const router = perRank && profile.router ? profile.router(ctx) : undefined;

  let metricsEndpoints: MetricsEndpoint[] = [];
  if (profile.metrics.kind === 'scrape') {
    const path = profile.metrics.path;
    metricsEndpoints = perRank
      ? Array.from({ length: m.parallelism.data }, (_, rank) => ({ portName: `rank-${rank}`, port: enginePort + rank, path, rank }))
      : [{ portName: 'http', port: enginePort, path }];
  }
  const lastPort = enginePort + (perRank ? m.parallelism.data - 1 : 0);
  if (lastPort > 65535) {
    errors.push({ path: `${at}.port`, message: `Invalid value: ${enginePort}: ${m.parallelism.data} data-parallel ranks use ports ${enginePort}-${lastPort}, beyond 65535` });
  }
  if (router && router.port >= enginePort && router.port <= lastPort) {
    errors.push({ path: `${at}.port`, message: `Invalid value: ${enginePort}: rank ports ${enginePort}-${lastPort} overlap the ${router.name} port ${router.port}` });
  }

  const tracing = endpoints.tempoGrpc && endpoints.tempoHttp !== undefined || endpoints.tempoGrpc
    ? profile.tracing({
      grpcEndpoint: endpoints.tempoGrpc!,
      // Only the stack's Tempo is known to take OTLP over HTTP; an external collector is the gRPC endpoint it is documented as.
      httpEndpoint: endpoints.tempoHttp,
      serviceName: m.name,
      samplingRatio: spec.tracing.samplingRatio ?? profile.defaultTraceSamplingRatio ?? 1,
    }, version)
    : undefined;
  const engine = profile.command(ctx);
  const engineProcess: ProcessSpec = {
    command: engine.command,
    // `$` doubled: Kubernetes expands `$(VAR)` in args, which would put a referenced Secret's value into the process arguments.
    args: [...engine.args, ...(tracing?.args ?? []), ...(m.args ?? [])].map(literalArg),
    // Tracing's variables override the engine's defaults of the same name (one entry per name). Every value is
    // literal (`$` doubled): none of the profiles' values means to reference another variable.
    env: lastByName([...(engine.env ?? []), ...(tracing?.env ?? [])]).map((e) => ({ name: e.name, value: literalEnv(e.value) })),
  };

  checkRequestsWithinLimits(m, profile, at, errors);
  // A user variable of a name we generate would replace ours (kplus keeps the last): a plaintext HF_TOKEN, a spoofed endpoint.
  const pushesOtlpMetrics = profile.metrics.kind === 'otlp-push';
  const generatedEnv = new Map<string, string>([
    ...(engineProcess.env ?? []).map((e): [string, string] => [e.name, `the ${profile.displayName} engine profile (tracing: spec.tracing)`]),
    ...(pushesOtlpMetrics && endpoints.otlpMetrics ? otlpMetricsEnv(endpoints.otlpMetrics, m.name, m.engine, spec.monitoring.interval) : []).map((e): [string, string] => [e.name, 'the OTLP metrics push to the stack\'s Prometheus']),
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
  const objName = objectName([base, m.name]);
  const selectorLabels = { [LABEL_INSTANCE]: labelValue(input.name), [LABEL_MODEL]: m.name };
  const image = m.image ?? profile.image(m.engineVersion ?? profile.defaultVersion);
  return {
    index,
    spec: m,
    profile,
    version,
    objectName: objName,
    image,
    servicePort: router ? { name: router.name, port: router.port } : { name: 'http', port: enginePort },
    enginePort,
    engineProcess,
    router: router ? { ...router, image: router.image ?? image } : undefined,
    metricsEndpoints,
    pushesOtlpMetrics,
    tracesHeadersSecret: tracing ? spec.tracing.headersSecretRef : undefined,
    tracesExported: tracing !== undefined,
    health: healthFor(profile, version),
    selectorLabels,
    labels: { ...stackLabels(input.name, m.engine, 'inference'), ...selectorLabels, [LABEL_ENGINE]: m.engine, [LABEL_NAME]: m.engine },
    signals: availableSignals(profile, version),
  };
}

function planTarget(input: StackInput, base: string, t: TargetSpec, index: number, errors: FieldError[]): TargetPlan {
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
    index, spec: t, profile, version,
    objectName: objectName([base, t.name]),
    namespace: t.namespace ?? input.namespace,
    metricsEndpoints,
    signals: availableSignals(profile, version),
  };
}

/** One entry per name, the last value winning, at the position of the first. */
function lastByName<T extends { readonly name: string }>(env: readonly T[]): T[] {
  const byName = new Map<string, T>();
  for (const e of env) byName.set(e.name, e);
  return [...byName.values()];
}
