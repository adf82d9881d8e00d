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
  /**
   * CEL rules only the library evaluates (same semantics as `x-kubernetes-validations`), left out of the CRD:
   * the apiserver's cost estimate refuses them (a rule over the keys of a map, whose length a structural schema
   * cannot bound). The controller reports them as `Degraded` with the field path.
   */
  'x-library-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export const KUBE_KEYWORDS = [
  'x-kubernetes-validations',
  'x-library-validations',
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

/**
 * Prometheus duration, e.g. `15s`, `1h30m`, `15d`: prometheus-operator's pattern with the digits of each unit
 * bounded, so that the sum stays far below the 292 years a Go `time.Duration` (Prometheus' `model.Duration`)
 * holds: at most 99y + 999w + 9999d + 99999h + 999999m + 9999999s + 999999999ms, about 159 years.
 */
export const DURATION_PATTERN = '^(0|(([0-9]{1,2})y)?(([0-9]{1,3})w)?(([0-9]{1,4})d)?(([0-9]{1,5})h)?(([0-9]{1,6})m)?(([0-9]{1,7})s)?(([0-9]{1,9})ms)?)$';
/** A duration of nothing (`0`, `0s`, `0h0m`): no interval, and no retention. */
const ZERO_DURATION = '^(0|(0+(y|w|d|h|ms|m|s))+)$';
/** A TCP port, 1-65535, as a regular expression (no leading zeros). */
export const PORT_RE = '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
/**
 * A key of a Secret or ConfigMap (apimachinery IsConfigMapKey): `[-._a-zA-Z0-9]+`, not `.`, not starting with
 * `..` (the kubelet's atomic writer owns those names).
 */
export const SECRET_KEY_PATTERN = '^([-_a-zA-Z0-9][-._a-zA-Z0-9]*|\\.[-_a-zA-Z0-9][-._a-zA-Z0-9]*)$';
/**
 * A container image reference (distribution/reference's grammar): `[registry[:port]/]path[:tag][@digest]`,
 * lower-case path components, a tag of at most 128 word characters, dots and dashes. No spaces, no newline.
 */
export const IMAGE_PATTERN = '^(([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])(\\.([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9]))*(:[0-9]+)?/)?[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})?$';
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

/** A Prometheus duration longer than 0 (a zero interval or retention means nothing, and `durationMs` of it is 0). */
export function Duration(description: string, def?: string): TString {
  return Type.String({
    description, pattern: DURATION_PATTERN, minLength: 1, maxLength: 32, ...(def !== undefined ? { default: def } : {}),
    'x-kubernetes-validations': [{ rule: `!self.matches('${ZERO_DURATION}')`, message: 'must be longer than 0' }],
  } as KubeSchemaOptions);
}

export function Quantity(description: string, def?: string): TString {
  return Type.String({ description, pattern: QUANTITY_PATTERN, maxLength: 32, ...(def !== undefined ? { default: def } : {}) });
}

/** A map of strings (`additionalProperties` form, which structural schemas require). */
export function StringMap(values: TString, options: KubeSchemaOptions = {}): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: values, ...options });
}

/** A CEL string literal of a regular expression: backslashes doubled, no quotes. */
export function celRegex(re: string): string {
  if (/['\n]/.test(re)) throw new Error(`not a plain CEL regular expression: ${re}`);
  return `'${re.replace(/\\/g, '\\\\')}'`;
}

/**
 * Query parameters that carry credentials (`?password=`, `?api_key=`, `&X-Amz-Signature=`, `?access_token=`):
 * a name with one of these words, alone or between `-`, `_` or `.` (matched on the lower-cased URL).
 */
export const CREDENTIAL_QUERY_RE = '[?&;]([^=&;#]*[-_.])?(password|passwd|pwd|pass|secret|token|apikey|key|auth|authorization|credential|credentials|sig|signature|session|sessionid|jwt)([-_.][^=&;#]*)?=';
/** `scheme://user[:password]@host`: credentials in the userinfo. */
export const USERINFO_RE = '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@';

export interface UrlOptions {
  /** Where the URL is written, for the credentials message, e.g. `a ConfigMap (prometheus.yml)`. */
  readonly writtenInto: string;
  /** What to use instead of credentials in the URL, e.g. `use basicAuth or bearerTokenSecretRef`. */
  readonly instead: string;
  readonly maxLength?: number;
  readonly default?: string;
  /** A stricter pattern than `^https?://` followed by printable ASCII. */
  readonly pattern?: string;
  /** More rules on the same string. */
  readonly rules?: CelRule[];
}

/**
 * An http(s) URL, checked once for the CRD, the library and the CLI: printable ASCII only (no space, no
 * newline, no U+00A0 or U+2028: refused alike by the apiserver's Go and ajv's JavaScript patterns), parsed by
 * `isURL()` (Kubernetes' URL library; in the library also by the WHATWG parser the renderer uses), a port
 * of 1-65535, and no credentials: neither `user:password@` nor a credential in the query.
 */
export function Url(description: string, opts: UrlOptions): TString {
  // The port as written (`url(self).getPort()` is a string of unbounded estimated length: too costly for the apiserver).
  const anyPort = "'^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*:[0-9]*([/?#]|$)'";
  const goodPort = `'^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*:${PORT_RE}([/?#]|$)'`;
  return Type.String({
    description,
    maxLength: opts.maxLength ?? 2048,
    pattern: opts.pattern ?? '^https?://[!-~]+$',
    ...(opts.default !== undefined ? { default: opts.default } : {}),
    'x-kubernetes-validations': [
      { rule: 'isURL(self)', message: 'must be an absolute http(s) URL with a host' },
      { rule: `!self.matches(${anyPort}) || self.matches(${goodPort})`, message: 'the port must be between 1 and 65535' },
      { rule: `!self.matches(${celRegex(USERINFO_RE)})`, message: `credentials in the URL (user:password@) would be written into ${opts.writtenInto}: ${opts.instead}`, reason: 'FieldValueForbidden' },
      { rule: `!self.lowerAscii().matches(${celRegex(CREDENTIAL_QUERY_RE)})`, message: `credentials in the query would be written into ${opts.writtenInto}: ${opts.instead}`, reason: 'FieldValueForbidden' },
      ...(opts.rules ?? []),
    ],
  } as KubeSchemaOptions);
}

/** The rule of a label key (apimachinery IsQualifiedName): an optional DNS-subdomain prefix of at most 253 characters and `/`, then a name of at most 63. */
const LABEL_KEY_RULE = `k.matches(${celRegex(QUALIFIED_NAME_PATTERN)}) && (!k.contains('/') || k.matches('^[^/]{1,253}/'))`;

/**
 * Pod labels (matchLabels): keys are qualified names, values label values (at most 63 characters). The keys go
 * into Prometheus' discovery selectors and NetworkPolicies: a key those refuse never reaches them.
 */
export function LabelSelector(description: string, def?: Record<string, string>): TUnsafe<Record<string, string>> {
  return StringMap(Type.String({ maxLength: 63, pattern: LABEL_VALUE_PATTERN }), {
    description, minProperties: 1, maxProperties: 16, ...(def ? { default: def } : {}),
    // Library only: the apiserver estimates a rule over map keys as too costly (their length is unbounded).
    'x-library-validations': [{
      rule: `self.all(k, ${LABEL_KEY_RULE})`,
      messageExpression: `'label keys must be qualified names (an optional DNS-subdomain prefix of at most 253 characters and /, then at most 63 alphanumerics, -, _ or ., beginning and ending with an alphanumeric): ' + self.filter(k, !(${LABEL_KEY_RULE})).join(', ')`,
    }],
  });
}
