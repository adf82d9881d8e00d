import { ApiObject, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { StackComponent, StackComponentProps, nonRootPod } from './component';
import { restrictedContainer, setResources } from './k8s-helpers';

/** Alertmanager image; v0.35.0 is what the tests build from the Go module proxy and run. */
export const DEFAULT_ALERTMANAGER_IMAGE = 'quay.io/prometheus/alertmanager:v0.35.0';
/** The image's `nobody` user. */
const ALERTMANAGER_UID = 65534;
const CONFIG_DIR = '/etc/alertmanager';
const DATA_DIR = '/alertmanager';

export interface AlertmanagerProps extends StackComponentProps {
  /** Name of the StatefulSet and its Service. */
  readonly name: string;
  /** Web (API) port. */
  readonly port: number;
  /** The Secret holding the configuration: the user's, never generated (receivers carry credentials). */
  readonly configSecret: { readonly name: string; readonly key: string };
  /** @default DEFAULT_ALERTMANAGER_IMAGE */
  readonly image?: string;
}

/**
 * An Alertmanager of the stack's own: one replica (no gossip cluster; its
 * silences and notification log live in an emptyDir), Pod Security
 * `restricted`, its configuration from a Secret the user owns, mounted as a
 * file. Alertmanager does not reload a changed file by itself:
 * `kubectl rollout restart statefulset/<name>` after editing the Secret.
 */
export class Alertmanager extends StackComponent {
  public readonly statefulSet: kplus.StatefulSet;
  public readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: AlertmanagerProps) {
    super(scope, id, props, { appName: 'alertmanager', component: 'alertmanager' });
    // Prometheus addresses the one pod by its Service.
    ({ service: this.service, statefulSet: this.statefulSet } = this.singleReplicaStatefulSet(props.port, {
      automountServiceAccountToken: false,
      podMetadata: { labels: this.labels },
      securityContext: nonRootPod(ALERTMANAGER_UID),
    }));
    const config = kplus.Volume.fromSecret(this, 'config-volume', kplus.Secret.fromSecretName(this, 'config-secret', props.configSecret.name), {
      name: 'config',
      items: { [props.configSecret.key]: { path: 'alertmanager.yaml' } },
    });
    const data = kplus.Volume.fromEmptyDir(this, 'data-volume', 'data');
    this.statefulSet.addContainer({
      name: 'alertmanager',
      image: props.image ?? DEFAULT_ALERTMANAGER_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: [
        `--config.file=${CONFIG_DIR}/alertmanager.yaml`,
        `--storage.path=${DATA_DIR}`,
        `--web.listen-address=:${props.port}`,
        // One replica: no gossip peers to find (an empty address turns clustering off).
        '--cluster.listen-address=',
      ],
      ports: [{ name: 'http', number: props.port }],
      securityContext: restrictedContainer(ALERTMANAGER_UID),
      resources: {},
      readiness: kplus.Probe.fromHttpGet('/-/ready', { port: props.port, periodSeconds: Duration.seconds(10) }),
      liveness: kplus.Probe.fromHttpGet('/-/healthy', { port: props.port, periodSeconds: Duration.seconds(15), failureThreshold: 6 }),
      volumeMounts: [
        { path: CONFIG_DIR, volume: config, readOnly: true },
        { path: DATA_DIR, volume: data },
      ],
    });
    // Silences and the notification log are small; bounded so a runaway cannot fill the node's disk.
    setResources(ApiObject.of(this.statefulSet), '/spec/template/spec/containers/0', { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '16Mi' }, { memory: '256Mi', 'ephemeral-storage': '256Mi' });
  }
}
