/**
 * Stacks whose series cannot be told apart. Each stack's rules and dashboards select its series by `namespace` and
 * `model` (stackMatchers in src/alerts/rules.ts). On a Prometheus of the stack's own that is always enough; on the
 * shared Prometheus of operator mode (kube-prometheus-stack, selected by `monitoring.release`) two stacks naming the
 * same model in the same namespace (a model of one stack's namespace, or a target's namespace) send series with the
 * same labels: each stack's recording rules, alerts and dashboards then count both, and both record the same series.
 * Nothing in one spec can see that; the controller, which sees every stack, reports it (status and Event).
 */
import { StackPlan } from './types';

/** A `namespace`/`model` pair a stack's series carry, and the spec field that names the model. */
export interface SeriesKey { readonly namespace: string; readonly model: string; readonly field: string }

/** The shared Prometheus a stack's series go to (its `release` label), or undefined for a Prometheus of its own. */
export function sharedPrometheusOf(plan: StackPlan): string | undefined {
  const m = plan.spec.monitoring;
  return m.mode === 'operator' && !m.createPrometheus ? m.release : undefined;
}

/** Every `namespace`/`model` pair of the stack's scraped series: its models, in its namespace, and its targets, in theirs. */
export function seriesKeys(plan: StackPlan): SeriesKey[] {
  return [
    ...plan.models.map((x) => ({ namespace: plan.namespace, model: x.spec.name, field: `spec.models[${x.index}].name` })),
    ...plan.targets.map((t) => ({ namespace: t.namespace, model: t.spec.name, field: `spec.targets[${t.index}].name` })),
  ];
}

/** What of a stack's plan the comparison needs (what the controller keeps of its peers): where its series go, and which. */
export interface StackSeries { readonly release?: string; readonly keys: readonly SeriesKey[] }

export function stackSeries(plan: StackPlan): StackSeries {
  return { release: sharedPrometheusOf(plan), keys: seriesKeys(plan) };
}

/** Another stack, by `<namespace>/<name>`, with its series. */
export interface PeerStack { readonly ref: string; readonly series: StackSeries }

/**
 * Where this stack's series would be counted with another stack's on the same shared Prometheus: one message per
 * clash, with the field path, the other stack and the labels they share. Empty for a stack with its own Prometheus.
 */
export function seriesConflicts(mine: StackSeries, peers: readonly PeerStack[]): string[] {
  const release = mine.release;
  if (release === undefined) return [];
  const out: string[] = [];
  for (const peer of peers) {
    if (peer.series.release !== release) continue;
    const theirs = new Set(peer.series.keys.map((k) => `${k.namespace}/${k.model}`));
    for (const k of mine.keys.filter((x) => theirs.has(`${x.namespace}/${x.model}`))) {
      out.push(`${k.field}: Invalid value: ${JSON.stringify(k.model)}: InferenceMonitoring ${peer.ref} also sends series with namespace="${k.namespace}", model="${k.model}" to the shared Prometheus (release ${release}); each stack's rules, alerts and dashboards would count both: rename the model in one of them`);
    }
  }
  return out;
}

/**
 * A cheap fingerprint, from the raw resource (not planned), of what a stack sends to a shared Prometheus: undefined
 * when it has its own (the default managed mode, or createPrometheus). The controller compares it between events to
 * know when the other stacks must compare their series again.
 */
export function sharedSeriesSignature(resource: { metadata: { namespace?: string }; spec?: any }): string | undefined {
  const spec = resource.spec ?? {};
  const monitoring = spec.monitoring ?? {};
  if (monitoring.mode !== 'operator' || monitoring.createPrometheus === true) return undefined;
  const names = (xs: unknown) => (Array.isArray(xs) ? xs.map((x: any) => [x?.name, x?.namespace]) : []);
  return JSON.stringify([resource.metadata.namespace, monitoring.release, names(spec.models), names(spec.targets)]);
}
