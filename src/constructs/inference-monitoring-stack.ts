import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { buildRuleFiles } from '../alerts/rules';
import { LABEL_INSTANCE, componentSelector, labelValue, objectName, stackLabels } from '../names';
import { StackPlan, otlpMetricsEnv } from '../plan/plan';
import { DCGM_JOB, PROMETHEUS_PORT, SECRETS_DIR, buildPrometheusConfig, dcgmSelector, prometheusSecretFiles } from '../prometheus/prometheus-config';
import { Alertmanager } from './alertmanager';
import { dcgmTargetLabels, forOperator, modelTargetLabels, workloadTargetLabels } from '../prometheus/target-labels';
import { stackDashboards } from '../dashboards';
import { DashboardConfigMaps } from './dashboard-config-maps';
import { DcgmExporter } from './dcgm-exporter';
import { GRAFANA_PORT, Grafana } from './grafana';
import { InferenceModel, enginePorts } from './inference-model';
import { ManagedPrometheus } from './managed-prometheus';
import { ModelAutoscaler, leaveReplicasToAutoscaler } from './model-autoscaler';
import { ModelPodMonitor } from './model-pod-monitor';
import { OperatorPrometheus } from './operator-prometheus';
import { StackNetworkPolicies } from './stack-network-policies';
import { StackPrometheusRule } from './stack-prometheus-rule';
import { OTLP_GRPC_PORT, OTLP_HTTP_PORT, TEMPO_HTTP_PORT, Tempo } from './tempo';
import { urlPort } from '../spec/url';

/** prometheus-operator runs this Prometheus version for `createPrometheus` (the one the tests build). */
export const OPERATOR_PROMETHEUS_VERSION = 'v3.16.0';

export interface InferenceMonitoringStackProps {
  /** The planned stack (see `planStack`). */
  readonly plan: StackPlan;
}

/**
 * Everything one `InferenceMonitoring` resource stands for: the model
 * workloads and the monitoring that watches them, wired from a plan.
 */
export class InferenceMonitoringStack extends Construct {
  public readonly models: InferenceModel[] = [];
  public readonly podMonitors: ModelPodMonitor[] = [];
  public readonly prometheus?: ManagedPrometheus;
  public readonly tempo?: Tempo;
  public readonly grafana?: Grafana;
  public readonly dcgmExporter?: DcgmExporter;
  public readonly alertmanager?: Alertmanager;

