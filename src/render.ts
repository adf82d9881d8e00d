/**
 * The one path from an `InferenceMonitoring` to manifests, used by
 * `cdk8s synth` (charts/), the `render` CLI and the controller.
 */
import { App } from 'cdk8s';
import { Construct } from 'constructs';
import { InferenceMonitoringStack } from './constructs/inference-monitoring-stack';
import { StackInput, StackPlan, planStack } from './plan/plan';
import { StackChart } from './stack-chart';
import { API_GROUP, API_VERSION, KIND } from './spec/schema';
import { FieldError, SpecValidationError } from './spec/validate';

export type Manifest = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] } };

/** Plans a stack or throws `SpecValidationError` listing every problem with its field path. */
export function planOrThrow(input: StackInput): StackPlan {
  const result = planStack(input);
  if (!result.ok) throw new SpecValidationError(result.errors, `${KIND} ${input.namespace}/${input.name}`);
  return result.value;
}

/** Adds the stack of one resource to a cdk8s scope (a Chart). */
export function addStack(scope: Construct, id: string, input: StackInput): InferenceMonitoringStack {
  return new InferenceMonitoringStack(scope, id, { plan: planOrThrow(input) });
}

/** Reads name, namespace and spec out of an `InferenceMonitoring` object, checking its kind. */
export function stackInputFromResource(resource: unknown, defaultNamespace = 'default'): { ok: true; value: StackInput } | { ok: false; errors: FieldError[] } {
  const r = resource as Record<string, any> | null;
  const errors: FieldError[] = [];
  if (!r || typeof r !== 'object') return { ok: false, errors: [{ path: '', message: 'expected an object' }] };
  if (r.apiVersion !== `${API_GROUP}/${API_VERSION}`) errors.push({ path: 'apiVersion', message: `Unsupported value: ${JSON.stringify(r.apiVersion)}: supported values: "${API_GROUP}/${API_VERSION}"` });
  if (r.kind !== KIND) errors.push({ path: 'kind', message: `Unsupported value: ${JSON.stringify(r.kind)}: supported values: "${KIND}"` });
  if (typeof r.metadata?.name !== 'string') errors.push({ path: 'metadata.name', message: 'Required value' });
  if (r.spec === undefined) errors.push({ path: 'spec', message: 'Required value' });
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { name: r.metadata.name, namespace: r.metadata.namespace ?? defaultNamespace, spec: r.spec } };
}

/** Synthesizes the manifests of one stack in memory, in a stable order. */
export function renderManifests(input: StackInput): Manifest[] {
  const plan = planOrThrow(input);
  const app = new App({ outdir: '/nonexistent-in-memory' });
  const chart = new StackChart(app, 'stack', { namespace: plan.namespace });
  new InferenceMonitoringStack(chart, 'stack', { plan });
  return chart.toJson() as Manifest[];
}
