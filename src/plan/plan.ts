/**
 * A pure function from a validated, defaulted spec to what must exist: per
 * model its workload shape and every metrics endpoint (one per data-parallel
 * rank where the engine runs a server per rank), and the stack's components,
 * in-cluster endpoints and NetworkPolicies. Every decision is made here, once;
 * constructs draw the plan. No cdk8s here, so it is cheap to test.
 *
 * The pieces: `model.ts` (models and targets), `components.ts` (names, URLs, which components run, their
 * Secrets), `network.ts` (NetworkPolicy peers and ports), `checks.ts` (cross-field checks), `endpoints.ts`
 * (ports and Service URLs), `types.ts` (what a plan holds).
 */
import { FieldError, ValidationResult, validateSpec } from '../api/validate';
import { checkNameCollisions, checkSloThresholds } from './checks';
import { planComponents, planGpuMetrics, planOperatorObjects, stackEndpoints, stackNames } from './components';
import { PORTS } from './endpoints';
import { planModel, planTarget } from './model';
import { planNetworkPolicies } from './network';
import { StackInput, StackPlan } from './types';

export * from './types';
export { PORTS, serviceHost, serviceUrl } from './endpoints';
export { TRACES_HEADERS_ENV, literalArg, literalEnv, otlpMetricsEnv, enginePorts, servicePorts, planModel, planTarget, ModelContext } from './model';
export { OPERATOR_PROMETHEUS_VERSION, operatorPrometheusSelector, DEFAULT_GRAFANA_ADMIN_KEYS, DEFAULT_ALERTMANAGER_CONFIG_KEY } from './components';

/** Alertmanager's web (API) port. */
export const ALERTMANAGER_PORT = PORTS.alertmanager;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates, defaults and plans a stack. Never throws for bad input. */
export function planStack(input: StackInput): ValidationResult<StackPlan> {
  const errors: FieldError[] = [];
  if (!DNS_SUBDOMAIN.test(input.name) || input.name.length > 253) {
    errors.push({ path: 'metadata.name', message: `Invalid value: ${JSON.stringify(input.name)}: must be a lowercase RFC 1123 subdomain` });
  }
  if (!DNS_LABEL.test(input.namespace) || input.namespace.length > 63) {
    errors.push({ path: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(input.namespace)}: must be a lowercase RFC 1123 label` });
  }
  const validated = validateSpec(input.spec);
  if (!validated.ok) return { ok: false, errors: [...errors, ...validated.errors] };
  if (errors.length) return { ok: false, errors };
  const spec = validated.value;
  const { name: instance, namespace } = input;
  // Object names start with a letter so Services (DNS-1035) stay valid.
  const base = /^[a-z]/.test(instance) ? instance.replace(/\./g, '-') : `im-${instance.replace(/\./g, '-')}`;

  const names = stackNames(base, spec);
  const endpoints = stackEndpoints(namespace, spec, names);
  const modelCtx = { instance, base, spec, endpoints };
  const models = (spec.models ?? []).map((m, i) => planModel(modelCtx, m, i));
  const targets = (spec.targets ?? []).map((t, i) => planTarget({ base, namespace }, t, i));
  errors.push(...models.flatMap((m) => m.errors), ...targets.flatMap((t) => t.errors));
  const workloads = [...models, ...targets].map((w) => w.value);
  errors.push(...checkSloThresholds(spec, workloads));
  errors.push(...checkNameCollisions(instance, names, [
    ...models.map(({ value: m }) => ({ at: `spec.models[${m.index}].name`, name: m.spec.name, objectName: m.objectName, groups: m.group !== undefined })),
    ...targets.map(({ value: t }, i) => ({ at: `spec.targets[${i}].name`, name: t.spec.name, objectName: t.objectName })),
  ]));
  if (errors.length) return { ok: false, errors };

  const planned = {
    name: instance, namespace, spec,
    models: models.map((m) => m.value),
    targets: targets.map((t) => t.value),
    names, endpoints,
    components: planComponents({ instance, namespace, spec, names, endpoints, targetNamespaces: targets.map((t) => t.value.namespace) }),
    operator: planOperatorObjects(instance, spec, names),
    gpuMetrics: planGpuMetrics(instance, namespace, spec),
  };
  return { ok: true, value: { ...planned, networkPolicies: planNetworkPolicies(planned) } };
}
