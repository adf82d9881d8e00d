/**
 * Runtime validation and defaulting of a spec, from the same schema that
 * becomes the CRD: ajv checks types, ranges and patterns and fills in
 * defaults (as the apiserver's structural defaulting does), list-map keys are
 * checked for duplicates, and every `x-kubernetes-validations` CEL rule is
 * evaluated with cel-js exactly as written in the CRD.
 */
import type Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { createHash } from 'crypto';
import { Environment, ParseResult } from '@marcbachmann/cel-js';
import { CelRule, KUBE_KEYWORDS } from './schema-builders';
import { InferenceMonitoringSpec, SpecSchema } from './schema';
import { CelUrl, celUrl, isUrl } from './url';

/** One problem with the input: where (`spec.models[0].gpu.count`) and why. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export class SpecValidationError extends Error {
  constructor(public readonly errors: readonly FieldError[], subject = 'InferenceMonitoring') {
    super(`invalid ${subject}:\n${errors.map((e) => `  - ${e.path}: ${e.message}`).join('\n')}`);
    this.name = 'SpecValidationError';
  }
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

type JsonSchema = Record<string, any>;

/**
 * The spec schema as plain JSON (TypeBox's symbols dropped), with object
 * defaults spelled out in full (`default: {}` becomes the object its fields'
 * defaults make): the apiserver checks a default against the schema and its
 * CEL rules without defaulting inside it.
 */
export function specJsonSchema(): JsonSchema {
  return materializeDefaults(JSON.parse(JSON.stringify(SpecSchema)));
}

/** The schema the validator walks (read-only); built once per process. */
let sharedSchema: JsonSchema | undefined;
function validationSchema(): JsonSchema {
  return (sharedSchema ??= specJsonSchema());
}

function materializeDefaults(schema: JsonSchema): JsonSchema {
  for (const sub of Object.values<JsonSchema>(schema.properties ?? {})) materializeDefaults(sub);
  if (schema.items && typeof schema.items === 'object') materializeDefaults(schema.items);
  if (schema.type === 'object' && schema.default && typeof schema.default === 'object') {
    schema.default = fillDefaults(schema, schema.default);
  }
  return schema;
}

function fillDefaults(schema: JsonSchema, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const [k, sub] of Object.entries<JsonSchema>(schema.properties ?? {})) {
    if (out[k] === undefined && sub.default !== undefined) out[k] = JSON.parse(JSON.stringify(sub.default));
    if (sub.type === 'object' && out[k] && typeof out[k] === 'object') out[k] = fillDefaults(sub, out[k] as Record<string, unknown>);
  }
  return out;
}

/**
 * Builds the ajv instance the runtime validator uses. The schema is ours and a
 * test checks it against the JSON Schema meta-schema, so at runtime
 * (`checkSchema` false) that check and ajv's code optimizer are skipped: they
 * were half of the 90 ms compile every process pays once.
 */
export function specAjv(checkSchema = false, source = false): Ajv {
  // Loaded here, not at the top: with the prebuilt validator a process never needs ajv's compiler.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const AjvClass: typeof Ajv = require('ajv').default;
  const ajv = new AjvClass({
    allErrors: true, verbose: true, useDefaults: true, strict: true, strictTypes: false, coerceTypes: false,
    validateSchema: checkSchema, code: { optimize: checkSchema, source },
  });
  for (const keyword of KUBE_KEYWORDS) ajv.addKeyword(keyword);
  return ajv;
}

/** SHA-256 of the schema the validator checks: a prebuilt validator is used only for the schema it was built from. */
export function schemaDigest(schema: JsonSchema = validationSchema()): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}

/**
 * The spec validator as the source of a CommonJS module (ajv's standalone
 * code, with the ajv options validateSpec uses and the code optimizer on):
 * `npm run build` writes it to lib/src/api/spec-validator.js, with the digest
 * of the schema it checks, so that a process does not compile the schema
 * (about 90 ms, the largest one-time cost of `render`).
 */
