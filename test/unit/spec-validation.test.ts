import Module from 'module';
import * as path from 'path';
import { ValidateFunction } from 'ajv';
import { specAjv, specJsonSchema, schemaDigest, standaloneValidatorSource, validateSpec } from '../../src/api/validate';
import { SPEC_VARIANTS } from '../harness/spec-variants';
import { planStack } from '../../src/plan/plan';

const model = (extra: Record<string, unknown> = {}) => ({ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm', ...extra });
const errorsOf = (spec: unknown) => {
  const r = validateSpec(spec);
  if (r.ok) throw new Error('expected the spec to be rejected');
  return r.errors;
};

describe('spec validation', () => {
  test('the validator npm run build writes (ajv standalone) gives the verdicts, errors and defaults the compiled one gives', () => {
    // Loaded as lib/src/api/spec-validator.js is: a CommonJS module next to validate.ts.
    const file = path.join(__dirname, '..', '..', 'src', 'api', 'spec-validator.js');
    const m = new Module(file, module);
    m.filename = file;
    m.paths = (Module as any)._nodeModulePaths(path.dirname(file));
    (m as any)._compile(standaloneValidatorSource(), file);
    const prebuilt = m.exports as { default: ValidateFunction; digest: string };
    expect(prebuilt.digest).toBe(schemaDigest());
    const compiled = specAjv().compile(specJsonSchema());
    const wrong = [42, 'x', true, [], {}, null, -1, 1e9, { unknown: 1 }, ['a']];
    const cases: unknown[] = [];
    // Each variant, and each with every value at every path replaced by each wrong value.
    const replaced = (v: any, at: Array<string | number>, w: unknown): any => {
      if (at.length === 0) return w;
      const copy = Array.isArray(v) ? [...v] : { ...v };
      copy[at[0]] = replaced(v[at[0]], at.slice(1), w);
      return copy;
    };
    const paths = (v: unknown, at: Array<string | number> = []): Array<Array<string | number>> =>
      v && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [[...at, Array.isArray(v) ? Number(k) : k], ...paths(x, [...at, Array.isArray(v) ? Number(k) : k])]) : [];
    for (const v of Object.values(SPEC_VARIANTS)) {
      cases.push(v);
      for (const p of paths(v)) for (const w of wrong) cases.push(replaced(v, p, w));
    }
    let accepted = 0;
    for (const c of cases) {
      const a = JSON.parse(JSON.stringify(c));
      const b = JSON.parse(JSON.stringify(c));
      const ok = compiled(a);
      expect(prebuilt.default(b)).toBe(ok);
      if (ok) accepted++;
      const errs = (f: ValidateFunction) => (f.errors ?? []).map((e) => [e.instancePath, e.keyword, e.params, e.message, e.data]);
      expect(errs(prebuilt.default)).toEqual(errs(compiled));
      expect(b).toEqual(a);
    }
    expect(cases.length).toBeGreaterThan(500);
    expect(accepted).toBeGreaterThanOrEqual(Object.keys(SPEC_VARIANTS).length);
    expect(accepted).toBeLessThan(cases.length / 2);
  });

  test('the schema itself is valid JSON Schema (the runtime validator skips this check)', () => {
    const ajv = specAjv(true);
    const valid = ajv.validateSchema(specJsonSchema());
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(() => ajv.compile(specJsonSchema())).not.toThrow();
  });

  test('a minimal spec is accepted and defaulted from the schema', () => {
    const r = validateSpec({ models: [model()] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const m = r.value.models![0];
    expect(m.gpu).toEqual({ count: 1, resourceName: 'nvidia.com/gpu' });
    expect(m.parallelism).toEqual({ tensor: 1, pipeline: 1, data: 1, expert: false, nodes: 1 });
    expect(m.replicas).toBe(1);
    expect(r.value.monitoring.mode).toBe('managed');
    expect(r.value.monitoring.interval).toBe('15s');
    expect(r.value.grafana.anonymousAccess).toBe(false);
  });

  test('validation does not modify its input', () => {
    const input = { models: [model()] };
    const copy = structuredClone(input);
    validateSpec(input);
    expect(input).toEqual(copy);
  });

  test('an unknown engine is rejected with its path and the supported values', () => {
    expect(errorsOf({ models: [model({ engine: 'llamacpp' })] })).toEqual([{
      path: 'spec.models[0].engine',
      message: 'Unsupported value: "llamacpp": supported values: "vllm", "lmdeploy", "sglang", "tgi", "transformers"',
    }]);
  });

  test('zero GPUs for an engine that needs them is rejected by the CEL rule', () => {
    expect(errorsOf({ models: [model({ gpu: { count: 0 } })] })).toEqual([{
      path: 'spec.models[0].gpu.count', message: 'Invalid value: engine vllm needs at least one GPU (gpu.count >= 1)',
    }]);
  });

  test('transformers may run without a GPU', () => {
    expect(validateSpec({ models: [model({ engine: 'transformers', gpu: { count: 0 } })] }).ok).toBe(true);
  });

  test('tensor × data parallelism beyond gpu.count is rejected', () => {
    expect(errorsOf({ models: [model({ gpu: { count: 3 }, parallelism: { tensor: 2, data: 2 } })] })).toEqual([{
      path: 'spec.models[0].parallelism', message: 'Invalid value: parallelism.tensor × parallelism.pipeline × parallelism.data must not exceed gpu.count',
    }]);
    expect(validateSpec({ models: [model({ gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 } })] }).ok).toBe(true);
  });

  test("LMDeploy's data-parallel ranks share the tensor-parallel GPUs: max(tensor, data) GPUs, and data parallelism needs tensor > 1", () => {
    // lmdeploy/serve/openai/launch_server.py: num_devices = max(dp, tp, ep), each rank num_devices // dp of them; assert tp > 1 or ep > 1.
    const lmdeploy = (gpus: number, tensor: number, data: number) => model({ engine: 'lmdeploy', gpu: { count: gpus }, parallelism: { tensor, data } });
    expect(validateSpec({ models: [lmdeploy(2, 2, 2)] }).ok).toBe(true);
    expect(errorsOf({ models: [lmdeploy(1, 2, 2)] })).toEqual([{
      path: 'spec.models[0].parallelism', message: 'Invalid value: max(parallelism.tensor, parallelism.data) must not exceed gpu.count: lmdeploy data-parallel ranks share the tensor-parallel GPUs',
    }]);
    expect(errorsOf({ models: [lmdeploy(2, 1, 2)] })).toEqual([{
      path: 'spec.models[0].parallelism.tensor', message: 'Invalid value: lmdeploy data parallelism needs parallelism.tensor > 1 or parallelism.expert: its data-parallel ranks share the tensor-parallel GPUs (tensor is the total), or split the experts',
    }]);
    // ... or expert parallelism (--ep = data), as the release's own assert allows (tp > 1 or ep > 1).
    expect(validateSpec({ models: [model({ engine: 'lmdeploy', gpu: { count: 2 }, parallelism: { tensor: 1, data: 2, expert: true } })] }).ok).toBe(true);
    // Other engines run a tensor-parallel group per rank.
    expect(errorsOf({ models: [model({ engine: 'vllm', gpu: { count: 2 }, parallelism: { tensor: 2, data: 2 } })] })).toEqual([{
      path: 'spec.models[0].parallelism', message: 'Invalid value: parallelism.tensor × parallelism.pipeline × parallelism.data must not exceed gpu.count',
    }]);
  });

  test('TGI and transformers have no data parallelism: parallelism.data > 1 is refused with the reason, not run as one copy on many GPUs', () => {
    // Recorded launchers (test/fixtures/engine-cli/tgi-*.json, transformers-*.json) have no data-parallel option.
    expect(errorsOf({ models: [model({ engine: 'tgi', gpu: { count: 2 }, parallelism: { data: 2 } })] })).toEqual([{
      path: 'spec.models[0].parallelism.data', message: 'Forbidden: tgi has no data parallelism: text-generation-launcher serves one copy of the model, sharded over parallelism.tensor GPUs, and has no data-parallel option; use replicas for more copies',
    }]);
    expect(errorsOf({ models: [model({ engine: 'transformers', gpu: { count: 2 }, parallelism: { data: 2 } })] })).toEqual([{
      path: 'spec.models[0].parallelism.data', message: 'Forbidden: transformers has no data parallelism: transformers serve runs one copy of the model in one process and has no data-parallel option; use replicas for more copies',
    }]);
    expect(validateSpec({ models: [model({ engine: 'tgi', gpu: { count: 2 }, parallelism: { tensor: 2 }, replicas: 2 })] }).ok).toBe(true);
  });

  test('a duplicate model name is rejected at the duplicate', () => {
    expect(errorsOf({ models: [model(), model({ engine: 'sglang' })] })).toEqual([{
      path: 'spec.models[1]', message: 'Duplicate value: name="qwen"',
    }]);
  });

  test.each([[0], [65536], [-1]])('port %p is rejected', (port) => {
    const errors = errorsOf({ models: [model({ port })] });
    expect(errors).toHaveLength(1);
    expect(errors[0].path).toBe('spec.models[0].port');
    expect(errors[0].message).toMatch(new RegExp(`^Invalid value: ${port}: must be [<>]= `));
  });

  test('a port that is not a number is rejected with its type', () => {
    expect(errorsOf({ models: [model({ port: '8000' })] })).toEqual([{ path: 'spec.models[0].port', message: 'Invalid value: "8000": must be of type integer' }]);
  });

  test('unknown fields are reported, not silently dropped', () => {
    expect(errorsOf({ models: [model({ gpus: 2 })] })).toEqual([{ path: 'spec.models[0].gpus', message: 'unknown field' }]);
  });

  test('an empty spec needs models or targets', () => {
    expect(errorsOf({})).toEqual([{ path: 'spec', message: 'Required value: at least one entry in models or targets is required' }]);
  });

  test('bad durations, URLs and secret references are reported together with their paths', () => {
    const errors = errorsOf({
      models: [model()],
      monitoring: { retention: '15 days', interval: '', remoteWrite: [{ url: 'mimir:9009' }] },
      grafana: { adminSecretRef: {} },
    });
    expect(errors.map((e) => e.path).sort()).toEqual([
      'spec.grafana.adminSecretRef.name',
      'spec.monitoring.interval',
      'spec.monitoring.remoteWrite[0].url',
      'spec.monitoring.retention',
    ]);
    expect(errors.find((e) => e.path === 'spec.grafana.adminSecretRef.name')!.message).toBe('Required value');
  });

  test('tracing without Tempo needs an external endpoint', () => {
    expect(errorsOf({ models: [model()], tempo: { enabled: false } })).toEqual([{
      path: 'spec.tracing.endpoint', message: 'Required value: tracing without Tempo needs tracing.endpoint',
    }]);
    expect(validateSpec({ models: [model()], tempo: { enabled: false }, tracing: { enabled: false } }).ok).toBe(true);
  });

  test('a persistent cache needs a size or an existing claim', () => {
    expect(errorsOf({ models: [model({ modelCache: { type: 'persistentVolumeClaim' } })] })).toEqual([{
      path: 'spec.models[0].modelCache.size', message: 'Required value: a persistentVolumeClaim cache needs size (to create a claim) or existingClaim',
    }]);
  });

  test('a model and a target may not share a name', () => {
    expect(errorsOf({ models: [model()], targets: [{ name: 'qwen', engine: 'vllm', selector: { app: 'x' }, port: 8000 }] })).toEqual([{
      path: 'spec.targets', message: 'Duplicate value: target names must differ from model names',
    }]);
  });

  test('a non-object spec is an error, not an exception', () => {
    expect(validateSpec('models: []')).toEqual({ ok: false, errors: [{ path: 'spec', message: 'Invalid value: "models: []": must be an object' }] });
    expect(validateSpec(null).ok).toBe(false);
  });
});

describe('plan-time checks that need the engine profile', () => {
  const plan = (spec: unknown) => planStack({ name: 'demo', namespace: 'llm', spec });

  test('LMDeploy rank ports past 65535 are rejected', () => {
    const r = plan({ models: [model({ engine: 'lmdeploy', port: 65535, gpu: { count: 2 }, parallelism: { data: 2, tensor: 2 } })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].port', message: 'Invalid value: 65535: 2 data-parallel ranks use ports 65535-65536, beyond 65535' }] });
  });

  test('LMDeploy rank ports may not overlap the proxy port', () => {
    const r = plan({ models: [model({ engine: 'lmdeploy', port: 7999, gpu: { count: 2 }, parallelism: { data: 2, tensor: 2 } })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].port', message: 'Invalid value: 7999: rank ports 7999-8000 overlap the proxy port 8000' }] });
  });

  test('an engine version older than the profile supports is rejected', () => {
    const r = plan({ models: [model({ engine: 'lmdeploy', engineVersion: '0.8.0' })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].engineVersion', message: 'Unsupported value: "0.8.0": LMDeploy exports the metrics we monitor from 0.9.2 on; use 0.9.2 or later' }] });
  });

  test('transformers before 4.57.0 is refused with the reason: no --continuous-batching and no /health route', () => {
    const r = plan({ models: [model({ engine: 'transformers', gpu: { count: 0 }, engineVersion: '4.56.2' })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].engineVersion', message: 'Unsupported value: "4.56.2": transformers serve has --continuous-batching and the /health route the probes use from 4.57.0 on (4.56 enables continuous batching through --attn_implementation sdpa_paged and answers /health with 404); use 4.57.0 or later' }] });
  });

  test('transformers from 5.9.0, which exports no metrics, is rejected', () => {
    const r = plan({ models: [model({ engine: 'transformers', engineVersion: '5.9.0' })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].engineVersion', message: 'Unsupported value: "5.9.0": transformers removed its continuous-batching metrics (transformers/utils/metrics.py) in 5.9.0; 5.9 and later export none; use a version below 5.9.0' }] });
    expect(plan({ models: [model({ engine: 'transformers', engineVersion: '5.8.1' })] }).ok).toBe(true);
  });

  test('LMDeploy data parallelism before 0.15 (random rank ports) is rejected; one rank is fine', () => {
    const r = plan({ models: [model({ engine: 'lmdeploy', engineVersion: '0.11.0', gpu: { count: 2 }, parallelism: { data: 2, tensor: 2 } })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].parallelism.data', message: 'Invalid value: 2: LMDeploy 0.11.0 cannot be monitored with data parallelism: before 0.15 LMDeploy starts the data-parallel rank servers on random ports (find_available_ports) when a proxy is used and ignores --server-port, so their /metrics cannot be scraped; use 0.15.0 or later' }] });
    expect(plan({ models: [model({ engine: 'lmdeploy', engineVersion: '0.11.0' })] }).ok).toBe(true);
    expect(plan({ models: [model({ engine: 'lmdeploy', engineVersion: '0.15.0', gpu: { count: 2 }, parallelism: { data: 2, tensor: 2 } })] }).ok).toBe(true);
  });

  test('vLLM data parallelism before 0.8.3 (no engine label) is rejected', () => {
    const r = plan({ models: [model({ engine: 'vllm', engineVersion: '0.8.2', gpu: { count: 2 }, parallelism: { data: 2, tensor: 1 } })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].parallelism.data', message: 'Invalid value: 2: vLLM 0.8.2 cannot be monitored with data parallelism: before 0.8.3 vLLM labels its metrics with the model only, so the series of data-parallel engines cannot be told apart; use 0.8.3 or later' }] });
    expect(plan({ models: [model({ engine: 'vllm', engineVersion: '0.8.3', gpu: { count: 2 }, parallelism: { data: 2, tensor: 1 } })] }).ok).toBe(true);
  });

  test('autoscaling on a signal the engine lacks is rejected', () => {
    const r = plan({ models: [model({ engine: 'tgi', autoscaling: { metric: 'kvCacheUsage', target: 0.8 } })] });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.models[0].autoscaling.metric', message: 'Unsupported value: "kvCacheUsage": TGI 3.3.6 exports no KV-cache usage' }] });
  });

  test('a latency SLO threshold between histogram buckets is rejected with the bounds that exist', () => {
    const r = plan({ models: [model()], slo: { ttft: { thresholdSeconds: 1.2 } } });
    expect(r).toEqual({ ok: false, errors: [{ path: 'spec.slo.ttft.thresholdSeconds', message: "Invalid value: 1.2: not a bucket bound of vLLM's vllm:time_to_first_token_seconds histogram, so no request could be counted against it; use one of 0.5, 0.75, 1, 2.5" }] });
    expect(plan({ models: [model()], slo: { ttft: { thresholdSeconds: 1 } } }).ok).toBe(true);
  });

  test('a bad resource name is rejected', () => {
    expect(plan({ models: [model()] }).ok).toBe(true);
    expect(planStack({ name: 'Demo_1', namespace: 'llm', spec: { models: [model()] } })).toEqual({
      ok: false, errors: [{ path: 'metadata.name', message: 'Invalid value: "Demo_1": must be a lowercase RFC 1123 subdomain' }],
    });
  });
});

describe('validateSpec never throws', () => {
  test('cyclic input and BigInts are errors at the root, not exceptions', () => {
    const cyclic: any = { models: [{ name: 'q', model: 'x/y', engine: 'vllm' }] };
    cyclic.models[0].self = cyclic;
    for (const input of [cyclic, { models: [{ name: 'q', model: 'x/y', engine: 'vllm', replicas: BigInt(1) }] }]) {
      const r = validateSpec(input);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors).toEqual([{ path: 'spec', message: expect.stringMatching(/^Invalid value: not JSON data: /) }]);
    }
  });
});

describe('reading a resource out of a file', () => {
  test('a namespace that is not a string is an error at metadata.namespace, not a crash later', () => {
    const { stackInputFromResource } = require('../../src/render') as typeof import('../../src/render');
    const r = stackInputFromResource({ apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring', metadata: { name: 'demo', namespace: 42 }, spec: { models: [model()] } });
    expect(r.ok ? [] : r.errors).toEqual([{ path: 'metadata.namespace', message: 'Invalid value: 42: must be a string' }]);
  });
});
