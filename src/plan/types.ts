/**
 * What a plan holds: every decision about one stack (names, ports, URLs, which components exist, their
 * secrets, NetworkPolicy peers), made once by `planStack`. Constructs draw these slices as they are.
 */
import { EngineProfile, EnvVarValue, HealthSpec, ProcessSpec, SignalMetric, SignalName } from '../engines/profile';
import { InferenceMonitoringSpec, ModelSpec, TargetSpec } from '../api/schema';
import { FieldError } from '../api/validate';

/** A port that serves `/metrics` and must be scraped. */
export interface MetricsEndpoint {
  /** Container/Service port name, `http` or `rank-<i>`. */
  readonly portName: string;
  readonly port: number;
  readonly path: string;
  /** Data-parallel rank served on this port, when the engine runs one server per rank. */
  readonly rank?: number;
}

/** One role of a LeaderWorkerSet group as planned: its process, metrics ports and probes. */
export interface GroupRolePlan {
  readonly process: ProcessSpec;
  /** The ports of this role's pods that serve `/metrics` (a subset of the model's `metricsEndpoints`). */
  readonly metricsEndpoints: readonly MetricsEndpoint[];
  /** What the kubelet probes (see `GroupRole.probes`). */
  readonly probes: 'engine' | 'tcp' | 'none';
  /** Whether this role runs the router (LMDeploy's proxy: on the leader only). */
  readonly router: boolean;
  /** Which series the role serves, from the engine's code. */
  readonly serves: string;
  /** Its series repeat the leader's: scraped for `up` only (see `GroupRole.duplicatesLeader`). */
  readonly duplicatesLeader: boolean;
}