export function standaloneValidatorSource(): string {
  const schema = validationSchema();
  const ajv = specAjv(true, true);
  // Only the build needs the code generator.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const standaloneCode: typeof import('ajv/dist/standalone').default = require('ajv/dist/standalone').default;
  const code = standaloneCode(ajv, ajv.compile(schema));
  return `${code}\nmodule.exports.digest = ${JSON.stringify(schemaDigest(schema))};\n`;
}


let compiled: ValidateFunction | undefined;
/** The validator: the one `npm run build` wrote next to this module in lib/ (scripts/build-validator.ts) if it checks this schema, else compiled now. */
function validator(): ValidateFunction {
  if (compiled) return compiled;
  let prebuilt: { default?: ValidateFunction; digest?: string } | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    prebuilt = require('./spec-validator.js');
  } catch {
    // Not built (ts-node, jest): compile.
  }
  if (prebuilt?.default && prebuilt.digest === schemaDigest()) return (compiled = prebuilt.default);
  return (compiled = specAjv().compile(validationSchema()));
}

/** `/models/0/gpu` -> `spec.models[0].gpu` */
export function toFieldPath(root: string, pointer: string): string {
  let path = root;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(part) ? `[${part}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
  }
  return path;
}

function describeAjvError(root: string, e: ErrorObject): FieldError {
  const p = e.params as Record<string, any>;
  const at = toFieldPath(root, e.instancePath);
  const value = JSON.stringify(e.data);
  switch (e.keyword) {
    case 'required':
      return { path: `${at}.${p.missingProperty}`, message: 'Required value' };
    case 'additionalProperties':
      return { path: `${at}.${p.additionalProperty}`, message: 'unknown field' };
    case 'enum':
      return { path: at, message: `Unsupported value: ${value}: supported values: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'type':
      return { path: at, message: `Invalid value: ${value}: must be of type ${p.type}` };
    case 'pattern':
      return { path: at, message: `Invalid value: ${value}: should match '${p.pattern}'` };
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return { path: at, message: `Invalid value: ${value}: ${e.message}` };
    default:
      return { path: at, message: `Invalid value: ${value}: ${e.message}` };
  }
}

/** Checks `x-kubernetes-list-type: map` keys for duplicates, as the apiserver does. */
function listMapErrors(schema: JsonSchema, data: unknown, path: string, out: FieldError[]): void {
  walk(schema, data, path, (node, value, at) => {
    if (node['x-kubernetes-list-type'] !== 'map' || !Array.isArray(value)) return;
    const keys: string[] = node['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const key = JSON.stringify(keys.map((k) => (item as any)?.[k]));
      if (seen.has(key)) {
        out.push({ path: `${at}[${i}]`, message: `Duplicate value: ${keys.map((k) => `${k}=${JSON.stringify((item as any)?.[k])}`).join(', ')}` });
      }
      seen.add(key);
    });
  });
}

/**
 * CEL as the apiserver evaluates CRD rules, with the Kubernetes library functions the rules use: `isURL` and
 * `url(...).getScheme/getHost/getHostname/getPort/getEscapedPath` (see `url.ts`: Go's parse, and in the
 * library also the renderer's WHATWG parse).
 */
let celEnvironment: Environment | undefined;
function celEnv(): Environment {
  return (celEnvironment ??= new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
    .registerType('URL', { ctor: CelUrl, fields: {} })
    .registerFunction('isURL(string): bool', (s: string) => isUrl(s))
    .registerFunction('url(string): URL', (s: string) => celUrl(s))
    .registerFunction('URL.getScheme(): string', (u: CelUrl) => u.scheme)
    .registerFunction('URL.getHost(): string', (u: CelUrl) => u.host)
    .registerFunction('URL.getHostname(): string', (u: CelUrl) => u.hostname)
    .registerFunction('URL.getPort(): string', (u: CelUrl) => u.port)
    .registerFunction('URL.getEscapedPath(): string', (u: CelUrl) => u.escapedPath));
}

