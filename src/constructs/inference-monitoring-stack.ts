import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { buildRuleFiles } from '../alerts/rules';
import { objectName, stackLabels } from '../names';
import { OPERATOR_PROMETHEUS_VERSION, operatorPrometheusSelector } from '../plan/components';
import { StackPlan } from '../plan/types';
import { DCGM_JOB, SECRETS_DIR, buildPrometheusConfig, prometheusSecretFiles } from '../prometheus/prometheus-config';
import { Alertmanager } from './alertmanager';
import { dcgmTargetLabels, dropWorkerSamples, forOperator, modelTargetLabels, workloadTargetLabels } from '../prometheus/target-labels';
import { stackDashboardFiles } from '../dashboards';
import { DashboardConfigMaps } from './dashboard-config-maps';
import { DcgmExporter } from './dcgm-exporter';
import { Grafana } from './grafana';
import { InferenceModel } from './inference-model';
import { InferenceModelGroup } from './inference-model-group';
import { ManagedPrometheus } from './managed-prometheus';
import { ModelAutoscaler, leaveReplicasToAutoscaler } from './model-autoscaler';
import { ModelPodMonitor } from './model-pod-monitor';
import { OperatorPrometheus } from './operator-prometheus';
import { StackNetworkPolicies } from './stack-network-policies';
import { StackPrometheusRule } from './stack-prometheus-rule';
import { Tempo } from './tempo';

export { OPERATOR_PROMETHEUS_VERSION, operatorPrometheusSelector };

export interface InferenceMonitoringStackProps {
  /** The planned stack (see `planStack`). */
  readonly plan: StackPlan;
}

/**
 * Everything one `InferenceMonitoring` resource stands for: the model
 * workloads and the monitoring that watches them, wired from a plan.
 */
export class InferenceMonitoringStack extends Construct {
  /** Models whose replicas are single pods (Deployments). */
  public readonly models: InferenceModel[] = [];
  /** Models whose replicas each span several pods (LeaderWorkerSets). */
  public readonly modelGroups: InferenceModelGroup[] = [];
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
    const c = plan.components;

    for (const model of plan.models) {
      let workload: ApiObject;
      if (model.group) {
        const group = new InferenceModelGroup(this, `model-${model.spec.name}`, { plan: model, namespace: plan.namespace });
        this.modelGroups.push(group);
        workload = group.leaderWorkerSet;
      } else {
        const single = new InferenceModel(this, `model-${model.spec.name}`, { plan: model, namespace: plan.namespace });
        this.models.push(single);
        workload = ApiObject.of(single.deployment);
      }
      if (model.spec.autoscaling) {
        new ModelAutoscaler(this, `autoscaler-${model.spec.name}`, { model, namespace: plan.namespace, prometheusUrl: plan.endpoints.prometheus, labels: stackLabels(plan.name, 'scaledobject', 'autoscaling') });
        leaveReplicasToAutoscaler(workload);
      }
    }

    const ruleFiles = buildRuleFiles(plan);
    if (c.prometheus?.kind === 'managed') {
      this.prometheus = new ManagedPrometheus(this, 'prometheus', {
        name: c.prometheus.name,
        namespace: plan.namespace,
        instance: plan.name,
        config: buildPrometheusConfig(plan),
        ruleFiles,
        retention: spec.monitoring.retention,
        storageSize: spec.monitoring.storage.size,
        storageClassName: spec.monitoring.storage.storageClassName,
        discoveryNamespaces: c.prometheus.discoveryNamespaces,
        secretNames: prometheusSecretFiles(plan).map((f) => f.name),
        secretsDir: SECRETS_DIR,
      });
    } else {
      this.addOperatorObjects(plan, ruleFiles);
    }

    if (c.alertmanager) {
      this.alertmanager = new Alertmanager(this, 'alertmanager', {
        name: c.alertmanager.name,
        namespace: plan.namespace,
        instance: plan.name,
        port: c.alertmanager.port,
        configSecret: c.alertmanager.configSecret,
      });
    }

