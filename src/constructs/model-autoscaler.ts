import { ApiObject, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { ScaledObject } from '../imports/keda.sh';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';
import { ModelPlan } from '../plan/plan';
import { Expr, bin, call, m, num, print } from '../promql/ast';
import { gaugeMax, gaugeTotal, signalAlternatives } from '../promql/signals';
import { objectName } from '../names';

export interface ModelAutoscalerProps {
  readonly model: ModelPlan;
  readonly namespace: string;
  /** Prometheus KEDA queries. */
  readonly prometheusUrl: string;
  /** Labels of the ScaledObject. */
  readonly labels: Record<string, string>;
}

/**
 * The query KEDA scales on: one series always (`or vector(0)`), so a model
 * with no traffic yet scales to its minimum instead of erroring.
 */
export function autoscalingQuery(model: ModelPlan, namespace: string): Expr {
  const a = model.spec.autoscaling!;
  const scope = { matchers: [m('namespace', '=', namespace), m(SERIES_MODEL_LABEL, '=', model.spec.name), m(SERIES_ENGINE_LABEL, '=', model.profile.engine)], window: '1m' };
  const signal = a.metric === 'queueLength'
    ? gaugeTotal(model.profile, signalAlternatives(model.profile, 'requestsWaiting', [model.version]), scope, [])
    : gaugeMax(signalAlternatives(model.profile, 'kvCacheUsage', [model.version]), scope, []);
  return bin('or', signal, call('vector', num(0)));
}

/**
 * A KEDA ScaledObject for one model's Deployment on queue length (waiting
 * requests per replica: AverageValue) or KV-cache usage (Value).
 */
export class ModelAutoscaler extends Construct {
  public readonly resource: ScaledObject;

  constructor(scope: Construct, id: string, props: ModelAutoscalerProps) {
    super(scope, id);
    const a = props.model.spec.autoscaling!;
    this.resource = new ScaledObject(this, 'Resource', {
      metadata: { name: objectName([props.model.objectName]), namespace: props.namespace, labels: props.labels },
      spec: {
        // A LeaderWorkerSet's scale subresource counts groups (its selector picks the leaders).
        scaleTargetRef: props.model.group
          ? { apiVersion: 'leaderworkerset.x-k8s.io/v1', kind: 'LeaderWorkerSet', name: props.model.objectName }
          : { apiVersion: 'apps/v1', kind: 'Deployment', name: props.model.objectName },
        minReplicaCount: a.minReplicas,
        maxReplicaCount: a.maxReplicas,
        pollingInterval: a.pollingIntervalSeconds,
        // GPU pods take minutes to load a model: do not flap.
        cooldownPeriod: 600,
        triggers: [{
          type: 'prometheus',
          metricType: a.metric === 'queueLength' ? 'AverageValue' : 'Value',
          metadata: {
            serverAddress: props.prometheusUrl,
            query: print(autoscalingQuery(props.model, props.namespace)),
            threshold: String(a.target),
          },
        }],
      },
    });
  }
}

/** With an autoscaler the Deployment (or LeaderWorkerSet) must not set replicas, or every sync would undo the autoscaler. */
export function leaveReplicasToAutoscaler(deployment: ApiObject): void {
  deployment.addJsonPatch(JsonPatch.remove('/spec/replicas'));
}