  constructor(scope: Construct, id: string, props: InferenceMonitoringStackProps) {
    super(scope, id);
    const { plan } = props;
    const spec = plan.spec;
    const managed = spec.monitoring.mode === 'managed';
    const otlpEnv = (name: string, engine: string) => (plan.endpoints.otlpMetrics ? otlpMetricsEnv(plan.endpoints.otlpMetrics, name, engine, spec.monitoring.interval) : []);

    for (const model of plan.models) {
      const workload = new InferenceModel(this, `model-${model.spec.name}`, {
        plan: model,
        namespace: plan.namespace,
        extraEnv: model.pushesOtlpMetrics ? otlpEnv(model.spec.name, model.profile.engine) : [],
      });
      this.models.push(workload);
      if (model.spec.autoscaling) {
        new ModelAutoscaler(this, `autoscaler-${model.spec.name}`, { model, namespace: plan.namespace, prometheusUrl: plan.endpoints.prometheus, labels: stackLabels(plan.name, 'scaledobject', 'autoscaling') });
        leaveReplicasToAutoscaler(ApiObject.of(workload.deployment));
      }
    }

    const ruleFiles = buildRuleFiles(plan);
    const discoveryNamespaces = [
      ...plan.targets.map((t) => t.namespace),
      ...(spec.gpuMetrics.enabled && spec.gpuMetrics.exporterNamespace ? [spec.gpuMetrics.exporterNamespace] : []),
    ];
    if (managed) {
      this.prometheus = new ManagedPrometheus(this, 'prometheus', {
        name: plan.names.prometheus,
        namespace: plan.namespace,
        instance: plan.name,
        config: buildPrometheusConfig(plan),
        ruleFiles,
        retention: spec.monitoring.retention,
        storageSize: spec.monitoring.storage.size,
        storageClassName: spec.monitoring.storage.storageClassName,
        discoveryNamespaces,
        secretNames: prometheusSecretFiles(plan).map((f) => f.name),
        secretsDir: SECRETS_DIR,
      });
    } else {
      this.addOperatorObjects(plan, ruleFiles, discoveryNamespaces);
    }

    if (plan.endpoints.alertmanager) {
      const ref = spec.alerting.alertmanager.configSecretRef;
      this.alertmanager = new Alertmanager(this, 'alertmanager', {
        name: plan.names.alertmanager,
        namespace: plan.namespace,
        instance: plan.name,
        port: plan.endpoints.alertmanager.port,
        configSecret: { name: plan.names.alertmanagerConfigSecret, key: ref?.key ?? 'alertmanager.yaml' },
      });
    }

    if (spec.tempo.enabled) {
      const receivesRemoteWrite = managed || spec.monitoring.createPrometheus;
      this.tempo = new Tempo(this, 'tempo', {
        name: plan.names.tempo,
        namespace: plan.namespace,
        instance: plan.name,
        retention: spec.tempo.retention,
        remoteWriteUrl: receivesRemoteWrite ? `${plan.endpoints.prometheus}/api/v1/write` : undefined,
        storageSize: spec.tempo.storage.size,
        storageClassName: spec.tempo.storage.storageClassName,
      });
    }

    const dashboards = new DashboardConfigMaps(this, 'dashboards', {
      namespace: plan.namespace,
      instance: plan.name,
      namePrefix: plan.names.grafana.replace(/-grafana$/, ''),
      dashboards: stackDashboards(plan),
    });

    if (spec.grafana.enabled) {
      const admin = spec.grafana.adminSecretRef;
      this.grafana = new Grafana(this, 'grafana', {
        name: plan.names.grafana,
        namespace: plan.namespace,
        instance: plan.name,
        datasources: {
          prometheusUrl: plan.endpoints.prometheus,
          // No Tempo, no trace links: nothing may point at a datasource that does not exist.
          tempoUrl: spec.tempo.enabled ? `http://${plan.names.tempo}.${plan.namespace}.svc:${TEMPO_HTTP_PORT}` : undefined,
          benchmarks: spec.benchmarks.enabled && spec.benchmarks.host ? { host: spec.benchmarks.host, database: spec.benchmarks.database } : undefined,
        },
        adminSecret: { name: plan.names.grafanaAdminSecret, userKey: admin?.userKey ?? 'admin-user', passwordKey: admin?.passwordKey ?? 'admin-password' },
        benchmarkSecretName: spec.benchmarks.enabled ? spec.benchmarks.secretRef?.name : undefined,
        anonymousAccess: spec.grafana.anonymousAccess,
        dashboards: dashboards.configMaps,
      });
    }

    if (spec.gpuMetrics.enabled && spec.gpuMetrics.deployExporter) {
      this.dcgmExporter = new DcgmExporter(this, 'dcgm-exporter', { name: plan.names.dcgm, namespace: plan.namespace, instance: plan.name, port: spec.gpuMetrics.port });
    }

    if (spec.networkPolicy.enabled) this.addNetworkPolicies(plan);
  }