/** A model replica over several pods: one LeaderWorkerSet group per replica. */
export interface GroupPlan {
  /** Pods per group (LeaderWorkerSet `size`). */
  readonly size: number;
  /** The engine's multi-node mode (`vllm`: native, internal, hybrid; ...). */
  readonly mode: string;
  /** Data-parallel ranks per pod. */
  readonly dataLocal: number;
  readonly leader: GroupRolePlan;
  readonly worker: GroupRolePlan;
  /**
   * `/metrics` targets one healthy group has: the leader's ports plus every worker's. Alerts compare the targets
   * up per group with it.
   */
  readonly targetsPerGroup: number;
  /** Label telling the group's ranks apart across its pods (global ranks), if any. */
  readonly rankLabel?: string;
  /** Where the launch and `/metrics` facts come from in the engine's code. */
  readonly source: string;
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
  /**
   * The variables that make an OTLP-pushing engine push its metrics to the stack's Prometheus (`otlpMetricsEnv`).
   * @default - none: the engine is scraped
   */
  readonly otlpPushEnv?: readonly EnvVarValue[];
  /** The Secret key whose value the engine sends as headers of its trace exports (TRACES_HEADERS_ENV). */
  readonly tracesHeadersSecret?: { readonly name: string; readonly key: string };
  readonly tracesExported: boolean;
  /** The probes of this engine version (routes and timeouts). */
  readonly health: HealthSpec;
  /**
   * Requests and limits of the engine container, as written (the spec's, else the engine profile's), GPUs
   * included: no CPU limit unless asked for (CFS throttling hurts token latency).
   */
  readonly resources: { readonly requests: ResourceQuantities; readonly limits: ResourceQuantities };
  /** Tolerations of the pods: the spec's, else the GPU taint's when the model has GPUs. */
  readonly tolerations: ReadonlyArray<NonNullable<ModelSpec['gpu']['tolerations']>[number] | { readonly key: string; readonly operator: string }>;
  readonly selectorLabels: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly signals: ReadonlyMap<SignalName, SignalMetric>;
  /**
   * With `parallelism.nodes` > 1: the LeaderWorkerSet group each replica is.
   * @default - none: each replica is one pod of a Deployment
   */
  readonly group?: GroupPlan;
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

/** Container resource quantities by name, as written (`64Gi` stays `64Gi`); undefined ones are left out. */
export interface ResourceQuantities {
  readonly cpu?: string;
  readonly memory?: string;
  readonly [resource: string]: string | undefined;
}

/** Operator mode: the labels and names of the prometheus-operator objects (PodMonitors, PrometheusRule). */
export interface OperatorObjectsPlan {
  /**
   * Labels of the PodMonitors; with a shared Prometheus they carry its `release` label (kube-prometheus-stack
   * selects by it), with a Prometheus of the stack's own they do not (every target would be scraped twice).
   */
  readonly monitorLabels: Record<string, string>;
  /** Labels of the PodMonitor of the GPU exporter (its `app.kubernetes.io/name` is the DCGM job). */
  readonly dcgmMonitorLabels: Record<string, string>;
  /** Name of the GPU exporter's PodMonitor. */
  readonly dcgmMonitorName: string;
  /** Name and labels of the PrometheusRule. */
  readonly rule: { readonly name: string; readonly labels: Record<string, string> };
  /** What the stack's own Prometheus selects PodMonitors and rules by. */
  readonly selectLabels: Record<string, string>;
}

/** A Secret the user owns and the stack mounts: its name and key, defaults applied. */
export interface SecretKey { readonly name: string; readonly key: string }

/** The stack's own Prometheus: the managed StatefulSet, or operator mode's `createPrometheus`. */
export interface PrometheusPlan {
  readonly kind: 'managed' | 'operator';
  /** Name of its objects (managed) or of the `Prometheus` resource (operator). */
  readonly name: string;
  readonly port: number;
  /** Labels of its pods (the operator sets its own on the pods it runs). */
  readonly podSelector: Record<string, string>;
  /** Namespaces it discovers pods in: its own first, then the targets' and the exporter's, sorted, each once. */
  readonly discoveryNamespaces: readonly string[];
}

export interface AlertmanagerPlan {
  readonly name: string;
  readonly port: number;
  /** The user's Secret with the configuration (receivers carry credentials: never generated). */
  readonly configSecret: SecretKey;
}

export interface TempoPlan {
  readonly name: string;
  readonly queryPort: number;
  readonly otlpPorts: readonly number[];
  readonly retention: string;
  /**
   * Where its metrics generator writes span metrics and service graphs: the stack's own Prometheus.
   * @default - no metrics generator (a shared Prometheus)
   */
  readonly remoteWriteUrl?: string;
  readonly storageSize?: string;
  readonly storageClassName?: string;
}

export interface GrafanaPlan {
  readonly name: string;
  readonly port: number;
  readonly datasources: {
    readonly prometheusUrl: string;
    /** No Tempo, no trace links: nothing may point at a datasource that does not exist. */
    readonly tempoUrl?: string;
    readonly benchmarks?: { readonly host: string; readonly database: string };
  };
  readonly adminSecret: { readonly name: string; readonly userKey: string; readonly passwordKey: string };
  /** Secret with `user` and `password` of the benchmark database. */
  readonly benchmarkSecretName?: string;
  readonly anonymousAccess: boolean;
}

export interface DcgmExporterPlan {
  readonly name: string;
  readonly port: number;
}

/** The DCGM exporter Prometheus scrapes (ours or the GPU Operator's). */
export interface GpuMetricsPlan {
  /** Its pods' labels. */
  readonly selector: Record<string, string>;
  /** The namespace it runs in (NetworkPolicy peers). */
  readonly namespace: string;
  /**
   * The namespace Prometheus discovers it in: `exporterNamespace` whenever it is set. With `deployExporter`
   * (our exporter, in the stack's namespace) and an `exporterNamespace` this differs from `namespace`: the
   * schema allows both together, and the output has always been so (kept byte for byte; see the report of #27).
   */
  readonly scrapeNamespace: string;
  readonly port: number;
}

/** Pods a rule admits or lets reach: by labels, in the policy's namespace or another one. */
export interface Peer {
  /** Pod labels (matchLabels). */
  readonly selector: Record<string, string>;
  /**
   * Namespace of the pods.
   * @default - the policy's namespace
   */
  readonly namespace?: string;
}

/** A component of the stack the policies select. */
export interface PolicyComponent extends Peer {
  /** Name of its NetworkPolicy. */
  readonly name: string;
}

export interface ModelPolicy extends PolicyComponent {
  /** Ports that serve clients: anyone may connect. */
  readonly openPorts: readonly number[];
  /** Ports that serve only `/metrics` (LMDeploy rank servers): only the scraping Prometheus. */
  readonly metricsOnlyPorts: readonly number[];
  /** It pushes OTLP metrics to the stack's Prometheus. */
  readonly pushesToPrometheus: boolean;
  /** It exports traces to the stack's Tempo. */
  readonly sendsTraces: boolean;
  /**
   * It exports traces to an external collector (`spec.tracing.endpoint`), on `EgressAllowance.traceCollectorPort`.
   * @default false
   */
  readonly sendsTracesExternally?: boolean;
  /**
   * Its replicas span several pods that talk to each other on ports the engine picks (collectives, rendezvous,
   * data-parallel RPC, the proxy's registrations): the model's pods may reach each other on every port.
   * @default false
   */
  readonly groupPeers?: boolean;
}

/** With `defaultDeny`: what the stack's pods may reach beyond their own peers. */
export interface EgressAllowance {
  /** TCP ports of the API server (Prometheus' discovery). */
  readonly apiServerPorts: readonly number[];
  /** TCP ports model pods may reach anywhere (model downloads). */
  readonly modelEgressPorts: readonly number[];
  /** TCP ports of remote-write endpoints (any address: they are outside the cluster or unknown). */
  readonly remoteWritePorts: readonly number[];
  /** TCP ports the stack's Alertmanager reaches anywhere (its receivers). */
  readonly alertmanagerEgressPorts: readonly number[];
  /** TCP port of the benchmark database Grafana queries, if any. */
  readonly benchmarkDatabasePort?: number;
  /**
   * TCP port of the external trace collector (`spec.tracing.endpoint`) the engines export to, on any address.
   * @default - none: traces go to the stack's Tempo, or nowhere
   */
  readonly traceCollectorPort?: number;
}

/** The NetworkPolicies of a stack: who reaches whom, on which ports. */
export interface NetworkPoliciesPlan {
  /** Namespace of the policies (the stack's). */
  readonly namespace: string;
  /** `app.kubernetes.io/instance` value. */
  readonly instance: string;
  /** Selector of every pod of the stack (the default-deny policy's). */
  readonly stackSelector: Record<string, string>;
  /**
   * The stack's own Prometheus (managed, or operator mode's `createPrometheus`).
   * @default - none: a shared Prometheus, whose policies are not ours
   */
  readonly prometheus?: PolicyComponent & { readonly port: number };
  /** The Prometheus that scrapes the stack's targets: its own, or the shared one. */
  readonly scraper: Peer;
  /** The Prometheus Grafana queries and engines push to, and its port. */
  readonly queryPrometheus: Peer & { readonly port: number };
  /**
   * The KEDA operator, admitted to the stack's own Prometheus when a model autoscales.
   * @default - none
   */
  readonly autoscaler?: Peer;
  /** Tempo, with its query and OTLP ports; `remoteWrites` when its metrics generator writes to the stack's Prometheus. */
  readonly tempo?: PolicyComponent & { readonly queryPort: number; readonly otlpPorts: readonly number[]; readonly remoteWrites: boolean };
  /** Grafana: users reach its HTTP port from anywhere, nothing else. */
  readonly grafana?: PolicyComponent & { readonly port: number };
  /**
   * The stack's own Alertmanager: only the stack's Prometheus reaches it.
   * @default - none
   */
  readonly alertmanager?: PolicyComponent & { readonly port: number };
  /** Ports of existing Alertmanagers the stack's Prometheus sends to (egress, any address). */
  readonly alertmanagerEndpointPorts?: readonly number[];
  /** Our DCGM exporter: only the scraping Prometheus reaches it. */
  readonly dcgm?: PolicyComponent & { readonly port: number };
  /** Everything Prometheus scrapes, for its egress: model pods, existing workloads, an exporter elsewhere. */
  readonly scrapeTargets: ReadonlyArray<Peer & { readonly ports: readonly number[] }>;
  /** Model pods. */
  readonly models: readonly ModelPolicy[];
  /**
   * Deny every other ingress and egress of the stack's pods (a policy selecting them all, and egress rules per component).
   * @default - ingress only; egress is not restricted
   */
  readonly defaultDeny?: EgressAllowance;
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
    /** Prefix of the dashboard ConfigMaps' names (`<prefix>-dashboard-<serving-vllm|lmdeploy|gpu|benchmarks>`). */
    readonly dashboards: string;
  };
  readonly endpoints: {
    readonly tempoGrpc?: string;
    readonly tempoHttp?: string;
    /** The Prometheus the stack queries (Grafana, KEDA) and engines push to. */
    readonly prometheus: string;
    readonly otlpMetrics?: string;
    /** The stack's own Alertmanager, when it runs one. */
    readonly alertmanager?: { readonly host: string; readonly port: number };
    /** Grafana's in-cluster URL, when the stack runs one. */
    readonly grafana?: string;
    /** Tempo's query URL, when the stack runs one. */
    readonly tempoQuery?: string;
  };
  /** Which components the stack runs, each with what its construct draws. Absent: not run. */
  readonly components: {
    readonly prometheus?: PrometheusPlan;
    readonly alertmanager?: AlertmanagerPlan;
    readonly tempo?: TempoPlan;
    readonly grafana?: GrafanaPlan;
    readonly dcgmExporter?: DcgmExporterPlan;
  };
  /** Operator mode's PodMonitor and PrometheusRule labels and names (absent in managed mode). */
  readonly operator?: OperatorObjectsPlan;
  /** The GPU metrics exporter scraped, when `gpuMetrics.enabled`. */
  readonly gpuMetrics?: GpuMetricsPlan;
  /** The NetworkPolicies, when `networkPolicy.enabled`. */
  readonly networkPolicies?: NetworkPoliciesPlan;
}

export interface StackInput {
  /** metadata.name of the InferenceMonitoring resource. */
  readonly name: string;
  /** metadata.namespace. */
  readonly namespace: string;
  /** The raw (not yet validated) spec. */
  readonly spec: unknown;
}

/** A plan's pieces with the errors found while making them. */
export interface Planned<T> {
  readonly value: T;
  readonly errors: readonly FieldError[];
}
