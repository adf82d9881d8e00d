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