  private addOperatorObjects(plan: StackPlan, ruleFiles: ReturnType<typeof buildRuleFiles> | Record<string, never>, discoveryNamespaces: string[]): void {
    const spec = plan.spec;
    // With a Prometheus of our own, kube-prometheus-stack's must not select the same monitors and rules too
    // (every target scraped twice, every alert doubled): the `release` label is only for a shared Prometheus.
    const release: Record<string, string> = spec.monitoring.createPrometheus ? {} : { release: spec.monitoring.release };
    const monitorLabels: Record<string, string> = { ...stackLabels(plan.name, 'podmonitor', 'monitoring'), ...release };
    for (const model of plan.models.filter((m) => m.metricsEndpoints.length > 0)) {
      this.podMonitors.push(new ModelPodMonitor(this, `podmonitor-${model.spec.name}`, {
        name: model.objectName,
        namespace: plan.namespace,
        labels: monitorLabels,
        selector: model.selectorLabels,
        endpoints: model.metricsEndpoints.map((e) => ({ portName: e.portName, path: e.path, relabelings: forOperator(modelTargetLabels(), model.objectName) })),
        interval: spec.monitoring.interval,
      }));
    }
    for (const target of plan.targets) {
      this.podMonitors.push(new ModelPodMonitor(this, `podmonitor-target-${target.spec.name}`, {
        name: objectName([target.objectName, 'target']),
        namespace: plan.namespace,
        labels: monitorLabels,
        selector: target.spec.selector,
        podNamespace: target.namespace,
        // No port filter: a rank port the pod does not declare is scraped all the same, as in managed mode.
        endpoints: target.metricsEndpoints.map((e) => ({ path: e.path, relabelings: forOperator(workloadTargetLabels(target.objectName, e.port, target.spec.name, target.spec.engine), target.objectName) })),
        interval: spec.monitoring.interval,
      }));
    }
    if (spec.gpuMetrics.enabled) {
      this.podMonitors.push(new ModelPodMonitor(this, 'podmonitor-dcgm', {
        name: objectName([plan.names.dcgm]),
        namespace: plan.namespace,
        labels: { ...monitorLabels, 'app.kubernetes.io/name': DCGM_JOB },
        selector: dcgmSelector(plan),
        podNamespace: spec.gpuMetrics.exporterNamespace,
        endpoints: [{ portNumber: spec.gpuMetrics.port, path: '/metrics', relabelings: forOperator(dcgmTargetLabels(), DCGM_JOB) }],
        interval: spec.monitoring.interval,
        honorLabels: true,
      }));
    }
    const file = Object.values(ruleFiles)[0];
    if (file && file.groups.length) {
      new StackPrometheusRule(this, 'rules', {
        name: objectName([plan.names.prometheus, 'rules']),
        namespace: plan.namespace,
        labels: { ...stackLabels(plan.name, 'prometheusrule', 'monitoring'), ...release },
        rules: file,
      });
    }
    if (spec.monitoring.createPrometheus) {
      new OperatorPrometheus(this, 'operator-prometheus', {
        name: plan.names.prometheus,
        namespace: plan.namespace,
        instance: plan.name,
        selectLabels: { 'app.kubernetes.io/instance': monitorLabels['app.kubernetes.io/instance'] },
        monitoring: spec.monitoring,
        externalLabels: buildPrometheusConfig(plan).global.external_labels ?? {},
        version: OPERATOR_PROMETHEUS_VERSION,
        alertmanagerService: plan.endpoints.alertmanager ? plan.names.alertmanager : undefined,
        discoveryNamespaces,
      });
    }
  }

