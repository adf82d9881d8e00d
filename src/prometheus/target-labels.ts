/**
 * The target labels every scraped series carries, in one place for both
 * modes: the managed Prometheus' `relabel_configs` and the PodMonitors'
 * `relabelings` are translated from these lists, so a dashboard or alert sees
 * the same `job`, `namespace`, `pod`, `container`, `node`, `model` and
 * `inference_engine` whichever Prometheus scrapes.
 *
 * prometheus-operator adds its own relabelings before ours: `job` as
 * `<namespace>/<podmonitor>` (which no rule of ours could select), `endpoint`,
 * and `namespace`/`container`/`pod`. `forOperator` appends what undoes that:
 * `job` set back to the managed mode's job name, and those of its labels the
 * managed list does not set dropped.
 */
import { GROUP_POD_LABEL_TARGETS, POD_LABEL_TARGETS, SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL, SERIES_WORKER_LABEL, podLabelMeta } from '../monitoring-labels';
import { RelabelConfig } from './config-types';

/** A relabeling in the managed Prometheus' (snake_case) form. */
export type TargetRelabel = RelabelConfig;

const meta = (source: string, target: string): TargetRelabel => ({ source_labels: [source], target_label: target });
const fixed = (target: string, value: string): TargetRelabel => ({ target_label: target, replacement: value });
const drop = (labels: readonly string[]): TargetRelabel => ({ regex: labels.join('|'), action: 'labeldrop' });
/** Pods that are not running cannot be scraped; they only add `up == 0` noise (the operator drops only Succeeded|Failed). */
const DROP_NOT_RUNNING: TargetRelabel = { source_labels: ['__meta_kubernetes_pod_phase'], regex: 'Pending|Succeeded|Failed|Unknown', action: 'drop' };

/**
 * A model pod of ours: its pod labels say model and engine; `job` is the scrape job's name. A model whose replicas
 * span several pods (`grouped`) also gets LeaderWorkerSet's group and worker index, so each group is counted apart.
 */
export function modelTargetLabels(grouped = false): TargetRelabel[] {
  return [
    DROP_NOT_RUNNING,
    meta('__meta_kubernetes_namespace', 'namespace'),
    meta('__meta_kubernetes_pod_name', 'pod'),
    meta('__meta_kubernetes_pod_container_name', 'container'),
    meta('__meta_kubernetes_pod_node_name', 'node'),
    ...POD_LABEL_TARGETS.map(([target, podLabel]) => meta(podLabelMeta(podLabel), target)),
    ...(grouped ? GROUP_POD_LABEL_TARGETS.map(([target, podLabel]) => meta(podLabelMeta(podLabel), target)) : []),
  ];
}

/**
 * Samples of a group's workers (`worker` ≠ 0) dropped after the scrape: their series repeat the leader's (SGLang's
 * other tensor-parallel ranks). `up` is not a scraped sample, so the targets still tell whether the workers answer.
 */
export function dropWorkerSamples(): TargetRelabel[] {
  return [{ source_labels: [SERIES_WORKER_LABEL], regex: '[1-9][0-9]*', action: 'drop' }];
}

/**
 * An existing workload (`spec.targets`): its pods carry none of our labels,
 * so model and engine come from the spec; its rank ports need not be declared,
 * so the address is rewritten to `<pod IP>:<port>`, and `container` is dropped
 * so the targets one pod's declared ports yield collapse into one.
 */
export function workloadTargetLabels(job: string, port: number, model: string, engine: string): TargetRelabel[] {
  return [
    DROP_NOT_RUNNING,
    { source_labels: ['__meta_kubernetes_pod_ip'], regex: '(.+)', target_label: '__address__', replacement: `$1:${port}` },
    fixed('job', job),
    meta('__meta_kubernetes_namespace', 'namespace'),
    meta('__meta_kubernetes_pod_name', 'pod'),
    meta('__meta_kubernetes_pod_node_name', 'node'),
    fixed(SERIES_MODEL_LABEL, model),
    fixed(SERIES_ENGINE_LABEL, engine),
  ];
}

/**
 * The DCGM exporter: its series' own `namespace`/`pod`/`container` name the
 * pod using the GPU (honour labels), so the exporter pod's are dropped.
 */
export function dcgmTargetLabels(): TargetRelabel[] {
  return [
    DROP_NOT_RUNNING,
    meta('__meta_kubernetes_pod_node_name', 'node'),
  ];
}

/** Target labels prometheus-operator sets on every PodMonitor target before the PodMonitor's own relabelings. */
export const OPERATOR_TARGET_LABELS = ['namespace', 'container', 'pod', 'endpoint'] as const;

/**
 * A managed-mode list as a PodMonitor endpoint's relabelings: the same, then
 * `job` set to the managed job name and the operator's labels the list does
 * not set itself dropped, so both modes produce the same target labels.
 */
export function forOperator(list: readonly TargetRelabel[], job: string): TargetRelabel[] {
  const set = new Set(list.map((r) => r.target_label));
  const extra = OPERATOR_TARGET_LABELS.filter((l) => !set.has(l));
  return [...list, ...(set.has('job') ? [] : [fixed('job', job)]), ...(extra.length ? [drop(extra)] : [])];
}

/** The same relabeling in a PodMonitor's (camelCase) form. */
export function toPodMonitorRelabeling(r: TargetRelabel): { sourceLabels?: string[]; targetLabel?: string; replacement?: string; regex?: string; action: string } {
  return {
    ...(r.source_labels ? { sourceLabels: r.source_labels } : {}),
    ...(r.target_label ? { targetLabel: r.target_label } : {}),
    ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
    ...(r.regex !== undefined ? { regex: r.regex } : {}),
    action: r.action ?? 'replace',
  };
}
