/**
 * End to end with a real Prometheus 3: the generated configuration (pod
 * discovery replaced by the labels it would produce) scrapes real engine
 * `/metrics` samples served locally, one server per data-parallel rank, and
 * receives OTLP metrics pushed with the OpenTelemetry JS SDK under the
 * transformers instrument names.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { execFile } from 'child_process';
import { planStack, StackPlan } from '../../src/plan/plan';
import { buildPrometheusConfig } from '../../src/prometheus/prometheus-config';
import { autoscalingQuery } from '../../src/constructs/model-autoscaler';
import { print } from '../../src/promql/ast';
import { havePrometheus, SHARED } from '../harness/binaries';
import { MetricsServer, serveMetrics } from '../harness/metrics-server';
import { eventually, RunningPrometheus, startPrometheus } from '../harness/prometheus';
import { FakePod, staticize } from '../harness/staticize';

const FIX = path.join(SHARED, 'fixtures', 'metrics');
const read = (p: string) => fs.readFileSync(p, 'utf8');
const lmdeployRank = (rank: number) => read(path.join(FIX, 'upstream', 'lmdeploy-loggers-output.prom')).replace(/engine="0"/g, `engine="${rank}"`);
const sglang = () => read(path.join(FIX, 'upstream', 'sglang-docs-example.txt')).split('\n').filter((l) => !l.startsWith('$')).join('\n');

async function consecutiveFreePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const ok = await Promise.all(Array.from({ length: n }, (_, i) => new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(base + i, '127.0.0.1', () => s.close(() => resolve(true)));
    })));
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no consecutive free ports');
}

function pushOtlp(url: string, payload: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [path.join(__dirname, '..', 'harness', 'otlp-push.js'), url], (err, _out, stderr) => (err ? reject(new Error(stderr)) : resolve()));
    child.stdin!.end(JSON.stringify(payload));
  });
}

const runIf = havePrometheus() ? describe : describe.skip;

runIf('a real Prometheus with the generated configuration', () => {
  let prom: RunningPrometheus;
  let plan: StackPlan;
  const servers: MetricsServer[] = [];
  const LMD_POD = 'lmdeploy-0';

  beforeAll(async () => {
    const legacyPort = await consecutiveFreePorts(2);
    const result = planStack({
      name: 'demo', namespace: 'llm', spec: {
        models: [
          { name: 'qwen-lmdeploy', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'lmdeploy', gpu: { count: 4 }, parallelism: { tensor: 2, data: 2 }, autoscaling: { metric: 'kvCacheUsage', target: 0.8 } },
          { name: 'llama-vllm', model: 'meta-llama/Llama-3.1-8B-Instruct', engine: 'vllm' },
          { name: 'sg', model: 'x/y', engine: 'sglang', autoscaling: { target: 10 } },
          { name: 'idle', model: 'x/y', engine: 'vllm', autoscaling: { target: 10 } },
          { name: 'tf', model: 'x/y', engine: 'transformers', gpu: { count: 0 } },
        ],
        targets: [{ name: 'legacy', engine: 'lmdeploy', selector: { app: 'legacy-lmdeploy' }, port: legacyPort, ranks: 2, namespace: 'serving' }],
        monitoring: { interval: '1s', evaluationInterval: '1s' },
      },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    plan = result.value;
    const [q, v, s] = plan.models;

    const serve = async (text: string, port?: number) => { const srv = await serveMetrics(text, port); servers.push(srv); return srv; };
    const rank0 = await serve(lmdeployRank(0));
    const rank1 = await serve(lmdeployRank(1));
    const proxy = await serve('not metrics');
    const vllm = await serve(read(path.join(FIX, 'vllm-docs-example.prom')));
    const sg = await serve(sglang());
    await serve(lmdeployRank(0), legacyPort);
    await serve(lmdeployRank(1), legacyPort + 1);
    const dcgm = await serve(read(path.join(__dirname, '..', 'fixtures', 'metrics', 'dcgm.prom')));

    const pod = (p: Partial<FakePod> & Pick<FakePod, 'address' | 'pod' | 'podLabels'>): FakePod => ({ namespace: 'llm', container: 'engine', ...p });
    const pods: Record<string, FakePod[]> = {
      [q.objectName]: [
        pod({ address: rank0.address, pod: LMD_POD, portName: 'rank-0', podLabels: q.labels }),
        pod({ address: rank1.address, pod: LMD_POD, portName: 'rank-1', podLabels: q.labels }),
        // The proxy serves no metrics: the generated relabeling must not make it a target.
        pod({ address: proxy.address, pod: LMD_POD, container: 'proxy', portName: 'proxy', podLabels: q.labels }),
      ],
      [v.objectName]: [pod({ address: vllm.address, pod: 'vllm-0', portName: 'http', podLabels: v.labels })],
      [s.objectName]: [pod({ address: sg.address, pod: 'demo-sg-7c9d8b5f6-abcde', portName: 'http', podLabels: s.labels })],
      'dcgm-exporter': [pod({ address: dcgm.address, pod: 'demo-dcgm-exporter-k8m2x', container: 'dcgm-exporter', portName: 'metrics', portNumber: 9400, podLabels: { 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'gpu-metrics' } })],
    };
    for (const rank of [0, 1]) {
      // Undeclared ports: the address comes from the pod IP and the target's port + rank.
      pods[`demo-legacy-rank-${rank}`] = [pod({ address: '127.0.0.1:1', namespace: 'serving', pod: 'legacy-lmdeploy-0', podLabels: { app: 'legacy-lmdeploy' } })];
    }
    const cfg = buildPrometheusConfig(plan);
    prom = await startPrometheus(staticize(cfg, pods, '/nonexistent'));
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  test('every data-parallel rank of every model and target is a target, and all are up; the proxy is not scraped', async () => {
    const targets = await eventually('all targets up', async () => {
      const t = await prom.targets();
      return t.length >= 7 && t.every((x: any) => x.health === 'up') ? t : undefined;
    });
    const byJob = (job: string) => targets.filter((t: any) => t.labels.job === job).map((t: any) => t.scrapeUrl).sort();
    expect(byJob('demo-qwen-lmdeploy')).toHaveLength(2);
    expect(byJob('demo-qwen-lmdeploy').join()).not.toContain(servers[2].address);
    expect(byJob('demo-legacy')).toEqual([`http://127.0.0.1:${plan.targets[0].spec.port}/metrics`, `http://127.0.0.1:${plan.targets[0].spec.port + 1}/metrics`]);
    expect(byJob('demo-llama-vllm')).toHaveLength(1);
    expect(byJob('demo-sg')).toHaveLength(1);
    expect(byJob('dcgm-exporter')).toHaveLength(1);
    expect(targets).toHaveLength(7);
  });

  test('both LMDeploy ranks arrive with the labels the dashboards use', async () => {
    const series = await eventually('lmdeploy series', async () => {
      const r = await prom.query('lmdeploy:num_requests_running{model="qwen-lmdeploy", inference_engine="lmdeploy", namespace="llm"}');
      return r.length === 2 ? r : undefined;
    });
    expect(series.map((s: any) => s.metric.engine).sort()).toEqual(['0', '1']);
    for (const s of series) {
      expect(s.metric).toMatchObject({ pod: LMD_POD, container: 'engine', job: 'demo-qwen-lmdeploy', model_name: 'Qwen/Qwen2.5-7B-Instruct', node: 'gpu-node-0' });
    }
  });

  test('an existing LMDeploy target is scraped on both rank ports with the target name as model', async () => {
    const r = await eventually('legacy series', async () => {
      const x = await prom.query('lmdeploy:gpu_cache_usage_perc{job="demo-legacy"}');
      return x.length === 2 ? x : undefined;
    });
    expect(r.map((s: any) => [s.metric.engine, s.metric.model, s.metric.namespace, s.metric.inference_engine]).sort()).toEqual([['0', 'legacy', 'serving', 'lmdeploy'], ['1', 'legacy', 'serving', 'lmdeploy']]);
  });

  test('vLLM and SGLang series carry model and engine labels', async () => {
    const v = await eventually('vllm', async () => { const x = await prom.query('vllm:num_requests_running{model="llama-vllm", inference_engine="vllm"}'); return x.length ? x : undefined; });
    expect(v[0].metric.pod).toBe('vllm-0');
    const s = await eventually('sglang', async () => { const x = await prom.query('sglang:num_running_reqs{model="sg", inference_engine="sglang"}'); return x.length ? x : undefined; });
    expect(s[0].metric.namespace).toBe('llm');
  });

  test('GPU series keep the consuming pod as pod/namespace, and join inference series by pod', async () => {
    const gpu = await eventually('dcgm', async () => { const x = await prom.query('DCGM_FI_DEV_GPU_UTIL{job="dcgm-exporter"}'); return x.length === 4 ? x : undefined; });
    const pods = gpu.map((s: any) => s.metric.pod ?? '(idle)').sort();
    expect(pods).toEqual(['(idle)', LMD_POD, LMD_POD, 'vllm-0']);
    expect(gpu.every((s: any) => s.metric.exported_pod === undefined)).toBe(true);
    // The join the GPU dashboard uses: GPU utilization per model.
    const joined = await prom.query('avg by (model) (DCGM_FI_DEV_GPU_UTIL * on (namespace, pod) group_left (model) max by (namespace, pod, model) (lmdeploy:num_requests_running))');
    expect(joined.map((s: any) => [s.metric.model, Number(s.value[1])])).toEqual([['qwen-lmdeploy', 89]]);
  });

  test('autoscaling queries return exactly one series, with data and without', async () => {
    for (const [model, expected] of [['qwen-lmdeploy', 0.042], ['sg', 2826], ['idle', 0]] as const) {
      const plan1 = plan.models.find((x) => x.spec.name === model)!;
      const r = await prom.query(print(autoscalingQuery(plan1, 'llm')));
      expect({ model, series: r.length, value: Number(r[0].value[1]) }).toEqual({ model, series: 1, value: expected });
    }
  });

  test('OTLP metrics pushed under the transformers instrument names arrive with the names the dashboards query', async () => {
    // Instrument names, kinds and units as transformers' src/transformers/utils/metrics.py creates them;
    // the same file drives the OTLP engine stand-in on the test node.
    const sample = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'metrics', 'transformers-otlp.json'), 'utf8'));
    await pushOtlp(`${prom.url}/api/v1/otlp/v1/metrics`, {
      ...sample,
      resource: { 'service.name': 'transformers', model: 'tf', inference_engine: 'transformers', namespace: 'llm', pod: 'demo-tf-abc' },
    });

    const expected = [
      'ttft_milliseconds_bucket', 'request_latency_milliseconds_bucket', 'request_latency_milliseconds_count', 'batch_fill_percentage_percent_bucket',
      'decode_tokens_processed_total', 'prefill_tokens_processed_total', 'active_requests_count', 'waiting_requests_count',
      'kv_cache_memory_bytes', 'kv_cache_free_memory_bytes',
    ];
    for (const name of expected) {
      const r = await eventually(name, async () => { const x = await prom.query(`${name}{model="tf", namespace="llm", pod="demo-tf-abc", inference_engine="transformers"}`); return x.length ? x : undefined; });
      expect(r.length).toBeGreaterThan(0);
    }
    // The profile names the same metrics the dashboards will query.
    const signals = plan.models.find((x) => x.spec.name === 'tf')!.signals;
    for (const s of ['requestsFinished', 'requestsRunning', 'requestsWaiting', 'kvCacheMemory', 'kvCacheFree'] as const) {
      const m = signals.get(s)!;
      const name = m.type === 'histogram' ? `${m.metric}_bucket` : m.metric;
      expect(expected).toContain(name);
    }
    // 5.8.1's TTFT and latency values are epoch offsets (serve-timing.json): withheld; 4.57's are durations.
    expect(['ttft', 'e2eLatency'].filter((s) => signals.has(s as 'ttft'))).toEqual([]);
    // The token counters, the ratio and batch fill arrive when pushed, but transformers serve never records them
    // (or records 0): they are no signals (test/component/engine-catalogs.test.ts shows it on the released code).
    for (const s of ['batchFill', 'generationTokens', 'promptTokens', 'decodePrefillRatio'] as const) expect(signals.has(s)).toBe(false);
  });
});
