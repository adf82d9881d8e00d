/**
 * Object names and labels users see. Names are derived from the resource and
 * model names, stay DNS-1123 and at most 63 characters (a hash of the full
 * name is appended when shortened), and never depend on unrelated fields.
 */
import { createHash } from 'crypto';

export const MAX_NAME = 63;
export const PART_OF = 'inference-monitoring';
export const LABEL_MODEL = 'monitoring.inference.dev/model';
export const LABEL_ENGINE = 'monitoring.inference.dev/engine';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';

/** Joins parts with '-' and shortens to `max` characters with a stable 8-hex hash suffix. */
export function objectName(parts: readonly string[], max = MAX_NAME): string {
  const full = parts.filter((p) => p.length > 0).join('-').toLowerCase();
  if (full.length <= max) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  const head = full.slice(0, max - hash.length - 1).replace(/[-.]+$/, '');
  return `${head}-${hash}`;
}

/** Labels every object of one stack carries. */
export function stackLabels(instance: string, name: string, component: string): Record<string, string> {
  return {
    [LABEL_NAME]: name,
    [LABEL_INSTANCE]: labelValue(instance),
    [LABEL_COMPONENT]: component,
    [LABEL_PART_OF]: PART_OF,
    [LABEL_MANAGED_BY]: PART_OF,
  };
}

/** Label values are limited to 63 characters. */
export function labelValue(value: string): string {
  return objectName([value]);
}

/** Pod selector of one stack component (Prometheus, Tempo, Grafana, DCGM exporter). */
export function componentSelector(instance: string, component: string): Record<string, string> {
  return { [LABEL_INSTANCE]: labelValue(instance), [LABEL_COMPONENT]: component };
}
