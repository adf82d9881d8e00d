/**
 * Schema validation of synthesized objects with schema libraries, not
 * hand-written checks: kubernetes-models (the Kubernetes OpenAPI schemas, via
 * ajv) for built-in kinds, and the upstream CRDs' openAPIV3Schema (ajv) for
 * prometheus-operator, KEDA, Argo CD and our own InferenceMonitoring.
 */
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { inferenceMonitoringCrd } from '../../src/api/crd';

const SHARED = path.resolve(__dirname, '..', '..', '..', 'shared', 'crds');

type Validator = ((obj: unknown) => boolean) & { errors?: any[] | null };
let crdValidators: Map<string, Validator> | undefined;

function loadCrdValidators(): Map<string, Validator> {
  // Go's RE2 inline flag `(?i)` (used by prometheus-operator's CRDs) becomes JS's `i` flag.
  const regExp = Object.assign((pattern: string, flags?: string) => (pattern.includes('(?i)')
    ? new RegExp(pattern.replace(/\(\?i\)/g, ''), `${flags ?? ''}i`)
    : new RegExp(pattern, flags)), { code: 'new RegExp' });
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, code: { regExp: regExp as any } });
  addFormats(ajv);
  const map = new Map<string, Validator>();
  const crds: any[] = [inferenceMonitoringCrd()];
  for (const dir of fs.readdirSync(SHARED).sort()) {
    for (const f of fs.readdirSync(path.join(SHARED, dir)).sort()) {
      if (!f.endsWith('.yaml')) continue;
      for (const d of parseAllDocuments(fs.readFileSync(path.join(SHARED, dir, f), 'utf8'))) {
        const crd = d.toJSON();
        if (crd?.kind === 'CustomResourceDefinition') crds.push(crd);
      }
    }
  }
  for (const crd of crds) {
    for (const v of crd.spec.versions) {
      map.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, ajv.compile(openApiToDraft7(v.schema.openAPIV3Schema)) as Validator);
    }
  }
  return map;
}

/** OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` become draft-7 numbers for ajv. */
function openApiToDraft7(schema: any): any {
  if (Array.isArray(schema)) return schema.map(openApiToDraft7);
  if (!schema || typeof schema !== 'object') return schema;
  const out: any = {};
  for (const [k, v] of Object.entries<any>(schema)) out[k] = k === 'default' || k === 'enum' ? v : openApiToDraft7(v);
  if (out.exclusiveMinimum === true) { out.exclusiveMinimum = out.minimum; delete out.minimum; }
  if (out.exclusiveMaximum === true) { out.exclusiveMaximum = out.maximum; delete out.maximum; }
  if (out.exclusiveMinimum === false) delete out.exclusiveMinimum;
  if (out.exclusiveMaximum === false) delete out.exclusiveMaximum;
  return out;
}

function builtinModel(apiVersion: string, kind: string): any | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const dir = group === '' ? version : `${group}/${version}`;
  try {
    return require(`kubernetes-models/${dir}/${kind}`)[kind];
  } catch {
    return undefined;
  }
}

/** Returns schema errors of one object; [] when valid. Unknown kinds are an error. */
export function manifestSchemaErrors(obj: any): string[] {
  const id = `${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`;
  crdValidators ??= loadCrdValidators();
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const crd = crdValidators.get(`${group}/${version}/${obj.kind}`);
  if (crd) {
    return crd(obj) ? [] : (crd.errors ?? []).map((e) => `${id}: ${e.instancePath} ${e.message}`);
  }
  const Model = builtinModel(obj.apiVersion, obj.kind);
  if (!Model) return [`${id}: no schema known for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e: any) {
    return (e.errors ?? [e]).map((x: any) => `${id}: ${x.instancePath ?? ''} ${x.message}`);
  }
}

/** Whether a kind is built into Kubernetes (kubernetes-models carries Kubernetes' own OpenAPI models, no CRDs). */
export function isBuiltinKind(apiVersion: string, kind: string): boolean {
  return builtinModel(apiVersion, kind) !== undefined;
}