  private addNetworkPolicies(plan: StackPlan): void {
    const spec = plan.spec;
    const np = spec.networkPolicy;
    const group = (component: string) => ({ selector: componentSelector(plan.name, component) });
    const managed = spec.monitoring.mode === 'managed';
    // The operator labels its Prometheus pods itself (it overwrites app.kubernetes.io/instance with the Prometheus' name).
    const own = managed
      ? { name: plan.names.prometheus, port: PROMETHEUS_PORT, ...group('prometheus') }
      : spec.monitoring.createPrometheus ? { name: plan.names.prometheus, port: PROMETHEUS_PORT, selector: operatorPrometheusSelector(plan.names.prometheus) } : undefined;
    const shared = { namespace: np.sharedPrometheus.namespace, selector: np.sharedPrometheus.podSelector };
    const scraper = own ?? shared;
    const queryPort = own ? PROMETHEUS_PORT : urlPort(spec.monitoring.prometheusUrl);
    const metricsPortsOf = (m: StackPlan['models'][number]) => new Set(m.metricsEndpoints.map((e) => e.port));
    const dcgmPeer = spec.gpuMetrics.enabled
      ? { namespace: spec.gpuMetrics.deployExporter ? plan.namespace : (spec.gpuMetrics.exporterNamespace ?? plan.namespace), selector: dcgmSelector(plan), ports: [spec.gpuMetrics.port] }
      : undefined;
    new StackNetworkPolicies(this, 'network-policies', {
      namespace: plan.namespace,
      instance: plan.name,
      stackSelector: { [LABEL_INSTANCE]: labelValue(plan.name) },
      prometheus: own,
      scraper,
      queryPrometheus: { ...scraper, port: queryPort },
      autoscaler: plan.models.some((m) => m.spec.autoscaling) ? { namespace: np.autoscaler.namespace, selector: np.autoscaler.podSelector } : undefined,
      tempo: this.tempo ? { name: plan.names.tempo, queryPort: TEMPO_HTTP_PORT, otlpPorts: [OTLP_GRPC_PORT, OTLP_HTTP_PORT], remoteWrites: own !== undefined, ...group('tempo') } : undefined,
      grafana: this.grafana ? { name: plan.names.grafana, port: GRAFANA_PORT, ...group('grafana') } : undefined,
      alertmanager: plan.endpoints.alertmanager ? { name: plan.names.alertmanager, port: plan.endpoints.alertmanager.port, ...group('alertmanager') } : undefined,
      alertmanagerEndpointPorts: (spec.alerting.endpoints ?? []).map((e) => urlPort(e.url)),
      dcgm: this.dcgmExporter ? { name: plan.names.dcgm, port: spec.gpuMetrics.port, ...group('gpu-metrics') } : undefined,
      scrapeTargets: [
        ...plan.models.filter((m) => m.metricsEndpoints.length > 0).map((m) => ({ selector: m.selectorLabels, ports: [...metricsPortsOf(m)].sort((a, b) => a - b) })),
        ...plan.targets.map((t) => ({ namespace: t.namespace, selector: t.spec.selector, ports: t.metricsEndpoints.map((e) => e.port) })),
        ...(dcgmPeer ? [dcgmPeer] : []),
      ],
      models: plan.models.map((m) => {
        const metricsPorts = metricsPortsOf(m);
        const open = [m.servicePort.port, ...enginePorts(m).map((p) => p.port).filter((p) => !metricsPorts.has(p))];
        return {
          name: m.objectName,
          selector: m.selectorLabels,
          openPorts: [...new Set([...open, ...(metricsPorts.has(m.servicePort.port) ? [m.servicePort.port] : [])])].sort((a, b) => a - b),
          metricsOnlyPorts: [...metricsPorts].filter((p) => p !== m.servicePort.port).sort((a, b) => a - b),
          pushesToPrometheus: m.pushesOtlpMetrics,
          // Traces go to spec.tracing.endpoint when it is set (Tempo or not), else to the stack's Tempo.
          sendsTraces: m.tracesExported && !spec.tracing.endpoint,
          sendsTracesExternally: m.tracesExported && spec.tracing.endpoint !== undefined,
        };
      }),
      defaultDeny: np.defaultDeny ? {
        apiServerPorts: np.apiServerPorts,
        modelEgressPorts: np.modelEgressPorts,
        alertmanagerEgressPorts: np.alertmanagerEgressPorts,
        remoteWritePorts: [...new Set((own ? spec.monitoring.remoteWrite ?? [] : []).map((r) => urlPort(r.url)))].sort((a, b) => a - b),
        benchmarkDatabasePort: spec.benchmarks.enabled && spec.benchmarks.host ? hostPort(spec.benchmarks.host, 5432) : undefined,
        traceCollectorPort: spec.tracing.enabled && spec.tracing.endpoint ? urlPort(spec.tracing.endpoint) : undefined,
      } : undefined,
    });
  }
}

/** Labels prometheus-operator puts on the pods of a `Prometheus` (it sets them after any of ours). */
export function operatorPrometheusSelector(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'prometheus', 'operator.prometheus.io/name': name };
}

/** Port of `host:port`, or the default. */
function hostPort(host: string, fallback: number): number {
  const m = /:(\d+)$/.exec(host);
  return m ? Number(m[1]) : fallback;
}
