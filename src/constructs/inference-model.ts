import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { objectName } from '../names';
import { DEFAULT_GPU_TOLERATION, TRACES_HEADERS_ENV, enginePorts, literalEnv, servicePorts } from '../plan/model';
import { GroupRolePlan, ModelPlan } from '../plan/types';

export { DEFAULT_GPU_TOLERATION, enginePorts, servicePorts };
import { setResources } from './k8s-helpers';

/** Resources of the router container (LMDeploy's proxy): it only forwards HTTP. */
export const ROUTER_RESOURCES = { cpu: '500m', memory: '1Gi', 'ephemeral-storage': '64Mi' } as const;
/** Seconds between startup probes; the failure threshold is derived from the engine's start-up budget. */
export const STARTUP_PROBE_PERIOD_SECONDS = 10;

/**
 * The engine container's probes. `engine`: the engine's own routes. `tcp`: the port listens (a role whose health
 * route answers 200 whatever the engine does: only listening is true). `none`: the role runs no server.
 */
function probes(plan: ModelPlan, kind: GroupRolePlan['probes']): Pick<kplus.ContainerProps, 'startup' | 'readiness' | 'liveness'> {
  const startupThreshold = Math.ceil(plan.health.startupSeconds / STARTUP_PROBE_PERIOD_SECONDS);
  if (kind === 'none') return {};
  if (kind === 'tcp') {
    return {
      startup: kplus.Probe.fromTcpSocket({ port: plan.enginePort, periodSeconds: Duration.seconds(STARTUP_PROBE_PERIOD_SECONDS), failureThreshold: startupThreshold }),
      readiness: kplus.Probe.fromTcpSocket({ port: plan.enginePort, periodSeconds: Duration.seconds(10), failureThreshold: 3 }),
    };
  }
  return {
    startup: kplus.Probe.fromHttpGet(plan.health.readinessPath, {
      port: plan.enginePort,
      periodSeconds: Duration.seconds(STARTUP_PROBE_PERIOD_SECONDS),
      failureThreshold: startupThreshold,
      ...timeout(plan.health.readinessTimeoutSeconds),
    }),
    readiness: kplus.Probe.fromHttpGet(plan.health.readinessPath, { port: plan.enginePort, periodSeconds: Duration.seconds(10), failureThreshold: 3, ...timeout(plan.health.readinessTimeoutSeconds) }),
    liveness: kplus.Probe.fromHttpGet(plan.health.livenessPath, { port: plan.enginePort, periodSeconds: Duration.seconds(15), failureThreshold: 4, ...timeout(plan.health.livenessTimeoutSeconds) }),
  };
}

/** A probe's timeoutSeconds when the engine's route needs more than the kubelet's default of 1 s. */
function timeout(seconds: number | undefined): { timeoutSeconds?: Duration } {
  return seconds === undefined ? {} : { timeoutSeconds: Duration.seconds(seconds) };
}

export interface InferenceModelProps {
  /** The planned model: engine process, ports, GPUs, labels. */
  readonly plan: ModelPlan;
  /** Namespace of every object. */
  readonly namespace: string;
  /**
   * Extra environment for the engine container, after the plan's (the engine's, then its OTLP metrics push).
   * @default - none
   */
  readonly extraEnv?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /**
   * Draw one role of a LeaderWorkerSet group (its process, metrics ports and probes) instead of the single-pod model:
   * `InferenceModelGroup` takes the pod template from here.
   * @default - the single-pod model of `plan`
   */
  readonly role?: GroupRolePlan;
}

/**
 * One served model: a GPU Deployment running the engine (and, for engines with
 * one API server per data-parallel rank, their router), a Service exposing the
 * client port and every metrics port, and optionally a claim for the weights.
 */
export class InferenceModel extends Construct {
  public readonly deployment: kplus.Deployment;
  public readonly service: kplus.Service;
  public readonly plan: ModelPlan;

