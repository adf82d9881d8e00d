import { ApiObject, App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  LeaderWorkerSet, LeaderWorkerSetSpecLeaderWorkerTemplateRestartPolicy, LeaderWorkerSetSpecNetworkConfigSubdomainPolicy, LeaderWorkerSetSpecStartupPolicy,
} from '../imports/leaderworkerset.x-k8s.io';
import { LWS_WORKER_INDEX_LABEL } from '../monitoring-labels';
import { servicePorts } from '../plan/model';
import { GroupPlan, GroupRolePlan, ModelPlan } from '../plan/types';
import { InferenceModel } from './inference-model';

/** The volume of the model cache; a claim template of this name gives every pod a claim of its own. */
const CACHE_VOLUME = 'model-cache';

export interface InferenceModelGroupProps {
  /** The planned model; its `group` says how one replica spans pods. */
  readonly plan: ModelPlan;
  /** Namespace of every object. */
  readonly namespace: string;
  /**
   * Extra environment for the engine container of every pod, after the plan's.
   * @default - none
   */
  readonly extraEnv?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
}

/**
 * One model whose replicas each span several pods: a LeaderWorkerSet (one group per replica, `parallelism.nodes`
 * pods each) whose leader and worker pod templates are drawn exactly as a single-pod model's pod (same security,
 * resources, GPU scheduling, cache and environment), each with its role's process, metrics ports and probes; and a
 * Service for clients that selects the leaders only.
 *
 * The whole group is recreated when one of its pods fails (`RecreateGroupOnPodRestart`): a rank that dies leaves
 * the others waiting in a collective forever. Workers start with the leader (`LeaderCreated`): the engines'
 * leaders only turn ready once every worker has joined, so waiting for a ready leader would never start them.
 */
export class InferenceModelGroup extends Construct {
  /** The LeaderWorkerSet (`leaderworkerset.x-k8s.io/v1`). */
  public readonly leaderWorkerSet: LeaderWorkerSet;
  public readonly service: kplus.Service;
  public readonly plan: ModelPlan;

  constructor(scope: Construct, id: string, props: InferenceModelGroupProps) {
    super(scope, id);
    const { plan, namespace } = props;
    const group = plan.group;
    if (!group) throw new Error(`model ${plan.spec.name} is not planned over several pods`);
    this.plan = plan;
    const perPodClaim = plan.spec.modelCache.type === 'persistentVolumeClaim' && !plan.spec.modelCache.existingClaim;

    // The templates are JSON cdk8s-plus drew (their schemas are left out of the binding: tools/import-crds.sh).
    this.leaderWorkerSet = new LeaderWorkerSet(this, 'Resource', {
      metadata: { name: plan.objectName, namespace, labels: plan.labels },
      spec: {
        replicas: plan.spec.replicas,
        startupPolicy: LeaderWorkerSetSpecStartupPolicy.LEADER_CREATED,
        // One headless Service per group, named after its leader pod (`<name>-<group index>`), made by LeaderWorkerSet.
        // With the default (Shared) it makes one named like the LeaderWorkerSet, which is the name of our leaders-only
        // Service for clients: whichever came first won, and either the pods' DNS names or the clients' Service broke.
        networkConfig: { subdomainPolicy: LeaderWorkerSetSpecNetworkConfigSubdomainPolicy.UNIQUE_PER_REPLICA },
        leaderWorkerTemplate: {
          size: group.size,
          restartPolicy: LeaderWorkerSetSpecLeaderWorkerTemplateRestartPolicy.RECREATE_GROUP_ON_POD_RESTART,
          leaderTemplate: podTemplate(plan, namespace, group.leader, props.extraEnv, perPodClaim),
          workerTemplate: podTemplate(plan, namespace, group.worker, props.extraEnv, perPodClaim),
          ...(perPodClaim ? { volumeClaimTemplates: [cacheClaimTemplate(plan)] } : {}),
        },
      },
    });

    this.service = new kplus.Service(this, 'Service', {
      metadata: { name: plan.objectName, namespace, labels: plan.labels },
      type: kplus.ServiceType.CLUSTER_IP,
      ports: servicePorts({ ...plan, metricsEndpoints: group.leader.metricsEndpoints }).map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: kplus.Protocol.TCP })),
    });
    // Clients talk to the leaders: workers serve no API (or, in hybrid modes, only their local ranks).
    for (const [k, v] of Object.entries({ ...plan.selectorLabels, [LWS_WORKER_INDEX_LABEL]: '0' })) this.service.selectLabel(k, v);
  }
}

/**
 * The pod template of one role: a single-pod model's Deployment drawn in a scratch app (never synthesized) with the
 * role's process, ports and probes, its template taken as JSON. A generated claim becomes a per-pod claim template.
 */
function podTemplate(plan: ModelPlan, namespace: string, role: GroupRolePlan, extraEnv: InferenceModelGroupProps['extraEnv'], perPodClaim: boolean): Record<string, unknown> {
  const scratch = new Chart(new App(), 'scratch');
  const model = new InferenceModel(scratch, 'model', { plan, namespace, role, extraEnv });
  const template = (ApiObject.of(model.deployment).toJson() as { spec: { template: { spec: { volumes?: Array<{ name: string }> } } } }).spec.template;
  if (perPodClaim) template.spec.volumes = template.spec.volumes?.filter((v) => v.name !== CACHE_VOLUME);
  return template as unknown as Record<string, unknown>;
}

/** One claim per pod for the weights: a shared ReadWriteOnce claim cannot be mounted on several nodes. */
function cacheClaimTemplate(plan: ModelPlan): Record<string, unknown> {
  const cache = plan.spec.modelCache;
  return {
    metadata: { name: CACHE_VOLUME, labels: plan.labels },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: cache.size } },
      ...(cache.storageClassName ? { storageClassName: cache.storageClassName } : {}),
      volumeMode: 'Filesystem',
    },
  };
}

export type { GroupPlan };
