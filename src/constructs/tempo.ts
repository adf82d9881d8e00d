import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import { goDuration } from '../duration';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { configYaml } from '../config-yaml';
import { objectName } from '../names';
import { PORTS } from '../plan/endpoints';
import { StackComponent, StackComponentProps, nonRootPod } from './component';
import { CONFIG_CHECKSUM_ANNOTATION, checksum, restrictedContainer, setResources } from './k8s-helpers';

export const DEFAULT_TEMPO_IMAGE = 'docker.io/grafana/tempo:2.8.2';
export const TEMPO_HTTP_PORT = PORTS.tempoHttp;
export const OTLP_GRPC_PORT = PORTS.otlpGrpc;
export const OTLP_HTTP_PORT = PORTS.otlpHttp;
/** The image's `tempo` user. */
const TEMPO_UID = 10001;
const DATA_DIR = '/var/tempo';

/** Tempo's monolithic-mode configuration (the parts we set). @see https://grafana.com/docs/tempo/latest/configuration/ */
export interface TempoConfig {
  stream_over_http_enabled: boolean;
  server: { http_listen_port: number; log_level: string };
  distributor: { receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } } };
  ingester: { max_block_duration: string };
  compactor: { compaction: { block_retention: string } };
  metrics_generator?: {
    registry: { external_labels: Record<string, string> };
    storage: { path: string; remote_write: Array<{ url: string; send_exemplars: boolean }> };
    traces_storage: { path: string };
  };
  storage: { trace: { backend: 'local'; wal: { path: string }; local: { path: string } } };
  overrides?: { defaults: { metrics_generator: { processors: string[] } } };
}

export interface TempoProps extends StackComponentProps {
  /** How long traces are kept (`block_retention`). */
  readonly retention: string;
  /**
   * Prometheus remote-write URL for span metrics and service graphs (the metrics generator).
   * @default - no metrics generator
   */
  readonly remoteWriteUrl?: string;
  /**
   * Volume size; without it traces live in an emptyDir.
   * @default - emptyDir
   */
  readonly storageSize?: string;
  /** @default - the cluster default */
  readonly storageClassName?: string;
  /** @default DEFAULT_TEMPO_IMAGE */
  readonly image?: string;
}

export function buildTempoConfig(props: Pick<TempoProps, 'retention' | 'remoteWriteUrl'>): TempoConfig {
  const cfg: TempoConfig = {
    stream_over_http_enabled: true,
    server: { http_listen_port: TEMPO_HTTP_PORT, log_level: 'info' },
    distributor: { receivers: { otlp: { protocols: { grpc: { endpoint: `0.0.0.0:${OTLP_GRPC_PORT}` }, http: { endpoint: `0.0.0.0:${OTLP_HTTP_PORT}` } } } } },
    ingester: { max_block_duration: '5m' },
    // Tempo reads Go durations (no `d`): `15d` would stop it from starting.
    compactor: { compaction: { block_retention: goDuration(props.retention) } },
    storage: { trace: { backend: 'local', wal: { path: `${DATA_DIR}/wal` }, local: { path: `${DATA_DIR}/blocks` } } },
  };
  if (props.remoteWriteUrl) {
    cfg.metrics_generator = {
      registry: { external_labels: { source: 'tempo' } },
      storage: { path: `${DATA_DIR}/generator/wal`, remote_write: [{ url: props.remoteWriteUrl, send_exemplars: true }] },
      traces_storage: { path: `${DATA_DIR}/generator/traces` },
    };
    cfg.overrides = { defaults: { metrics_generator: { processors: ['service-graphs', 'span-metrics', 'local-blocks'] } } };
  }
  return cfg;
}

/**
 * Tempo in monolithic mode: receives OTLP traces from the engines on 4317
 * (gRPC) and 4318 (HTTP), serves queries to Grafana on 3200, and writes span
 * metrics and service graphs to Prometheus.
 */
export class Tempo extends StackComponent {
  public readonly deployment: kplus.Deployment;
  public readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: TempoProps) {
    super(scope, id, props, { appName: 'tempo', component: 'tempo' });
    const labels = this.labels;
    const configText = configYaml(buildTempoConfig(props));
    const config = new kplus.ConfigMap(this, 'config', { metadata: this.metadata(), data: { 'tempo.yaml': configText } });

    let data: kplus.Volume;
    if (props.storageSize) {
      const claim = new kplus.PersistentVolumeClaim(this, 'data-claim', {
        metadata: this.metadata(objectName([props.name, 'data'])),
        accessModes: [kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE],
        storageClassName: props.storageClassName,
        volumeMode: kplus.PersistentVolumeMode.FILE_SYSTEM,
      });
      ApiObject.of(claim).addJsonPatch(JsonPatch.add('/spec/resources', { requests: { storage: { value: props.storageSize } } }));
      data = kplus.Volume.fromPersistentVolumeClaim(this, 'data', claim, { name: 'data' });
    } else {
      data = kplus.Volume.fromEmptyDir(this, 'data', 'data');
    }

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: this.metadata(),
      replicas: 1,
      select: false,
      podMetadata: { labels, annotations: { [CONFIG_CHECKSUM_ANNOTATION]: checksum(configText) } },
      // One writer of the local WAL at a time.
      strategy: kplus.DeploymentStrategy.recreate(),
      automountServiceAccountToken: false,
      securityContext: nonRootPod(TEMPO_UID),
    });
    this.selectPods(this.deployment);
    this.deployment.addContainer({
      name: 'tempo',
      image: props.image ?? DEFAULT_TEMPO_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: ['-config.file=/etc/tempo/tempo.yaml'],
      ports: [
        { name: 'http', number: TEMPO_HTTP_PORT },
        { name: 'otlp-grpc', number: OTLP_GRPC_PORT },
        { name: 'otlp-http', number: OTLP_HTTP_PORT },
      ],
      securityContext: restrictedContainer(TEMPO_UID),
      resources: {},
      readiness: kplus.Probe.fromHttpGet('/ready', { port: TEMPO_HTTP_PORT, periodSeconds: Duration.seconds(10), initialDelaySeconds: Duration.seconds(15) }),
      // /ready also waits for the ingester ring; liveness only asks whether the process still serves.
      liveness: kplus.Probe.fromTcpSocket({ port: TEMPO_HTTP_PORT, periodSeconds: Duration.seconds(30), failureThreshold: 5, initialDelaySeconds: Duration.seconds(30) }),
      volumeMounts: [
        { path: '/etc/tempo', volume: kplus.Volume.fromConfigMap(this, 'config-volume', config, { name: 'config' }), readOnly: true },
        { path: DATA_DIR, volume: data },
      ],
    });
    setResources(ApiObject.of(this.deployment), '/spec/template/spec/containers/0', { cpu: '250m', memory: '1Gi' }, { memory: '2Gi' });

    this.service = this.addService([
      { name: 'http', port: TEMPO_HTTP_PORT },
      { name: 'otlp-grpc', port: OTLP_GRPC_PORT },
      { name: 'otlp-http', port: OTLP_HTTP_PORT },
    ]);
  }
}