    if (c.tempo) {
      this.tempo = new Tempo(this, 'tempo', {
        name: c.tempo.name,
        namespace: plan.namespace,
        instance: plan.name,
        retention: c.tempo.retention,
        remoteWriteUrl: c.tempo.remoteWriteUrl,
        storageSize: c.tempo.storageSize,
        storageClassName: c.tempo.storageClassName,
      });
    }

    const dashboards = new DashboardConfigMaps(this, 'dashboards', {
      namespace: plan.namespace,
      instance: plan.name,
      namePrefix: plan.names.dashboards,
      dashboards: stackDashboardFiles(plan),
    });

    if (c.grafana) {
      this.grafana = new Grafana(this, 'grafana', {
        name: c.grafana.name,
        namespace: plan.namespace,
        instance: plan.name,
        datasources: c.grafana.datasources,
        adminSecret: c.grafana.adminSecret,
        benchmarkSecretName: c.grafana.benchmarkSecretName,
        anonymousAccess: c.grafana.anonymousAccess,
        dashboards: dashboards.configMaps,
      });
    }

    if (c.dcgmExporter) {
      this.dcgmExporter = new DcgmExporter(this, 'dcgm-exporter', { name: c.dcgmExporter.name, namespace: plan.namespace, instance: plan.name, port: c.dcgmExporter.port });
    }

    if (plan.networkPolicies) new StackNetworkPolicies(this, 'network-policies', plan.networkPolicies);
  }

  private addOperatorObjects(plan: StackPlan, ruleFiles: ReturnType<typeof buildRuleFiles> | Record<string, never>): void {
    const spec = plan.spec;
    const op = plan.operator!;
    const monitorLabels = op.monitorLabels;
    for (const model of plan.models.filter((m) => m.metricsEndpoints.length > 0)) {
      this.podMonitors.push(new ModelPodMonitor(this, `podmonitor-${model.spec.name}`, {
        name: model.objectName,
        namespace: plan.namespace,
        labels: monitorLabels,
        selector: model.selectorLabels,
        endpoints: model.metricsEndpoints.map((e) => ({
          portName: e.portName, path: e.path, relabelings: forOperator(modelTargetLabels(model.group !== undefined), model.objectName),
          ...(model.group?.worker.duplicatesLeader ? { metricRelabelings: dropWorkerSamples() } : {}),
        })),
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
    if (plan.gpuMetrics) {
      this.podMonitors.push(new ModelPodMonitor(this, 'podmonitor-dcgm', {
        name: op.dcgmMonitorName,
        namespace: plan.namespace,
        labels: op.dcgmMonitorLabels,
        selector: plan.gpuMetrics.selector,
        podNamespace: plan.gpuMetrics.scrapeNamespace,
        endpoints: [{ portNumber: plan.gpuMetrics.port, path: '/metrics', relabelings: forOperator(dcgmTargetLabels(), DCGM_JOB) }],
        interval: spec.monitoring.interval,
        honorLabels: true,
      }));
    }
    const file = Object.values(ruleFiles)[0];
    if (file && file.groups.length) {
      new StackPrometheusRule(this, 'rules', {
        name: op.rule.name,
        namespace: plan.namespace,
        labels: op.rule.labels,
        rules: file,
      });
    }
    const own = plan.components.prometheus;
    if (own) {
      new OperatorPrometheus(this, 'operator-prometheus', {
        name: own.name,
        namespace: plan.namespace,
        instance: plan.name,
        selectLabels: op.selectLabels,
        monitoring: spec.monitoring,
        externalLabels: buildPrometheusConfig(plan).global.external_labels ?? {},
        version: OPERATOR_PROMETHEUS_VERSION,
        alertmanagerService: plan.components.alertmanager?.name,
        discoveryNamespaces: own.discoveryNamespaces,
      });
    }
  }
}
