import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { IntOrString, KubeClusterRole, KubeClusterRoleBinding, KubeNetworkPolicy, KubePodDisruptionBudget, KubeRole, KubeRoleBinding } from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';
import { CONTROLLER_CLUSTER_RULES, CONTROLLER_LEASE_RULES } from '../controller/rbac';
import { controllerDashboard } from './controller-dashboard';
import { CONTROLLER_LABELS, CONTROLLER_NAME } from './controller-names';
import { ControllerMonitoring } from './controller-monitoring';
import { DashboardConfigMaps } from '../constructs/dashboard-config-maps';
import { restrictedContainer, setResources } from '../constructs/k8s-helpers';
import { quantityValue } from '../api/quantity';

/** The controller container's default memory request and limit (bench/capacity.ts measures how many resources a limit holds). */
export const CONTROLLER_MEMORY = { request: '128Mi', limit: '256Mi' } as const;

/** Below this the controller cannot hold even its code and one stack's objects (BENCHMARKS.md, capacity). */
export const MIN_MEMORY_LIMIT = '128Mi';
/**
 * Above this a limit is a typo (`1e30`), not a plan: 256Mi holds 1,750 resources, so 64Gi is some
 * 250 times that. It also keeps the derived `--max-old-space-size` an integer Node accepts (1e30 would
 * give `7.15e+23`, which Node refuses, and the container would never start).
 */
export const MAX_MEMORY_LIMIT = '64Gi';

/** The limit in bytes, or an error naming the prop, the value and the bounds. */
function validMemoryLimit(memoryLimit: string): number {
  let bytes: number;
  try { bytes = quantityValue(memoryLimit); } catch { bytes = NaN; }
  if (!(bytes >= quantityValue(MIN_MEMORY_LIMIT))) throw new Error(`ControllerInstall memoryLimit: Invalid value: ${JSON.stringify(memoryLimit)}: must be a quantity of at least ${MIN_MEMORY_LIMIT}`);
  if (!(bytes <= quantityValue(MAX_MEMORY_LIMIT))) throw new Error(`ControllerInstall memoryLimit: Invalid value: ${JSON.stringify(memoryLimit)}: must be a quantity of at most ${MAX_MEMORY_LIMIT}`);
  return bytes;
}

/**
 * V8 flags of the controller container for a memory limit; the controller benchmarks run with the same
 * ones. Old space is 3/4 of the limit (192 MiB at 256Mi), leaving room for code and buffers; a 2 MiB
 * young generation (semi-space; V8's default grows to 16 MiB) and two malloc arenas (CONTROLLER_ENV) cut
 * RSS at 1000 resources from 229 to 206 MiB (BENCHMARKS.md).
 */
export function controllerNodeOptions(memoryLimit: string = CONTROLLER_MEMORY.limit): string {
  const mib = validMemoryLimit(memoryLimit) / 2 ** 20;
  return `--max-old-space-size=${Math.floor(mib * 0.75)} --max-semi-space-size=2`;
}
/** The flags at the default limit. */
export const CONTROLLER_NODE_OPTIONS = controllerNodeOptions();
/** Environment of the controller container besides NODE_OPTIONS (glibc: fewer malloc arenas, less RSS for the same heap). */
export const CONTROLLER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

export const DEFAULT_CONTROLLER_IMAGE = 'inference-monitoring-controller:0.1.0';
const METRICS_PORT = 8080;

/**
 * An image reference with a tag or a digest, by the grammar of github.com/distribution/reference:
 * `[host[:port]/]path[:tag][@digest]`, lower-case path components, at most 255 characters of name.
 * A reference without a tag would pull `latest`, whatever that is on the day: refused.
 */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const IMAGE_REFERENCE = new RegExp(
  `^((?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)` +
  '(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}))?$');

/** The reference, or an error naming the prop, the value and the rule. */
export function validControllerImage(image: string): string {
  const m = IMAGE_REFERENCE.exec(image);
  if (!m || (m[2] === undefined && m[3] === undefined) || m[1].length > 255) {
    throw new Error(`ControllerInstall image: Invalid value: ${JSON.stringify(image)}: must be an image reference with a tag or digest, [registry[:port]/]name:tag or name@sha256:<digest>, lower-case name`);
  }
  return image;
}

/** A namespace name is a DNS-1123 label. */
function validNamespace(namespace: string): string {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
    throw new Error(`ControllerInstall namespace: Invalid value: ${JSON.stringify(namespace)}: must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)`);
  }
  return namespace;
}

export interface ControllerInstallProps {
  /** Namespace the controller runs in. */
  readonly namespace: string;
  /** @default DEFAULT_CONTROLLER_IMAGE (built from the repository's Dockerfile) */
  readonly image?: string;
  /** @default 2 (one leads, one stands by) */
  readonly replicas?: number;
  /** `release` label of the ServiceMonitor and PrometheusRule, for kube-prometheus-stack. @default 'kube-prometheus-stack' */
  readonly release?: string;
  /** Base of the controller alerts' `runbook_url`. @default DEFAULT_RUNBOOK_BASE_URL */
  readonly runbookBaseUrl?: string;
  /**
   * Memory limit of the controller container; V8's old space is set to 3/4 of it. What a limit holds
   * is measured by `npm run bench:capacity` (BENCHMARKS.md, "Capacity"): raise it for more resources
   * than the default holds. From 128Mi to 64Gi (MIN_MEMORY_LIMIT, MAX_MEMORY_LIMIT).
   * @default '256Mi'
   */
  readonly memoryLimit?: string;
  /**
   * Add the controller's monitoring by prometheus-operator, a ServiceMonitor and a PrometheusRule
   * (`ControllerMonitoring`). They need prometheus-operator's CRDs: without them a cluster refuses the whole apply
   * (and Argo CD the whole sync). `false` leaves them out; dist/1-controller.k8s.yaml does, and ships them apart
   * in dist/3-controller-monitoring.k8s.yaml.
   * @default true
   */
  readonly monitoring?: boolean;
}

