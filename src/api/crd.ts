/**
 * The `InferenceMonitoring` CustomResourceDefinition, generated from the spec schema.
 */
import { API_GROUP, API_VERSION, KIND, PLURAL, SHORT_NAME } from './schema';
import { specJsonSchema } from './validate';

type JsonSchema = Record<string, any>;

export const CRD_NAME = `${PLURAL}.${API_GROUP}`;

/**
 * Rewrites a JSON Schema (draft 7, as TypeBox and ajv use it) into a Kubernetes
 * structural schema: boolean `exclusiveMinimum`, no `additionalProperties: false`
 * (the apiserver prunes unknown fields instead), no JSON-Schema-only keys.
 */
export function toStructural(schema: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$id' || key === '$schema' || key === 'x-library-validations') continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'exclusiveMinimum' && typeof value === 'number') {
      out.minimum = value;
      out.exclusiveMinimum = true;
      continue;
    }
    if (key === 'exclusiveMaximum' && typeof value === 'number') {
      out.maximum = value;
      out.exclusiveMaximum = true;
      continue;
    }
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries<JsonSchema>(value).map(([k, v]) => [k, toStructural(v)]));
      continue;
    }
    if (key === 'required') {
      // A defaulted field is never missing after defaulting; keeping it required would make
      // the apiserver reject `default: {}` of the parent object.
      const required = (value as string[]).filter((k) => schema.properties?.[k]?.default === undefined);
      if (required.length) out.required = required;
      continue;
    }
    if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object') {
      out[key] = toStructural(value);
      continue;
    }
    out[key] = value;
  }
  return out;
}

const condition = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string', description: 'Ready, Progressing or Degraded; SeriesConflict while another stack sends series with the same namespace and model to the same shared Prometheus.', maxLength: 316 },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'The .metadata.generation the condition was set for.' },
    lastTransitionTime: { type: 'string', format: 'date-time', description: 'When status last changed.' },
    reason: { type: 'string', maxLength: 1024, description: 'CamelCase reason.' },
    message: { type: 'string', maxLength: 32768, description: 'What happened, for humans.' },
  },
};

export const STATUS_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'Observed state, written by the controller.',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', description: 'The .metadata.generation last reconciled.' },
    conditions: {
      type: 'array', description: 'Ready, Progressing and Degraded, and SeriesConflict while it applies.', items: condition,
      'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'],
    },
    modelsReady: { type: 'string', description: 'Ready models out of all models, e.g. `1/2`.' },
    models: {
      type: 'array', description: 'Readiness of each model\'s Deployment, or of its LeaderWorkerSet groups when its replicas span several pods.',
      'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'],
      items: {
        type: 'object', required: ['name'],
        properties: {
          name: { type: 'string' },
          replicas: { type: 'integer', description: 'Replicas the Deployment (or LeaderWorkerSet: groups) wants: its spec, or what the autoscaler set.' },
          readyReplicas: { type: 'integer', description: 'Replicas ready (LeaderWorkerSet: groups whose every pod is ready).' },
          podsPerReplica: { type: 'integer', description: 'Pods of each replica, for a model whose replicas span several pods (`parallelism.nodes`).' },
          ready: { type: 'boolean' },
        },
      },
    },
    urls: {
      type: 'object', description: 'In-cluster URLs of the stack.',
      properties: { grafana: { type: 'string' }, prometheus: { type: 'string' }, tempo: { type: 'string' } },
    },
  },
};

/** The CRD as a plain object, ready to serialize. */
export function inferenceMonitoringCrd(): JsonSchema {
  const spec = toStructural(specJsonSchema());
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/part-of': 'inference-monitoring' },
    },
    spec: {
      group: API_GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: KIND.toLowerCase(), shortNames: [SHORT_NAME], categories: ['inference'] },
      scope: 'Namespaced',
      versions: [{
        name: API_VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether every model and the stack are ready.' },
          { name: 'Models', type: 'string', jsonPath: '.status.modelsReady', description: 'Ready models / models.' },
          { name: 'Mode', type: 'string', jsonPath: '.spec.monitoring.mode', priority: 1, description: 'Monitoring mode.' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'InferenceMonitoring deploys GPU inference engines (vLLM, LMDeploy, SGLang, TGI, transformers) and the Prometheus, Tempo, Grafana and DCGM stack that monitors them.',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string', description: 'APIVersion of this representation of the object.' },
              kind: { type: 'string', description: 'Kind of the object.' },
              metadata: { type: 'object' },
              spec: spec,
              status: STATUS_SCHEMA,
            },
          },
        },
      }],
    },
  };
}
