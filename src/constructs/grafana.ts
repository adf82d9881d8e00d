import { ApiObject, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { configYaml } from '../config-yaml';
import { BENCHMARK_DB_ENV, DASHBOARDS_DIR, DatasourceOptions, buildDashboardProviders, buildDatasources } from '../grafana/provisioning';
import { objectName } from '../names';
import { PORTS } from '../plan/endpoints';
import { StackComponent, StackComponentProps, nonRootPod } from './component';
import { CONFIG_CHECKSUM_ANNOTATION, checksum, restrictedContainer, setResources } from './k8s-helpers';

export const DEFAULT_GRAFANA_IMAGE = 'docker.io/grafana/grafana:12.3.0';
export const GRAFANA_PORT = PORTS.grafana;
/** The image's `grafana` user. */
const GRAFANA_UID = 472;
const ADMIN_DIR = '/etc/grafana/admin';

export interface GrafanaProps extends StackComponentProps {
  /** Datasources to provision. */
  readonly datasources: DatasourceOptions;
  /** Secret with the admin credentials; Grafana reads them from files, never from a ConfigMap. */
  readonly adminSecret: { readonly name: string; readonly userKey: string; readonly passwordKey: string };
  /**
   * Secret with `user` and `password` of the benchmark database.
   * @default - no benchmark datasource credentials
   */
  readonly benchmarkSecretName?: string;
  /**
   * Let unauthenticated users view dashboards.
   * @default false
   */
  readonly anonymousAccess?: boolean;
  /**
   * ConfigMaps holding dashboards (one JSON file each), mounted into the dashboard provider's folder.
   * @default - none
   */
  readonly dashboards?: readonly kplus.IConfigMap[];
  /** @default DEFAULT_GRAFANA_IMAGE */
  readonly image?: string;
}

/**
 * Grafana provisioned from ConfigMaps: datasources (Prometheus with exemplar
 * links to Tempo, Tempo with traces-to-metrics, PostgreSQL for benchmarks) and
 * the stack's dashboards. Admin credentials come from a Secret mounted as
 * files; anonymous access is off unless asked for.
 */
export class Grafana extends StackComponent {
  public readonly deployment: kplus.Deployment;
  public readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: GrafanaProps) {
    super(scope, id, props, { appName: 'grafana', component: 'grafana' });
    const labels = this.labels;
    const datasourcesText = configYaml(buildDatasources(props.datasources));
    const providersText = configYaml(buildDashboardProviders());
    const datasources = new kplus.ConfigMap(this, 'datasources', { metadata: this.metadata(objectName([props.name, 'datasources'])), data: { 'datasources.yaml': datasourcesText } });
    const providers = new kplus.ConfigMap(this, 'providers', { metadata: this.metadata(objectName([props.name, 'dashboard-providers'])), data: { 'providers.yaml': providersText } });

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: this.metadata(),
      replicas: 1,
      select: false,
      podMetadata: { labels, annotations: { [CONFIG_CHECKSUM_ANNOTATION]: checksum(datasourcesText, providersText) } },
      automountServiceAccountToken: false,
      securityContext: nonRootPod(GRAFANA_UID),
    });
    this.selectPods(this.deployment);

    const adminSecret = kplus.Secret.fromSecretName(this, 'admin', props.adminSecret.name);
    const mounts: kplus.VolumeMount[] = [
      { path: '/etc/grafana/provisioning/datasources', volume: kplus.Volume.fromConfigMap(this, 'datasources-volume', datasources, { name: 'datasources' }), readOnly: true },
      { path: '/etc/grafana/provisioning/dashboards', volume: kplus.Volume.fromConfigMap(this, 'providers-volume', providers, { name: 'dashboard-providers' }), readOnly: true },
      {
        path: ADMIN_DIR,
        volume: kplus.Volume.fromSecret(this, 'admin-volume', adminSecret, {
          name: 'admin',
          items: { [props.adminSecret.userKey]: { path: 'user' }, [props.adminSecret.passwordKey]: { path: 'password' } },
        }),
        readOnly: true,
      },
      { path: '/var/lib/grafana', volume: kplus.Volume.fromEmptyDir(this, 'storage', 'storage') },
      { path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'tmp', 'tmp') },
    ];
    (props.dashboards ?? []).forEach((cm, i) => {
      mounts.push({ path: `${DASHBOARDS_DIR}/${i}`, volume: kplus.Volume.fromConfigMap(this, `dashboard-${i}`, cm, { name: `dashboard-${i}` }), readOnly: true });
    });

    const container = this.deployment.addContainer({
      name: 'grafana',
      image: props.image ?? DEFAULT_GRAFANA_IMAGE,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      ports: [{ name: 'http', number: GRAFANA_PORT }],
      securityContext: restrictedContainer(GRAFANA_UID),
      resources: {},
      readiness: kplus.Probe.fromHttpGet('/api/health', { port: GRAFANA_PORT, periodSeconds: Duration.seconds(10) }),
      liveness: kplus.Probe.fromHttpGet('/api/health', { port: GRAFANA_PORT, periodSeconds: Duration.seconds(30), failureThreshold: 5 }),
      volumeMounts: mounts,
    });
    const env: Record<string, string> = {
      GF_SECURITY_ADMIN_USER__FILE: `${ADMIN_DIR}/user`,
      GF_SECURITY_ADMIN_PASSWORD__FILE: `${ADMIN_DIR}/password`,
      GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION: 'false',
      GF_AUTH_ANONYMOUS_ENABLED: String(props.anonymousAccess ?? false),
      GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer',
      GF_USERS_ALLOW_SIGN_UP: 'false',
      GF_ANALYTICS_REPORTING_ENABLED: 'false',
      GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
      GF_PATHS_DATA: '/var/lib/grafana',
    };
    for (const [k, v] of Object.entries(env)) container.env.addVariable(k, kplus.EnvValue.fromValue(v));
    if (props.benchmarkSecretName) {
      const secret = kplus.Secret.fromSecretName(this, 'benchmarks', props.benchmarkSecretName);
      container.env.addVariable(BENCHMARK_DB_ENV.user, kplus.EnvValue.fromSecretValue({ secret, key: 'user' }));
      container.env.addVariable(BENCHMARK_DB_ENV.password, kplus.EnvValue.fromSecretValue({ secret, key: 'password' }));
    }
    setResources(ApiObject.of(this.deployment), '/spec/template/spec/containers/0', { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '256Mi' }, { memory: '1Gi', 'ephemeral-storage': '1Gi' });

    this.service = this.addService([{ name: 'http', port: GRAFANA_PORT }]);
  }
}