/**
 * What installs the controller: ServiceAccount, a ClusterRole with exactly
 * the verbs and resources it uses (no wildcards), a Role for its Lease,
 * the Deployment (two replicas with leader election), and a Service for its
 * /metrics; the replicas spread over nodes, a PodDisruptionBudget keeps one
 * through drains, and a NetworkPolicy admits only the metrics port. Its own
 * dashboard (a ConfigMap for Grafana's sidecar) and, unless `monitoring: false`,
 * a ServiceMonitor and its alerts (a PrometheusRule: `ControllerMonitoring`)
 * watch it like the engines.
 */
export class ControllerInstall extends Construct {
  constructor(scope: Construct, id: string, props: ControllerInstallProps) {
    super(scope, id);
    const name = CONTROLLER_NAME;
    const labels = { ...CONTROLLER_LABELS };
    const ns = validNamespace(props.namespace);
    const image = validControllerImage(props.image ?? DEFAULT_CONTROLLER_IMAGE);
    const replicas = props.replicas ?? 2;
    if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`ControllerInstall replicas: Invalid value: ${replicas}: must be a non-negative integer`);
    const sa = new kplus.ServiceAccount(this, 'sa', { metadata: { name, namespace: ns, labels }, automountToken: true });
    new KubeClusterRole(this, 'cluster-role', { metadata: { name, labels }, rules: CONTROLLER_CLUSTER_RULES.map((r) => ({ ...r })) });
    new KubeClusterRoleBinding(this, 'cluster-role-binding', {
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    });
    new KubeRole(this, 'lease-role', { metadata: { name, namespace: ns, labels }, rules: CONTROLLER_LEASE_RULES.map((r) => ({ ...r })) });
    new KubeRoleBinding(this, 'lease-role-binding', {
      metadata: { name, namespace: ns, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    });

    const deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, namespace: ns, labels },
      replicas,
      select: false,
      podMetadata: { labels },
      serviceAccount: sa,
      // The controller talks to the apiserver with its ServiceAccount's token; cdk8s-plus turns
      // the mount off unless asked, and a pod-level `false` overrides the ServiceAccount's `true`.
      automountServiceAccountToken: true,
      securityContext: { ensureNonRoot: true, user: 65532, group: 65532 },
      terminationGracePeriod: Duration.seconds(30),
    });
    deployment.select(kplus.LabelSelector.of({ labels: { 'app.kubernetes.io/name': name } }));
    // Standby and leader on different nodes, so losing a node does not lose both.
    ApiObject.of(deployment).addJsonPatch(JsonPatch.add('/spec/template/spec/affinity', {
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': name } } } }] },
    }));
    new KubePodDisruptionBudget(this, 'pdb', {
      metadata: { name, namespace: ns, labels },
      spec: { minAvailable: IntOrString.fromNumber(1), selector: { matchLabels: { 'app.kubernetes.io/name': name } } },
    });
    new KubeNetworkPolicy(this, 'network-policy', {
      metadata: { name, namespace: ns, labels },
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/name': name } },
        policyTypes: ['Ingress'],
        ingress: [{ ports: [{ protocol: 'TCP', port: IntOrString.fromNumber(METRICS_PORT) }] }],
      },
    });
    const container = deployment.addContainer({
      name: 'controller',
      image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: ['controller', `--leader-election-namespace=${ns}`, `--metrics-port=${METRICS_PORT}`],
      ports: [{ name: 'metrics', number: METRICS_PORT }],
      securityContext: restrictedContainer(65532),
      resources: {},
      readiness: kplus.Probe.fromHttpGet('/readyz', { port: METRICS_PORT }),
      liveness: kplus.Probe.fromHttpGet('/healthz', { port: METRICS_PORT }),
    });
    const memoryLimit = props.memoryLimit ?? CONTROLLER_MEMORY.limit;
    validMemoryLimit(memoryLimit);
    container.env.addVariable('NODE_OPTIONS', kplus.EnvValue.fromValue(controllerNodeOptions(memoryLimit)));
    for (const [k, v] of Object.entries(CONTROLLER_ENV)) container.env.addVariable(k, kplus.EnvValue.fromValue(v));
    setResources(ApiObject.of(deployment), '/spec/template/spec/containers/0', { cpu: '100m', memory: CONTROLLER_MEMORY.request, 'ephemeral-storage': '64Mi' }, { memory: memoryLimit, 'ephemeral-storage': '256Mi' });

    const service = new kplus.Service(this, 'service', { metadata: { name, namespace: ns, labels }, ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: METRICS_PORT }] });
    service.selectLabel('app.kubernetes.io/name', name);
    new DashboardConfigMaps(this, 'dashboards', { namespace: ns, instance: name, namePrefix: 'inference-monitoring', dashboards: [{ name: 'controller', dashboard: controllerDashboard({ runbookBaseUrl: props.runbookBaseUrl }) }] });
    if (props.monitoring ?? true) new ControllerMonitoring(this, 'monitoring', { namespace: ns, release: props.release, runbookBaseUrl: props.runbookBaseUrl });
  }
}