/** Each CEL rule is parsed once per process; `evaluate` would parse it on every call. */
const celPrograms = new Map<string, ParseResult>();
function evaluate(expression: string, context: Record<string, unknown>): unknown {
  let program = celPrograms.get(expression);
  if (!program) celPrograms.set(expression, (program = celEnv().parse(expression)));
  return program(context);
}

function celErrors(schema: JsonSchema, data: unknown, path: string, out: FieldError[]): void {
  walk(schema, data, path, (node, value, at) => {
    const rules: CelRule[] = [...node['x-kubernetes-validations'] ?? [], ...node['x-library-validations'] ?? []];
    for (const r of rules) {
      let ok: unknown;
      try {
        ok = evaluate(r.rule, { self: value });
      } catch (err) {
        out.push({ path: at, message: `rule '${r.rule}' could not be evaluated: ${(err as Error).message}` });
        continue;
      }
      if (ok === true) continue;
      let message = r.message ?? `failed rule: ${r.rule}`;
      if (r.messageExpression) {
        try { message = String(evaluate(r.messageExpression, { self: value })); } catch { /* keep message */ }
      }
      const fieldPath = r.fieldPath ? `${at}${r.fieldPath}` : at;
      const prefix = r.reason === 'FieldValueRequired' ? 'Required value' : r.reason === 'FieldValueDuplicate' ? 'Duplicate value' : r.reason === 'FieldValueForbidden' ? 'Forbidden' : 'Invalid value';
      out.push({ path: fieldPath, message: `${prefix}: ${message}` });
    }
  });
}

/** Visits every schema node that has a value, depth first, children before parents. */
function walk(schema: JsonSchema, value: unknown, at: string, visit: (node: JsonSchema, value: unknown, at: string) => void): void {
  if (value === undefined || value === null) return;
  if (schema.type === 'object' && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const [k, sub] of Object.entries<JsonSchema>(schema.properties ?? {})) {
      if (k in obj) walk(sub, obj[k], `${at}.${k}`, visit);
    }
    if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
      for (const [k, v] of Object.entries(obj)) walk(schema.additionalProperties, v, `${at}[${JSON.stringify(k)}]`, visit);
    }
  }
  if (schema.type === 'array' && Array.isArray(value) && schema.items) {
    value.forEach((v, i) => walk(schema.items, v, `${at}[${i}]`, visit));
  }
  visit(schema, value, at);
}

/**
 * Validates and defaults a spec. Never throws for bad input: the result lists
 * every problem with its field path. The input is not modified.
 */
export function validateSpec(input: unknown, root = 'spec'): ValidationResult<InferenceMonitoringSpec> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: [{ path: root, message: `Invalid value: ${JSON.stringify(input)}: must be an object` }] };
  }
  // JSON round trip, not structuredClone: the copy must belong to this realm (cel-js checks constructors).
  let data: any;
  try {
    data = JSON.parse(JSON.stringify(input));
  } catch (e) {
    // A cycle or a BigInt: not something YAML or JSON can carry, so not a spec.
    return { ok: false, errors: [{ path: root, message: `Invalid value: not JSON data: ${(e as Error).message.split('\n')[0]}` }] };
  }
  const validate = validator();
  if (!validate(data)) {
    const errors = (validate.errors ?? []).map((e) => describeAjvError(root, e));
    return { ok: false, errors: dedupe(errors) };
  }
  const errors: FieldError[] = [];
  const schema = validationSchema();
  listMapErrors(schema, data, root, errors);
  // CEL rules assume list-map keys are unique, as the apiserver checks that first.
  if (errors.length === 0) celErrors(schema, data, root, errors);
  return errors.length ? { ok: false, errors: dedupe(errors) } : { ok: true, value: data as InferenceMonitoringSpec };
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.path}\u0000${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
