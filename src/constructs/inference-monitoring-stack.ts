import { Construct } from 'constructs';
import { objectName, stackLabels } from '../names';
import { StackPlan } from '../plan/plan';
import { InferenceModel } from './inference-model';
import { ModelPodMonitor } from './model-pod-monitor';

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

  constructor(scope: Construct, id: string, props: InferenceMonitoringStackProps) {
    super(scope, id);
    const { plan } = props;
    const spec = plan.spec;
    const otlpEnv = (name: string) => plan.endpoints.otlpMetrics
      ? [
        { name: 'OTEL_METRICS_EXPORTER', value: 'otlp' },
        { name: 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', value: 'http/protobuf' },
        { name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', value: `${plan.endpoints.otlpMetrics}/v1/metrics` },
        // Promoted to labels by the OTLP receiver, so pushed series carry the same labels as scraped ones.
        { name: 'OTEL_RESOURCE_ATTRIBUTES', value: `model=${name},inference_engine=transformers,namespace=$(POD_NAMESPACE),pod=$(POD_NAME)` },
      ]
      : [];

    for (const model of plan.models) {
      this.models.push(new InferenceModel(this, `model-${model.spec.name}`, {
        plan: model,
        namespace: plan.namespace,
        extraEnv: model.pushesOtlpMetrics ? otlpEnv(model.spec.name) : [],
      }));
    }

    if (spec.monitoring.mode === 'operator') {
      const release = { release: spec.monitoring.release };
      for (const model of plan.models.filter((m) => m.metricsEndpoints.length > 0)) {
        this.podMonitors.push(new ModelPodMonitor(this, `podmonitor-${model.spec.name}`, {
          name: model.objectName,
          namespace: plan.namespace,
          labels: { ...stackLabels(plan.name, 'podmonitor', 'monitoring'), ...release },
          selector: model.selectorLabels,
          endpoints: model.metricsEndpoints,
          interval: spec.monitoring.interval,
        }));
      }
      for (const target of plan.targets) {
        this.podMonitors.push(new ModelPodMonitor(this, `podmonitor-target-${target.spec.name}`, {
          name: objectName([target.objectName, 'target']),
          namespace: plan.namespace,
          labels: { ...stackLabels(plan.name, 'podmonitor', 'monitoring'), ...release },
          selector: target.spec.selector,
          podNamespace: target.namespace,
          endpoints: target.metricsEndpoints,
          interval: spec.monitoring.interval,
          byPortNumber: true,
        }));
      }
    }
  }
}