  private readonly props: InferenceModelProps;

  constructor(scope: Construct, id: string, props: InferenceModelProps) {
    super(scope, id);
    this.props = props;
    const { plan, namespace } = props;
    this.plan = plan;
    const m = plan.spec;

    const cacheVolume = this.cacheVolume(plan, namespace);
    const shm = kplus.Volume.fromEmptyDir(this, 'shm', 'dshm', { medium: kplus.EmptyDirMedium.MEMORY });

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: { name: plan.objectName, namespace, labels: plan.labels },
      replicas: m.replicas,
      select: false,
      podMetadata: { labels: plan.labels },
      // One GPU pod replaces the other: a surge pod would need GPUs that are usually not free.
      strategy: kplus.DeploymentStrategy.rollingUpdate({ maxSurge: kplus.PercentOrAbsolute.absolute(0), maxUnavailable: kplus.PercentOrAbsolute.absolute(1) }),
      automountServiceAccountToken: false,
      // Engine images run as root and write caches; the pod needs the `baseline` Pod Security level.
      securityContext: { ensureNonRoot: false },
      terminationGracePeriod: Duration.seconds(60),
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: plan.selectorLabels }));

    const role = props.role;
    const process = role?.process ?? plan.engineProcess;
    const ports = role ? role.metricsEndpoints.map((e) => ({ name: e.portName, port: e.port })) : enginePorts(plan);
    const engine = this.deployment.addContainer({
      name: 'engine',
      image: plan.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: process.command ? [...process.command] : undefined,
      args: [...process.args],
      ports: ports.map((p) => ({ name: p.name, number: p.port, protocol: kplus.Protocol.TCP })),
      securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false, allowPrivilegeEscalation: false, privileged: false },
      // Set by applyResources() so quantities keep their canonical spelling (no Argo CD drift).
      resources: {},
      ...probes(plan, role?.probes ?? 'engine'),
      volumeMounts: [
        { path: '/dev/shm', volume: shm },
        { path: m.modelCache.mountPath, volume: cacheVolume },
      ],
    });
    engine.env.addVariable('HF_HOME', kplus.EnvValue.fromValue(literalEnv(m.modelCache.mountPath)));
    engine.env.addVariable('POD_NAME', kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAME));
    engine.env.addVariable('POD_NAMESPACE', kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE));
    if (m.hfTokenSecretRef) {
      const secret = kplus.Secret.fromSecretName(this, 'hf-token', m.hfTokenSecretRef.name);
      engine.env.addVariable('HF_TOKEN', kplus.EnvValue.fromSecretValue({ secret, key: m.hfTokenSecretRef.key }));
    }
    if (plan.tracesHeadersSecret) {
      const secret = kplus.Secret.fromSecretName(this, 'traces-headers', plan.tracesHeadersSecret.name);
      engine.env.addVariable(TRACES_HEADERS_ENV, kplus.EnvValue.fromSecretValue({ secret, key: plan.tracesHeadersSecret.key }));
    }
    for (const e of [...(process.env ?? []), ...(plan.otlpPushEnv ?? []), ...(props.extraEnv ?? [])]) {
      engine.env.addVariable(e.name, kplus.EnvValue.fromValue(e.value));
    }
    for (const e of m.env ?? []) {
      engine.env.addVariable(e.name, e.secretKeyRef
        ? kplus.EnvValue.fromSecretValue({ secret: kplus.Secret.fromSecretName(this, `env-${e.name}`, e.secretKeyRef.name), key: e.secretKeyRef.key })
        : kplus.EnvValue.fromValue(e.value ?? ''));
    }

    if (plan.router && (role?.router ?? true)) {
      this.deployment.addContainer({
        name: plan.router.name,
        image: plan.router.image,
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: plan.router.process.command ? [...plan.router.process.command] : undefined,
        args: [...plan.router.process.args],
        ports: [{ name: plan.router.name, number: plan.router.port, protocol: kplus.Protocol.TCP }],
        securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false, allowPrivilegeEscalation: false, privileged: false },
        resources: {}, // set in applyResources()
        readiness: kplus.Probe.fromTcpSocket({ port: plan.router.port }),
      });
    }

    this.applyResources(plan);
    this.applyGpuScheduling(plan);

    this.service = new kplus.Service(this, 'Service', {
      metadata: { name: plan.objectName, namespace, labels: plan.labels },
      type: kplus.ServiceType.CLUSTER_IP,
      ports: servicePorts(plan).map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: kplus.Protocol.TCP })),
    });
    for (const [k, v] of Object.entries(plan.selectorLabels)) this.service.selectLabel(k, v);
  }

  private cacheVolume(plan: ModelPlan, namespace: string): kplus.Volume {
    const cache = plan.spec.modelCache;
    if (cache.type === 'persistentVolumeClaim') {
      const claim = cache.existingClaim
        ? kplus.PersistentVolumeClaim.fromClaimName(this, 'cache-claim', cache.existingClaim)
        : new kplus.PersistentVolumeClaim(this, 'cache-claim', {
          metadata: { name: objectName([plan.objectName, 'cache']), namespace, labels: plan.labels },
          accessModes: [plan.spec.replicas > 1 ? kplus.PersistentVolumeAccessMode.READ_WRITE_MANY : kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE],
          storage: Size.gibibytes(1), // replaced below by the size as written
          storageClassName: cache.storageClassName,
          volumeMode: kplus.PersistentVolumeMode.FILE_SYSTEM,
        });
      if (!cache.existingClaim) {
        ApiObject.of(claim as kplus.PersistentVolumeClaim).addJsonPatch(JsonPatch.replace('/spec/resources/requests/storage', { value: cache.size }));
      }
      return kplus.Volume.fromPersistentVolumeClaim(this, 'cache', claim, { name: 'model-cache' });
    }
    return kplus.Volume.fromEmptyDir(this, 'cache', 'model-cache');
  }

  /**
   * CPU, memory and GPU of the engine container, and the sizes of its
   * emptyDirs. cdk8s-plus has no extended resources and re-spells quantities
   * (`64Gi` becomes `65536Mi`, which the apiserver stores as `64Gi`: a GitOps
   * diff), so they are patched in as given, Quantity-shaped (`{ value }`),
   * because the typed serializer maps every quantity through `.value`.
   */
  private applyResources(plan: ModelPlan): void {
    const m = plan.spec;
    const quantity = (value: string) => ({ value });
    const obj = ApiObject.of(this.deployment);
    setResources(obj, '/spec/template/spec/containers/0', plan.resources.requests, plan.resources.limits);
    if (plan.router && (this.props.role?.router ?? true)) {
      setResources(obj, '/spec/template/spec/containers/1', ROUTER_RESOURCES, { memory: ROUTER_RESOURCES.memory, 'ephemeral-storage': '256Mi' });
    }
    // Volumes are added in mount order: /dev/shm, then the model cache.
    obj.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes/0/emptyDir/sizeLimit', quantity(m.resources.sharedMemory)));
    if (m.modelCache.type === 'emptyDir' && m.modelCache.size) {
      obj.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes/1/emptyDir/sizeLimit', quantity(m.modelCache.size)));
    }
  }

  /** Node selection on the GPU product, and tolerations for GPU taints. */
  private applyGpuScheduling(plan: ModelPlan): void {
    const gpu = plan.spec.gpu;
    const obj = ApiObject.of(this.deployment);
    if (gpu.product) {
      obj.addJsonPatch(JsonPatch.add('/spec/template/spec/nodeSelector', { 'nvidia.com/gpu.product': gpu.product }));
    }
    if (plan.tolerations.length) {
      obj.addJsonPatch(JsonPatch.add('/spec/template/spec/tolerations', plan.tolerations.map((t) => ({ ...t }))));
    }
  }
}
