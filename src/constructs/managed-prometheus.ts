import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { configYaml } from '../config-yaml';
import { objectName } from '../names';
import { PORTS } from '../plan/endpoints';
import { PrometheusConfig, RuleFile } from '../prometheus/config-types';
import { RULES_DIR } from '../prometheus/prometheus-config';
import { StackComponent, StackComponentProps, nonRootPod } from './component';
import { CONFIG_CHECKSUM_ANNOTATION, checksum, restrictedContainer, setResources } from './k8s-helpers';
import { compareLikeLocale } from '../collate';

/** Prometheus 3 image; its module version v0.316.0 is what the tests build and run. */
export const DEFAULT_PROMETHEUS_IMAGE = 'quay.io/prometheus/prometheus:v3.16.0';
/** The image's `nobody` user. */
const PROMETHEUS_UID = 65534;
const DATA_DIR = '/prometheus';
const PROMETHEUS_PORT = PORTS.prometheus;

export interface ManagedPrometheusProps extends StackComponentProps {
  /** Name of every object (StatefulSet, Service, ConfigMaps, ServiceAccount, Roles). */
  readonly name: string;
  /** The generated `prometheus.yml`. */
  readonly config: PrometheusConfig;
  /** Rule files by file name (`*.yaml`). */
  readonly ruleFiles: Readonly<Record<string, RuleFile>>;
  /** `--storage.tsdb.retention.time`. */
  readonly retention: string;
  /**
   * Volume size; without it data lives in an emptyDir.
   * @default - emptyDir
   */
  readonly storageSize?: string;
  /**
   * Storage class of the volume claim.
   * @default - the cluster default
   */
  readonly storageClassName?: string;
  /**
   * Namespaces Prometheus discovers pods in (read-only Role in each).
   * @default - its own namespace
   */
  readonly discoveryNamespaces?: readonly string[];
  /** @default DEFAULT_PROMETHEUS_IMAGE */
  readonly image?: string;
  /**
   * Secrets the configuration reads files from (Alertmanager bearer tokens, CAs), each mounted
   * read-only at `<secretsDir>/<name>`: credentials stay out of the configuration.
   * @default - none
   */
  readonly secretNames?: readonly string[];
  /** Where `secretNames` are mounted. @default '/etc/prometheus/secrets' */
  readonly secretsDir?: string;
}

/**
 * A Prometheus with a generated configuration, for clusters without
 * prometheus-operator: StatefulSet, Service, ServiceAccount and a read-only
 * Role for pod discovery in each namespace it scrapes. The OTLP receiver is on
 * (engines that push metrics) and so is the remote-write receiver (Tempo's
 * metrics generator writes span metrics and service graphs to it).
 */
export class ManagedPrometheus extends StackComponent {
  public readonly statefulSet: kplus.StatefulSet;
  public readonly service: kplus.Service;
  public readonly serviceAccount: kplus.ServiceAccount;
  public readonly configMap: kplus.ConfigMap;
  public readonly rulesConfigMap: kplus.ConfigMap;

