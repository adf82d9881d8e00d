/**
 * Small helpers over TypeBox that keep every schema node a valid Kubernetes
 * structural schema (no `const`, no `anyOf` for enums) while still giving
 * exact TypeScript types through `Static<>`.
 */
import { Type, TSchema, TObject, TProperties, TArray, TUnsafe, TString, SchemaOptions } from '@sinclair/typebox';

/** A CEL rule as Kubernetes' `x-kubernetes-validations` entry. Evaluated by the apiserver and by the library. */
export interface CelRule {
  /** The CEL expression; `self` is the value of the node the rule sits on. */
  readonly rule: string;
  /** Message shown when the rule is false. */
  readonly message?: string;
  /** CEL expression producing the message (takes precedence over `message` when set). */
  readonly messageExpression?: string;
  /** Relative JSON path (`.a.b`) of the field the error is reported on. */
  readonly fieldPath?: string;
  /** Kubernetes error reason. */
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Extra keywords the apiserver understands; ajv is told about them in `validate.ts`. */
export interface KubeSchemaOptions extends SchemaOptions {
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export const KUBE_KEYWORDS = [
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-map-type',
];

/** A string restricted to `values`, rendered as `{type: string, enum}` (structural, unlike TypeBox's union). */
export function StringEnum<T extends string>(values: readonly T[], options: KubeSchemaOptions = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

/** A closed object: unknown fields are an error in the library (the apiserver prunes and warns). */
export function Obj<P extends TProperties>(properties: P, options: KubeSchemaOptions = {}): TObject<P> {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

export function List<T extends TSchema>(items: T, options: KubeSchemaOptions = {}): TArray<T> {
  return Type.Array(items, options);
}

/** Prometheus duration, e.g. `15s`, `1h30m`, `15d`. Pattern taken from prometheus-operator's CRDs. */
export const DURATION_PATTERN = '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$';
/** Kubernetes resource.Quantity, as in apimachinery's quantity regexp, without a minus: every quantity here is a size. */
export const QUANTITY_PATTERN = '^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
/** RFC 1123 label (lower case, digits, '-'), starting with a letter so derived Service names stay valid. */
export const DNS_LABEL_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
/** RFC 1123 subdomain (names of Secrets, storage classes, claims). */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Qualified label or taint key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
export const QUALIFIED_NAME_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
/** Kubernetes label value. */
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** Qualified resource name such as `nvidia.com/gpu`. */
export const RESOURCE_NAME_PATTERN = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';

export function Duration(description: string, def?: string): TString {
  return Type.String({ description, pattern: DURATION_PATTERN, minLength: 1, maxLength: 32, ...(def !== undefined ? { default: def } : {}) });
}

export function Quantity(description: string, def?: string): TString {
  return Type.String({ description, pattern: QUANTITY_PATTERN, maxLength: 32, ...(def !== undefined ? { default: def } : {}) });
}

/** A map of strings (`additionalProperties` form, which structural schemas require). */
export function StringMap(values: TString, options: KubeSchemaOptions = {}): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: values, ...options });
}
