/**
 * The one path from an `InferenceMonitoring` to manifests, used by
 * `cdk8s synth` (charts/), the `render` CLI and the controller.
 */
import { App } from 'cdk8s';
import { Construct } from 'constructs';
import { InferenceMonitoringStack } from './constructs/inference-monitoring-stack';
import { StackInput, StackPlan, planStack } from './plan/plan';
import { StackChart } from './stack-chart';
import { API_GROUP, API_VERSION, KIND } from './api/schema';
import { InferenceMonitoringSpecInput } from './api/spec-input';
import { FieldError, SpecValidationError } from './api/validate';

export type Manifest = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] } };

/** Plans a stack or throws `SpecValidationError` listing every problem with its field path. */
export function planOrThrow(input: StackInput): StackPlan {
  const result = planStack(input);
  if (!result.ok) throw new SpecValidationError(result.errors, `${KIND} ${input.namespace}/${input.name}`);
  return result.value;
}

/**
 * A stack as the library takes it: what an `InferenceMonitoring` resource holds, with the spec typed as a
 * user writes it (`InferenceMonitoringSpecInput`, generated from the schema: a wrong engine, an unknown
 * field or a misspelt mode does not compile). Everything the types cannot say (cross-field rules, CEL) is
 * still checked when the stack is planned, and thrown as `SpecValidationError` with field paths.
 */
export interface StackProps {
  /** `metadata.name` of the resource the stack stands for: the prefix of every object name. */
  readonly name: string;
  /** `metadata.namespace`: where the stack's namespaced objects go. */
  readonly namespace: string;
  /** The spec as written; defaults are applied when it is planned. */
  readonly spec: InferenceMonitoringSpecInput;
}

/** Adds the stack of one resource to a cdk8s scope (a Chart). */
export function addStack(scope: Construct, id: string, props: StackProps): InferenceMonitoringStack {
  return new InferenceMonitoringStack(scope, id, { plan: planOrThrow(props) });
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
  if (r.metadata?.namespace !== undefined && typeof r.metadata.namespace !== 'string') errors.push({ path: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(r.metadata.namespace)}: must be a string` });
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { name: r.metadata.name, namespace: r.metadata.namespace ?? defaultNamespace, spec: r.spec } };
}

/** Synthesizes the manifests of one stack in memory, in a stable order. */
export function renderManifests(props: StackProps): Manifest[] {
  return renderPlan(planOrThrow(props));
}

/** The manifests of a planned stack (the CLI and the controller plan raw resources once, then render). */
export function renderPlan(plan: StackPlan): Manifest[] {
  const app = new App({ outdir: '/nonexistent-in-memory' });
  const chart = new StackChart(app, 'stack', { namespace: plan.namespace });
  new InferenceMonitoringStack(chart, 'stack', { plan });
  return chart.toJson() as Manifest[];
}

/**
 * Objects that several resources of one file would render under one name
 * (`demo.x` and `demo-x`, `1abc` and `im-1abc`, resource `demo-a` with model
 * `b` and `demo` with model `a-b`, the same resource twice): each later
 * resource's conflict, at its `metadata.name`, naming the earlier one.
 */
export function collisionsBetween(rendered: ReadonlyArray<{ where: string; input: StackInput; manifests: readonly Manifest[] }>): FieldError[] {
  const errors: FieldError[] = [];
  const byResource = new Map<string, string>();
  const byObject = new Map<string, string>();
  for (const r of rendered) {
    const id = `${r.input.namespace}/${r.input.name}`;
    const same = byResource.get(id);
    if (same !== undefined) { errors.push({ path: `${r.where}metadata.name`, message: `Duplicate value: ${JSON.stringify(r.input.name)}: ${same}is the same ${KIND} ${id}` }); continue; }
    byResource.set(id, r.where);
    const clashes = new Set<string>();
    for (const m of r.manifests) {
      const key = `${m.kind} ${m.metadata.namespace ?? ''}/${m.metadata.name}`;
      const other = byObject.get(key);
      if (other !== undefined && other !== id) clashes.add(`${key} (also ${other}'s)`);
      else byObject.set(key, id);
    }
    if (clashes.size) errors.push({ path: `${r.where}metadata.name`, message: `Invalid value: ${JSON.stringify(r.input.name)}: renders objects another resource renders: ${[...clashes].slice(0, 3).join(', ')}${clashes.size > 3 ? ` and ${clashes.size - 3} more` : ''}; rename this resource or its models` });
  }
  return errors;
}
