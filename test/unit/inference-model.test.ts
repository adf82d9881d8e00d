import { Chart, Testing } from 'cdk8s';
import { InferenceModel } from '../../src/constructs/inference-model';
import { planStack, StackPlan } from '../../src/plan/plan';
import { renderManifests } from '../../src/render';
import { manifestSchemaErrors } from '../harness/manifest-schemas';
import type { InferenceMonitoringSpecInput, ModelInput } from '../../src/api/spec-input';
import type { EngineName } from '../../src/engines/profile';

const plan = (models: unknown[], extra: Record<string, unknown> = {}): StackPlan => {
  const r = planStack({ name: 'demo', namespace: 'llm', spec: { models, ...extra } });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};
const render = (models: ModelInput[], extra: Partial<InferenceMonitoringSpecInput> = {}) => renderManifests({ name: 'demo', namespace: 'llm', spec: { models, ...extra } });
const deploymentOf = (objs: any[], name: string) => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name);

describe('InferenceModel', () => {
  test('its default child is the Deployment', () => {
    const chart: Chart = Testing.chart();
    const model = new InferenceModel(chart, 'm', { plan: plan([{ name: 'a', model: 'x/y', engine: 'vllm' }]).models[0], namespace: 'llm' });
    expect((model.node.defaultChild as any).kind ?? (model.deployment as any).apiObject.kind).toBe('Deployment');
  });

  test.each<EngineName>(['vllm', 'lmdeploy', 'sglang', 'tgi'])('%s: GPU count is in limits and requests, with the GPU toleration', (engine) => {
    const objs = render([{ name: 'm', model: 'x/y', engine, gpu: { count: 2 }, parallelism: { tensor: 2 } }]);
    const pod = deploymentOf(objs, 'demo-m').spec.template.spec;
    const engineContainer = pod.containers.find((c: any) => c.name === 'engine');
    expect(engineContainer.resources.limits['nvidia.com/gpu']).toBe('2');
    expect(engineContainer.resources.requests['nvidia.com/gpu']).toBe('2');
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists' }]);
  });

  test('a custom GPU resource, product and tolerations are honoured', () => {
    const objs = render([{ name: 'm', model: 'x/y', engine: 'vllm', gpu: { count: 1, resourceName: 'amd.com/gpu', product: 'NVIDIA-H100-80GB-HBM3', tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'llm', effect: 'NoSchedule' }] } }]);
    const pod = deploymentOf(objs, 'demo-m').spec.template.spec;
    expect(pod.containers[0].resources.limits['amd.com/gpu']).toBe('1');
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'llm', effect: 'NoSchedule' }]);
  });

  test('transformers on CPU gets no GPU limit and no GPU toleration', () => {
    const pod = deploymentOf(render([{ name: 'm', model: 'x/y', engine: 'transformers', gpu: { count: 0 } }]), 'demo-m').spec.template.spec;
    expect(Object.keys(pod.containers[0].resources.limits)).toEqual(['memory']);
    expect(pod.tolerations).toBeUndefined();
  });

  test('/dev/shm is a memory-backed emptyDir of the requested size', () => {
    const pod = deploymentOf(render([{ name: 'm', model: 'x/y', engine: 'vllm', resources: { sharedMemory: '32Gi' } }]), 'demo-m').spec.template.spec;
    const shm = pod.volumes.find((v: any) => v.name === 'dshm');
    expect(shm.emptyDir).toEqual({ medium: 'Memory', sizeLimit: '32Gi' });
    expect(pod.containers[0].volumeMounts).toContainEqual({ mountPath: '/dev/shm', name: 'dshm' });
  });

  test('probes hit the engine health endpoint and the startup probe allows the model load time', () => {
    const c = deploymentOf(render([{ name: 'm', model: 'x/y', engine: 'vllm' }]), 'demo-m').spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/health', port: 8000, scheme: 'HTTP' });
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(1800);
  });

  test('LMDeploy with data parallelism: one port per rank on container and Service, plus the proxy', () => {
    const p = plan([{ name: 'q', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } }]);
    expect(p.models[0].metricsEndpoints).toEqual([
      { portName: 'rank-0', port: 23333, path: '/metrics', rank: 0 },
      { portName: 'rank-1', port: 23334, path: '/metrics', rank: 1 },
    ]);
    const objs = render([{ name: 'q', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } }]);
    const pod = deploymentOf(objs, 'demo-q').spec.template.spec;
    expect(pod.containers.map((c: any) => c.name)).toEqual(['engine', 'proxy']);
    expect(pod.containers[0].ports.map((p: any) => [p.name, p.containerPort])).toEqual([['rank-0', 23333], ['rank-1', 23334]]);
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(['--dp', '2', '--tp', '2', '--server-port', '23333', '--proxy-url', 'http://127.0.0.1:8000']));
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'demo-q');
    expect(svc!.spec.ports.map((p: any) => p.name)).toEqual(['proxy', 'rank-0', 'rank-1']);
  });

  test('LMDeploy 0.10 gets --enable-metrics, 0.11 does not (metrics are on by default there)', () => {
    const args = (engineVersion: string) => plan([{ name: 'q', model: 'x/y', engine: 'lmdeploy', engineVersion }]).models[0].engineProcess.args;
    expect(args('0.10.2')).toContain('--enable-metrics');
    expect(args('0.11.0')).not.toContain('--enable-metrics');
  });

  test('vLLM data parallelism stays one server with one metrics endpoint', () => {
    const p = plan([{ name: 'v', model: 'x/y', engine: 'vllm', gpu: { count: 2 }, parallelism: { data: 2 } }]);
    expect(p.models[0].metricsEndpoints).toEqual([{ portName: 'http', port: 8000, path: '/metrics' }]);
    expect(p.models[0].engineProcess.args).toEqual(expect.arrayContaining(['--data-parallel-size', '2']));
  });

  test('vLLM metric names follow the engine version', () => {
    const sig = (engineVersion: string) => plan([{ name: 'v', model: 'x/y', engine: 'vllm', engineVersion }]).models[0].signals;
    expect(sig('0.9.1').get('kvCacheUsage')!.metric).toBe('vllm:gpu_cache_usage_perc');
    expect(sig('0.11.0').get('kvCacheUsage')!.metric).toBe('vllm:kv_cache_usage_perc');
    expect(sig('0.10.2').get('interTokenLatency')!.metric).toBe('vllm:time_per_output_token_seconds');
    expect(sig('0.11.0').get('interTokenLatency')!.metric).toBe('vllm:inter_token_latency_seconds');
  });

  test('traces: vLLM gets its OTLP flag and service name pointing at the stack Tempo', () => {
    const p = plan([{ name: 'v', model: 'x/y', engine: 'vllm' }]);
    expect(p.models[0].engineProcess.args).toEqual(expect.arrayContaining(['--otlp-traces-endpoint', 'http://demo-tempo.llm.svc:4317']));
    expect(p.models[0].engineProcess.env).toContainEqual({ name: 'OTEL_SERVICE_NAME', value: 'v' });
  });

  test('transformers pushes OTLP metrics to the managed Prometheus and has no scrape endpoint', () => {
    const objs = render([{ name: 't', model: 'x/y', engine: 'transformers' }]);
    const env = deploymentOf(objs, 'demo-t').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', value: 'http://demo-prometheus.llm.svc:9090/api/v1/otlp/v1/metrics' });
    expect(plan([{ name: 't', model: 'x/y', engine: 'transformers' }]).models[0].metricsEndpoints).toEqual([]);
  });

  test('transformers pushes at the stack\'s scrape interval, not the SDK\'s 60 s default that a 1-minute rate window cannot see twice', () => {
    const env = (extra: Record<string, unknown>) => deploymentOf(render([{ name: 't', model: 'x/y', engine: 'transformers' }], extra), 'demo-t').spec.template.spec.containers[0].env;
    expect(env({})).toContainEqual({ name: 'OTEL_METRIC_EXPORT_INTERVAL', value: '15000' });
    expect(env({ monitoring: { interval: '1m30s' } })).toContainEqual({ name: 'OTEL_METRIC_EXPORT_INTERVAL', value: '90000' });
  });

  test('tracing keeps 1 in 100 transformers traces by default (its internal spans flood at 1), the engine default 1 elsewhere, and what the spec says when set', () => {
    const ratio = (engine: EngineName, tracing: InferenceMonitoringSpecInput['tracing'] = {}) => {
      const env = deploymentOf(render([{ name: 'm', model: 'x/y', engine, ...(engine === 'transformers' ? { gpu: { count: 0 } } : {}) }], { tracing }), 'demo-m').spec.template.spec.containers[0].env;
      return env.find((e: any) => e.name === 'OTEL_TRACES_SAMPLER_ARG')?.value;
    };
    expect(ratio('transformers')).toBe('0.01');
    expect(ratio('vllm')).toBe('1');
    expect(ratio('transformers', { samplingRatio: 0.5 })).toBe('0.5');
  });

  test('SGLang probes: /ready where the release has it, and a liveness timeout that waits for /health\'s generation', () => {
    const probes = (engineVersion: string) => {
      const k = deploymentOf(render([{ name: 's', model: 'x/y', engine: 'sglang', engineVersion }]), 'demo-s').spec.template.spec.containers[0];
      return { startup: [k.startupProbe.httpGet.path, k.startupProbe.timeoutSeconds], readiness: [k.readinessProbe.httpGet.path, k.readinessProbe.timeoutSeconds], liveness: [k.livenessProbe.httpGet.path, k.livenessProbe.timeoutSeconds] };
    };
    expect(probes('0.5.23')).toEqual({ startup: ['/ready', undefined], readiness: ['/ready', undefined], liveness: ['/health', 25] });
    expect(probes('0.5.6')).toEqual({ startup: ['/health', 25], readiness: ['/health', 25], liveness: ['/health', 25] });
  });

  test('transformers serve runs under opentelemetry-instrument, which installs the MeterProvider transformers never does', () => {
    const container = (extra: Record<string, unknown>) => deploymentOf(render([{ name: 't', model: 'x/y', engine: 'transformers' }], extra), 'demo-t').spec.template.spec.containers[0];
    const traced = container({});
    expect(traced.command).toEqual(['opentelemetry-instrument', 'transformers', 'serve']);
    expect(traced.image).toBe('inference-monitoring-transformers-serve:5.8.1');
    const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
    // One entry per variable: tracing's exporter replaces the engine's default `none`.
    expect(new Set(traced.env.map((e: any) => e.name)).size).toBe(traced.env.length);
    expect(envOf(traced)).toMatchObject({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf', OTEL_LOGS_EXPORTER: 'none' });
    // Without traces the distro's default trace exporter (to localhost:4317) is off.
    const untraced = container({ tracing: { enabled: false }, tempo: { enabled: false } });
    expect(envOf(untraced)).toMatchObject({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_TRACES_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' });
    expect(envOf(untraced).OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).toBeUndefined();
  });

  test('`$(VAR)` in args and model stays literal: Kubernetes would expand it, putting a Secret\'s value into the process arguments', () => {
    const objs = render([{ name: 'm', model: 'org/$(HF_TOKEN)', engine: 'vllm', hfTokenSecretRef: { name: 'hf', key: 't' }, args: ['--api-key', '$(HF_TOKEN)', 'cost$5', '$$(X)'] }]);
    const args: string[] = deploymentOf(objs, 'demo-m').spec.template.spec.containers[0].args;
    // Kubernetes reads `$$` as `$`: these reach the engine exactly as written in the spec.
    expect(args).toEqual(expect.arrayContaining(['org/$$(HF_TOKEN)', '$$(HF_TOKEN)', 'cost$$5', '$$$$(X)']));
    expect(args.filter((a) => /(^|[^$])(\$\$)*\$\(/.test(a))).toEqual([]);
  });

  test('a user env entry that names a variable we generate is an error with its field path, not a silent replacement', () => {
    const errors = (models: unknown[], extra: Record<string, unknown> = {}) => {
      const r = planStack({ name: 'demo', namespace: 'llm', spec: { models, ...extra } });
      return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
    };
    // vLLM's tracing variables (Tempo is on by default)...
    expect(errors([{ name: 'm', model: 'x/y', engine: 'vllm', env: [{ name: 'A', value: '1' }, { name: 'OTEL_SERVICE_NAME', value: 'spoofed' }] }]))
      .toEqual(['spec.models[0].env[1].name: Forbidden: OTEL_SERVICE_NAME is set by the vLLM engine profile (tracing: spec.tracing); change it through the spec']);
    // ...transformers' OTLP metrics endpoint...
    expect(errors([{ name: 't', model: 'x/y', engine: 'transformers', gpu: { count: 0 }, env: [{ name: 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', value: 'http://evil:4318' }] }]))
      .toEqual([expect.stringMatching(/^spec\.models\[0\]\.env\[0\]\.name: Forbidden: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set by the OTLP metrics push/)]);
    // ...and the always-generated ones, refused by the schema (CEL) with the same words at admission.
    expect(errors([{ name: 'm', model: 'x/y', engine: 'vllm', env: [{ name: 'POD_NAME', value: 'spoofed' }] }]))
      .toEqual([expect.stringMatching(/^spec\.models\[0\]\.env: Forbidden: env must not set HF_HOME, POD_NAME, POD_NAMESPACE/)]);
    expect(errors([{ name: 'm', model: 'x/y', engine: 'vllm', hfTokenSecretRef: { name: 'hf', key: 't' }, env: [{ name: 'HF_TOKEN', value: 'hf_plain' }] }]))
      .toEqual([expect.stringMatching(/^spec\.models\[0\]\.env: Forbidden: env must not set HF_TOKEN when hfTokenSecretRef is set/)]);
    // Without hfTokenSecretRef, HF_TOKEN from a Secret of one's own is fine; so is any other name, and tracing off frees its names.
    expect(errors([{ name: 'm', model: 'x/y', engine: 'vllm', env: [{ name: 'HF_TOKEN', secretKeyRef: { name: 'hf', key: 't' } }, { name: 'OTEL_SERVICE_NAME', value: 'mine' }] }], { tempo: { enabled: false }, tracing: { enabled: false } })).toEqual([]);
  });

  test('StatefulSets of a long resource name leave room for the controller-revision-hash label (kube-controller-manager refused 42+ characters)', () => {
    const name = 'a'.repeat(63);
    const specs: InferenceMonitoringSpecInput[] = [{ models: [{ name: 'm', model: 'x/y', engine: 'vllm' }] }, { models: [{ name: 'm', model: 'x/y', engine: 'vllm' }], monitoring: { mode: 'operator', createPrometheus: true } }];
    for (const spec of specs) {
      const objs = renderManifests({ name, namespace: 'llm', spec });
      // `<statefulset>-<10 hex>` must be a label value (63): ours directly, the operator's as `prometheus-<name>`.
      for (const o of objs.filter((x) => x.kind === 'StatefulSet')) expect(`${o.metadata.name}-0123456789`.length).toBeLessThanOrEqual(63);
      for (const o of objs.filter((x) => x.kind === 'Prometheus')) expect(`prometheus-${o.metadata.name}-0123456789`.length).toBeLessThanOrEqual(63);
      expect(objs.filter((x) => x.kind === 'StatefulSet' || x.kind === 'Prometheus').length).toBeGreaterThan(0);
    }
  });

  test('long model and resource names are shortened to 63 characters with a stable hash', () => {
    const long = 'a'.repeat(40);
    const objs = renderManifests({ name: 'inference-monitoring-for-the-research-cluster', namespace: 'llm', spec: { models: [{ name: long, model: 'meta-llama/Llama-3.1-405B-Instruct-FP8', engine: 'vllm', gpu: { count: 8 }, parallelism: { tensor: 8 } }] } });
    for (const o of objs) expect(o.metadata.name.length).toBeLessThanOrEqual(63);
    const dep = objs.find((o) => o.kind === 'Deployment');
    expect(dep!.metadata.name).toMatch(/^inference-monitoring-for-the-research-cluster-aaaa.*-[0-9a-f]{8}$/);
    expect(renderManifests({ name: 'inference-monitoring-for-the-research-cluster', namespace: 'llm', spec: { models: [{ name: long, model: 'other', engine: 'vllm', gpu: { count: 8 }, parallelism: { tensor: 8 } }] } }).find((o) => o.kind === 'Deployment')!.metadata.name).toBe(dep!.metadata.name);
  });
});

describe('every synthesized object passes its schema', () => {
  const variants: Array<[string, ModelInput[], Partial<InferenceMonitoringSpecInput>]> = [
    ['all engines, managed', [
      { name: 'v', model: 'x/y', engine: 'vllm', gpu: { count: 2 }, parallelism: { data: 2 } },
      { name: 'l', model: 'x/y', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 }, modelCache: { type: 'persistentVolumeClaim', size: '200Gi', storageClassName: 'fast' } },
      { name: 's', model: 'x/y', engine: 'sglang', hfTokenSecretRef: { name: 'hf', key: 'token' }, env: [{ name: 'A', value: '1' }, { name: 'B', secretKeyRef: { name: 's', key: 'k' } }] },
      { name: 't', model: 'x/y', engine: 'tgi', modelCache: { size: '50Gi' } },
      { name: 'h', model: 'x/y', engine: 'transformers', gpu: { count: 0 } },
      { name: 'a', model: 'x/y', engine: 'vllm', autoscaling: { metric: 'kvCacheUsage', target: 0.8, maxReplicas: 8 } },
    ], { slo: { ttft: { thresholdSeconds: 1 } } }],
    ['operator mode with targets', [{ name: 'v', model: 'x/y', engine: 'vllm' }, { name: 'l', model: 'x/y', engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { data: 2, tensor: 2 } }],
      { monitoring: { mode: 'operator' }, targets: [{ name: 'old', engine: 'lmdeploy', selector: { app: 'old' }, port: 23333, ranks: 2, namespace: 'other' }] }],
  ];
  test.each(variants)('%s', (_name, models, extra) => {
    const objs = render(models, extra);
    expect(objs.length).toBeGreaterThan(0);
    expect(objs.flatMap(manifestSchemaErrors)).toEqual([]);
  });
});

describe('the schema check itself can fail', () => {
  test('a Deployment with a numeric image and a PodMonitor with a bad interval are reported', () => {
    const objs = render([{ name: 'v', model: 'x/y', engine: 'vllm' }], { monitoring: { mode: 'operator' } });
    const dep = structuredClone(objs.find((o) => o.kind === 'Deployment'));
    dep!.spec.template.spec.containers[0].image = 3;
    expect(manifestSchemaErrors(dep).join('\n')).toContain('/spec/template/spec/containers/0/image');
    const pm = structuredClone(objs.find((o) => o.kind === 'PodMonitor'));
    pm!.spec.podMetricsEndpoints[0].interval = 'often';
    expect(manifestSchemaErrors(pm).join('\n')).toContain('/spec/podMetricsEndpoints/0/interval');
    expect(manifestSchemaErrors({ apiVersion: 'example.com/v1', kind: 'Nope', metadata: { name: 'x' } })).toEqual(['Nope /x: no schema known for example.com/v1 Nope']);
  });
});
