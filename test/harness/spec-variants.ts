import type { InferenceMonitoringSpecInput } from '../../src/api/spec-input';

/** Specs covering both modes, every engine, targets, remote write and disabled components. */
export const SPEC_VARIANTS: Record<string, InferenceMonitoringSpecInput> = {
  'every engine': {
    models: [
      { name: 'v', model: 'x/y', engine: 'vllm', gpu: { count: 2 }, parallelism: { data: 2 } },
      { name: 'l', model: 'x/y', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } },
      { name: 's', model: 'x/y', engine: 'sglang' },
      { name: 't', model: 'x/y', engine: 'tgi' },
      { name: 'h', model: 'x/y', engine: 'transformers', gpu: { count: 0 } },
    ],
  },
  'targets, remote write, persistent storage': {
    targets: [{ name: 'old', engine: 'lmdeploy', selector: { app: 'old' }, port: 23333, ranks: 4, namespace: 'serving' }],
    monitoring: { retention: '30d', storage: { size: '100Gi' }, remoteWrite: [
      { url: 'https://mimir.example.com/api/v1/push', name: 'mimir', basicAuth: { usernameSecretRef: { name: 'mimir-auth' }, passwordSecretRef: { name: 'mimir-auth' } }, tls: { caSecretRef: { name: 'mimir-ca' } } },
      { url: 'https://thanos.example.com/api/v1/receive', bearerTokenSecretRef: { name: 'thanos-token' } },
    ] },
    gpuMetrics: { deployExporter: false, exporterNamespace: 'gpu-operator' },
  },
  'multi-node models': {
    models: [
      { name: 'v', model: 'x/y', engine: 'vllm', engineVersion: '0.34.0', gpu: { count: 2 }, parallelism: { data: 4, nodes: 2 }, modelCache: { type: 'persistentVolumeClaim', size: '100Gi' } },
      { name: 'n', model: 'x/y', engine: 'vllm', engineVersion: '0.34.0', gpu: { count: 4 }, parallelism: { tensor: 4, pipeline: 2, nodes: 2 } },
      { name: 's', model: 'x/y', engine: 'sglang', gpu: { count: 2 }, parallelism: { tensor: 4, nodes: 2 } },
      { name: 'l', model: 'x/y', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { data: 4, expert: true, nodes: 2 }, autoscaling: { minReplicas: 1, maxReplicas: 3, target: 4 } },
    ],
    networkPolicy: { defaultDeny: true },
  },
  'no alerts, no gpu metrics, no tempo': {
    models: [{ name: 'v', model: 'x/y', engine: 'vllm' }], alerts: { enabled: false }, gpuMetrics: { enabled: false }, tempo: { enabled: false }, tracing: { enabled: false },
  },
};

/** A resource name for the `i`-th variant, from its key: unique among them, a valid DNS label of at most 40 characters. */
export const variantResourceName = (key: string, i: number): string =>
  `v${i}-${key}`.slice(0, 40).toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+$/, '');