  constructor(scope: Construct, id: string, props: ManagedPrometheusProps) {
    super(scope, id, props, { appName: 'prometheus', component: 'prometheus' });
    const labels = this.labels;
    const configText = configYaml(props.config);
    const ruleTexts = Object.fromEntries(Object.entries(props.ruleFiles).sort(([a], [b]) => compareLikeLocale(a, b)).map(([k, v]) => [k, configYaml(v)]));

    this.serviceAccount = new kplus.ServiceAccount(this, 'sa', { metadata: this.metadata(), automountToken: true });
    for (const ns of [...new Set([props.namespace, ...(props.discoveryNamespaces ?? [])])].sort()) {
      // Least privilege: read pods (service discovery) in the namespaces it scrapes, nothing else.
      const role = new kplus.Role(this, `discovery-${ns}`, { metadata: { name: props.name, namespace: ns, labels } });
      role.allowRead(kplus.ApiResource.PODS);
      const binding = new kplus.RoleBinding(this, `discovery-binding-${ns}`, { metadata: { name: props.name, namespace: ns, labels }, role });
      binding.addSubjects(this.serviceAccount);
    }

    this.configMap = new kplus.ConfigMap(this, 'config', { metadata: this.metadata(), data: { 'prometheus.yml': configText } });
    this.rulesConfigMap = new kplus.ConfigMap(this, 'rules', { metadata: this.metadata(objectName([props.name, 'rules'])), data: ruleTexts });

    ({ service: this.service, statefulSet: this.statefulSet } = this.singleReplicaStatefulSet(PROMETHEUS_PORT, {
      serviceAccount: this.serviceAccount,
      // kubernetes_sd_configs lists pods with this token (cdk8s-plus leaves it unmounted by default).
      automountServiceAccountToken: true,
      podMetadata: { labels, annotations: { [CONFIG_CHECKSUM_ANNOTATION]: checksum(configText, ...Object.values(ruleTexts)) } },
      securityContext: nonRootPod(PROMETHEUS_UID),
      terminationGracePeriod: Duration.seconds(120),
    }));

    const configVolume = kplus.Volume.fromConfigMap(this, 'config-volume', this.configMap, { name: 'config' });
    const rulesVolume = kplus.Volume.fromConfigMap(this, 'rules-volume', this.rulesConfigMap, { name: 'rules' });
    const dataVolume = kplus.Volume.fromEmptyDir(this, 'data-volume', 'data');
    this.statefulSet.addContainer({
      name: 'prometheus',
      image: props.image ?? DEFAULT_PROMETHEUS_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: [
        '--config.file=/etc/prometheus/prometheus.yml',
        `--storage.tsdb.path=${DATA_DIR}`,
        `--storage.tsdb.retention.time=${props.retention}`,
        '--web.enable-otlp-receiver',
        '--web.enable-remote-write-receiver',
        // Exemplars (trace ids on histogram samples, scraped or pushed over OTLP) are what
        // Grafana's exemplar → Tempo link follows; Prometheus drops them without this.
        '--enable-feature=exemplar-storage',
        `--web.listen-address=:${PROMETHEUS_PORT}`,
      ],
      ports: [{ name: 'http', number: PROMETHEUS_PORT }],
      securityContext: restrictedContainer(PROMETHEUS_UID),
      resources: {},
      readiness: kplus.Probe.fromHttpGet('/-/ready', { port: PROMETHEUS_PORT, periodSeconds: Duration.seconds(10) }),
      liveness: kplus.Probe.fromHttpGet('/-/healthy', { port: PROMETHEUS_PORT, periodSeconds: Duration.seconds(15), failureThreshold: 6 }),
      volumeMounts: [
        { path: '/etc/prometheus', volume: configVolume, readOnly: true },
        { path: RULES_DIR, volume: rulesVolume, readOnly: true },
        { path: DATA_DIR, volume: dataVolume },
        // After the data volume: its index (2) is what the storage patch below removes.
        ...[...new Set(props.secretNames ?? [])].sort().map((name, i) => ({
          path: `${props.secretsDir ?? '/etc/prometheus/secrets'}/${name}`,
          volume: kplus.Volume.fromSecret(this, `secret-${i}`, kplus.Secret.fromSecretName(this, `secret-ref-${i}`, name), { name: `secret-${i}` }),
          readOnly: true,
        })),
      ],
    });
    const obj = ApiObject.of(this.statefulSet);
    setResources(obj, '/spec/template/spec/containers/0', { cpu: '500m', memory: '2Gi' }, { memory: '4Gi' });
    if (props.storageSize) {
      // The data volume becomes a claim per replica; the emptyDir (volume index 2) goes away.
      obj.addJsonPatch(
        JsonPatch.remove('/spec/template/spec/volumes/2'),
        JsonPatch.add('/spec/volumeClaimTemplates', [{
          metadata: { name: 'data', labels },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}),
            // Quantity-shaped for the typed serializer (see setResources).
            resources: { requests: { storage: { value: props.storageSize } } },
          },
        }]),
      );
    }
  }
}
