/**
 * Labels every scraped inference series carries, whatever the monitoring mode,
 * so dashboards and alerts can select by them. They come from the pod's labels.
 */
import { LABEL_ENGINE, LABEL_MODEL } from './names';

/** Target label with the spec's model (or target) name. */
export const SERIES_MODEL_LABEL = 'model';
/** Target label with the engine kind (`vllm`, ...). Not `engine`: vLLM and LMDeploy use that for the DP rank. */
export const SERIES_ENGINE_LABEL = 'inference_engine';

/** Prometheus' sanitized meta-label name of a pod label. */
export function podLabelMeta(label: string): string {
  return `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/** `[target label, pod label]` pairs copied onto every inference series. */
export const POD_LABEL_TARGETS: ReadonlyArray<readonly [string, string]> = [
  [SERIES_MODEL_LABEL, LABEL_MODEL],
  [SERIES_ENGINE_LABEL, LABEL_ENGINE],
];

/** LeaderWorkerSet's pod label with the pod's group (replica) index. */
export const LWS_GROUP_INDEX_LABEL = 'leaderworkerset.sigs.k8s.io/group-index';
/** LeaderWorkerSet's pod label with the pod's index in its group (the leader is 0). */
export const LWS_WORKER_INDEX_LABEL = 'leaderworkerset.sigs.k8s.io/worker-index';
/** Target label with the group (replica) a multi-node model's pod belongs to. */
export const SERIES_GROUP_LABEL = 'group';
/** Target label with the pod's index in its group (0: the leader). */
export const SERIES_WORKER_LABEL = 'worker';

/** `[target label, pod label]` pairs copied onto the series of a model whose replicas span several pods. */
export const GROUP_POD_LABEL_TARGETS: ReadonlyArray<readonly [string, string]> = [
  [SERIES_GROUP_LABEL, LWS_GROUP_INDEX_LABEL],
  [SERIES_WORKER_LABEL, LWS_WORKER_INDEX_LABEL],
];
