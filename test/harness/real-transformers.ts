/**
 * The real Hugging Face `transformers serve` (PyPI, on the CPU) started with the command line, env and
 * probes we render for a transformers model, on the tiny Llama of tools/real-engines/make-tiny-model.py.
 * transformers serves no /metrics: it pushes OTLP metrics (through opentelemetry-instrument) to the stack's
 * Prometheus. Here that is a local Prometheus with our own configuration's OTLP settings and rule files
 * (buildPrometheusConfig, buildRuleFiles); the dashboards' and rules' queries are then evaluated against it
 * as they are in Grafana. Facts behind each step: ../shared/notes/real-engines.md.
 *
 * - installTransformersServe(): a venv per version in ~/.cache/cdk8s-inference-monitoring/real-engines/
 *   transformers-serve-<version> with exactly the pip requirements of images/transformers-serve/Dockerfile,
 *   complete when its marker file exists (a half-made one is made again).
 * - startStackPrometheus(): Prometheus with the OTLP receiver, configured from our plan.
 * - startTraceSink(): a loopback OTLP/HTTP trace receiver that counts spans.
 * - startRealTransformers(): the tiny model as the hub-cache entry of the rendered model id, then the rendered
 *   argv and env, changed only as REAL_TRANSFORMERS_CHANGES says; ready when every rendered probe path answers 200.
 * - panelValues(): every query of the rendered serving dashboard and every rule signal, evaluated on that Prometheus.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { catalogRuleGroups, buildRuleFiles } from '../../src/alerts/rules';
import { dashboardQueries, freePort, substituteVariables } from '../../src/check/check-dashboards';
import { stackDashboards } from '../../src/dashboards';
import { buildPrometheusConfig } from '../../src/prometheus/prometheus-config';
import { StackProps, planOrThrow, renderManifests } from '../../src/render';
import { cacheRoot, REPO } from './binaries';
import { RunningPrometheus, startPrometheus } from './prometheus';
import { Change, RENDERED_MODEL, expandKubernetes } from './real-vllm';
import { renderedArgv, renderedProbes, spawnEngine } from './real-engine-process';

/** The profile's default version (src/engines/transformers.ts); override with CIM_TRANSFORMERS_VERSION. */
export const TRANSFORMERS_VERSION = process.env.CIM_TRANSFORMERS_VERSION ?? '5.8.1';

/** The spec rendered for the real server: one transformers model without a GPU, the stack's defaults otherwise (tracing to its Tempo). */
export function realTransformersSpec(version = TRANSFORMERS_VERSION): StackProps {
  return { name: 'demo', namespace: 'llm', spec: { models: [{ name: 'llama', model: RENDERED_MODEL, engine: 'transformers', engineVersion: version, gpu: { count: 0 } }] } };
}

export function transformersServeVenv(version = TRANSFORMERS_VERSION): string {
  return path.join(cacheRoot(), 'real-engines', `transformers-serve-${version}`);
}

const MARKER = '.cim-complete';
const python3 = () => process.env.CIM_PYTHON ?? 'python3';

export interface Install { readonly venv: string; readonly python: string; readonly cached: boolean; readonly seconds: number; readonly bytes: number; readonly requirements: readonly string[] }

/**
 * The requirements images/transformers-serve/Dockerfile installs, read from it (its ARG defaults substituted,
 * TRANSFORMERS_VERSION by `version`), so the venv and the image recipe cannot drift apart.
 */
export function dockerfileRequirements(version = TRANSFORMERS_VERSION): string[] {
  const text = fs.readFileSync(path.join(REPO, 'images', 'transformers-serve', 'Dockerfile'), 'utf8');
  const args: Record<string, string> = Object.fromEntries([...text.matchAll(/^ARG ([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  args.TRANSFORMERS_VERSION = version;
  const run = /^RUN pip install(?:[^\n]*\\\n)*[^\n]*/m.exec(text);
  if (!run) throw new Error('images/transformers-serve/Dockerfile: no `RUN pip install` line');
  const reqs = [...run[0].matchAll(/"([^"]+)"/g)].map((m) => m[1].replace(/\$\{([A-Z_]+)\}/g, (_, n) => args[n] ?? (() => { throw new Error(`Dockerfile: no ARG ${n}`); })()));
  if (!reqs.some((r) => r.startsWith('transformers[serving]==')) || !reqs.some((r) => r.startsWith('opentelemetry-distro'))) throw new Error(`Dockerfile requirements changed: ${reqs.join(' ')}`);
  return reqs;
}

/**
 * transformers with its serving extras (fastapi, uvicorn, openai, pydantic, starlette, rich, accelerate), torch
 * (PyPI's CUDA build: it runs on the CPU) and opentelemetry-distro + the OTLP/HTTP exporter into a venv
 * (idempotent, keyed by version): exactly the Dockerfile's pip requirements. Output goes to <venv>.install.log.
 */
export function installTransformersServe(version = TRANSFORMERS_VERSION): Install {
  const venv = transformersServeVenv(version);
  const python = path.join(venv, 'bin', 'python');
  const requirements = dockerfileRequirements(version);
  if (fs.existsSync(path.join(venv, MARKER))) return { venv, python, cached: true, seconds: 0, bytes: Number(fs.readFileSync(path.join(venv, MARKER), 'utf8').trim()) || 0, requirements };
  const started = Date.now();
  fs.rmSync(venv, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  const log = fs.openSync(`${venv}.install.log`, 'w');
  const run = (cmd: string, args: string[]) => {
    fs.writeSync(log, `$ ${cmd} ${args.join(' ')}\n`);
    execFileSync(cmd, args, { stdio: ['ignore', log, log], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
  };
  try {
    run(python3(), ['-m', 'venv', venv]);
    run(python, ['-m', 'pip', 'install', '--upgrade', 'pip']);
    run(python, ['-m', 'pip', 'install', ...requirements]);
    run(python, ['-c', `import importlib.metadata as m; assert m.version("transformers") == "${version}", m.version("transformers")`]);
  } finally {
    fs.closeSync(log);
  }
  const bytes = Number(execFileSync('du', ['-sb', venv], { encoding: 'utf8' }).split('\t')[0]);
  fs.writeFileSync(path.join(venv, MARKER), `${bytes}\n`);
  return { venv, python, cached: false, seconds: (Date.now() - started) / 1000, bytes, requirements };
}

/** The engine container of the rendered transformers Deployment. */
export function renderedTransformersContainer(spec = realTransformersSpec()): Record<string, any> {
  const deployment = renderManifests(spec).find((m) => m.kind === 'Deployment' && m.spec.template.spec.containers.some((c: any) => c.name === 'engine'));
  if (!deployment) throw new Error('no Deployment with an engine container rendered');
  return deployment.spec.template.spec.containers.find((c: any) => c.name === 'engine');
}

/** The downward-API values the kubelet would give the rendered fieldRefs (the pod is not real here). */
export const POD_FIELDS: Readonly<Record<string, string>> = { 'metadata.name': 'demo-llama-0', 'metadata.namespace': 'llm' };

/**
 * Everything the real server runs with that differs from the rendered container: only these. The values
 * that depend on the run are filled in by startRealTransformers (`<port>`, `<tmp>`, `<prometheus>`, `<sink>`, `<venv>`).
 */
export const REAL_TRANSFORMERS_CHANGES: readonly Change[] = [
  { what: 'arg --host', rendered: '0.0.0.0', here: '127.0.0.1', why: 'loopback only: a shared machine, not a pod network namespace' },
  { what: 'arg --port and the probes\' port', rendered: '8000', here: '<port>', why: 'a free port: 8000 may be taken here; the probes follow it as they follow the container port' },
  { what: 'env HF_HOME', rendered: '/cache/huggingface (the model-cache volume)', here: '<tmp>/huggingface', why: 'the model source: the tiny model made at test time is the hub-cache entry of the rendered model id there, so the positional model argument stays as rendered' },
  { what: 'env HF_HUB_OFFLINE', rendered: '(unset)', here: '1', why: 'no hub is reachable: resolve the model id from HF_HOME\'s cache only' },
  { what: 'env OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', rendered: 'http://demo-prometheus.llm.svc:9090/api/v1/otlp/v1/metrics', here: '<prometheus>/api/v1/otlp/v1/metrics', why: 'the stack\'s Prometheus is a local one: same path, same OTLP receiver settings (otlp block of buildPrometheusConfig: promoted resource attributes, UnderscoreEscapingWithSuffixes; the 5m out-of-order window), the stack\'s rule files' },
  { what: 'env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', rendered: 'http://demo-tempo.llm.svc:4318/v1/traces', here: '<sink>/v1/traces', why: 'a local OTLP/HTTP sink in the test counts the spans (no Tempo here); sampler and ratio stay as rendered' },
  { what: 'env POD_NAME, POD_NAMESPACE (fieldRef; in OTEL_RESOURCE_ATTRIBUTES through $(VAR))', rendered: 'metadata.name, metadata.namespace', here: `${POD_FIELDS['metadata.name']}, ${POD_FIELDS['metadata.namespace']}`, why: 'no kubelet: the downward-API values are filled in as it would' },
  { what: 'env PATH, HOME', rendered: '(the image\'s)', here: '<venv>/bin first; the user\'s HOME', why: 'the image is replaced by a venv with the Dockerfile\'s pip requirements (`opentelemetry-instrument` and `transformers` are found on PATH as in the image)' },
  { what: 'image, resources, /dev/shm volume', rendered: 'inference-monitoring-transformers-serve:<version>, 8 CPU / 64Gi, no GPU (gpu.count 0)', here: 'the venv on the host\'s CPUs, host /dev/shm', why: 'no container runtime for the engine here; transformers serve picks the CPU itself (--device auto, no CUDA device): no CPU-only setting is needed' },
];

/** A loopback OTLP/HTTP trace receiver: counts exports, spans, traces and span names (protobuf decoded by hand). */
export interface TraceSink { readonly url: string; readonly exports: number; readonly spans: number; readonly traces: ReadonlySet<string>; readonly names: ReadonlyMap<string, number>; stop(): Promise<void> }

/** The fields of one protobuf message: [field number, wire type, value] (varint as number, length-delimited as bytes). */
function protoFields(buf: Buffer): Array<[number, number, number | Buffer]> {
  const out: Array<[number, number, number | Buffer]> = [];
  let i = 0;
  const varint = () => { let v = 0; let s = 1; for (;;) { const b = buf[i++]; v += (b & 0x7f) * s; if (b < 0x80) return v; s *= 128; } };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) out.push([field, wire, varint()]);
    else if (wire === 1) { out.push([field, wire, buf.subarray(i, i + 8)]); i += 8; } else if (wire === 5) { out.push([field, wire, buf.subarray(i, i + 4)]); i += 4; } else if (wire === 2) { const n = varint(); out.push([field, wire, buf.subarray(i, i + n)]); i += n; } else throw new Error(`protobuf wire type ${wire}`);
  }
  return out;
}

export async function startTraceSink(): Promise<TraceSink> {
  const state = { exports: 0, spans: 0, traces: new Set<string>(), names: new Map<string, number>() };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
        // ExportTraceServiceRequest.resource_spans(1) > ResourceSpans.scope_spans(2) > ScopeSpans.spans(2) > Span.trace_id(1), name(5)
        for (const [f1, , rs] of protoFields(body)) {
          if (f1 !== 1) continue;
          for (const [f2, , ss] of protoFields(rs as Buffer)) {
            if (f2 !== 2) continue;
            for (const [f3, , span] of protoFields(ss as Buffer)) {
              if (f3 !== 2) continue;
              state.spans++;
              for (const [f, , v] of protoFields(span as Buffer)) {
                if (f === 1) state.traces.add((v as Buffer).toString('hex'));
                if (f === 5) { const n = (v as Buffer).toString('utf8'); state.names.set(n, (state.names.get(n) ?? 0) + 1); }
              }
            }
          }
        }
        state.exports++;
        res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    get exports() { return state.exports; }, get spans() { return state.spans; }, get traces() { return state.traces; }, get names() { return state.names; },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The stack's Prometheus, locally: our configuration's global intervals and external labels, its otlp and
 * storage blocks (the OTLP receiver's settings) and the stack's rule files. Left out: the Kubernetes scrape
 * jobs (no apiserver; transformers is pushed, not scraped), alerting (no Alertmanager) and remote write.
 */
export async function startStackPrometheus(spec = realTransformersSpec()): Promise<RunningPrometheus & { config: Record<string, unknown> }> {
  const plan = planOrThrow(spec);
  const full = buildPrometheusConfig(plan);
  const config = { global: full.global, otlp: full.otlp, storage: full.storage, rule_files: ['rules/*.yaml'] };
  const prom = await startPrometheus(config, buildRuleFiles(plan));
  return { ...prom, config };
}

export interface RealTransformers {
  readonly url: string;
  readonly port: number;
  /** argv[0..] as run (command + args, expanded). */
  readonly argv: readonly string[];
  /** The env the rendered container sets, with the changes applied. */
  readonly env: Readonly<Record<string, string>>;
  readonly changes: readonly Change[];
  /** The rendered probes: kind, path, period and failure threshold. */
  readonly probes: ReadonlyArray<{ kind: string; path: string; periodSeconds: number; failureThreshold: number }>;
  /** Seconds from spawn to every probe path answering 200. */
  readonly readySeconds: number;
  readonly log: string;
  /** The model id requests name: the rendered one. */
  readonly model: string;
  /** The ids /v1/models lists. */
  readonly models: readonly string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly install: Install;
  /** A directory for the model and logs; removed by the caller. */
  readonly workDir: string;
  /** Base URL of the local Prometheus (its OTLP receiver). */
  readonly prometheusUrl: string;
  /** Base URL of the OTLP trace sink. */
  readonly traceSinkUrl: string;
  readonly version?: string;
  /** The tiny model's context length. @default 2048 */
  readonly maxModelLen?: number;
  /** Most seconds to wait for the probes. @default the rendered startup probe's budget (failureThreshold x periodSeconds) */
  readonly readyTimeoutSeconds?: number;
}

/** Makes the tiny model under `<workDir>/huggingface` and starts the rendered command line; resolves once every probe path answers 200. */
export async function startRealTransformers(opts: StartOptions): Promise<RealTransformers> {
  const version = opts.version ?? TRANSFORMERS_VERSION;
  const container = renderedTransformersContainer(realTransformersSpec(version));
  const hfHome = path.join(opts.workDir, 'huggingface');
  execFileSync(opts.install.python, [path.join(REPO, 'tools', 'real-engines', 'make-tiny-model.py'), '--hf-home', hfHome, '--model-id', RENDERED_MODEL, '--max-len', String(opts.maxModelLen ?? 2048)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: hfHome } });
  const port = await freePort();

  // The container env as the kubelet resolves it (values, then fieldRefs, in order), then the listed changes.
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expandKubernetes(e.value, env);
    else if (e.valueFrom?.fieldRef) env[e.name] = POD_FIELDS[e.valueFrom.fieldRef.fieldPath] ?? (() => { throw new Error(`unhandled fieldRef ${e.valueFrom.fieldRef.fieldPath}`); })();
    else throw new Error(`unhandled env source of ${e.name}: ${JSON.stringify(e.valueFrom)} (add it to REAL_TRANSFORMERS_CHANGES)`);
  }
  const expect = (name: string, want: string) => { if (env[name] !== want) throw new Error(`rendered ${name} is ${env[name]}, not ${want}: update REAL_TRANSFORMERS_CHANGES`); };
  expect('HF_HOME', '/cache/huggingface');
  expect('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'http://demo-prometheus.llm.svc:9090/api/v1/otlp/v1/metrics');
  expect('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'http://demo-tempo.llm.svc:4318/v1/traces');
  env.HF_HOME = hfHome;
  env.HF_HUB_OFFLINE = '1';
  env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = `${opts.prometheusUrl}/api/v1/otlp/v1/metrics`;
  env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `${opts.traceSinkUrl}/v1/traces`;
  const processEnv = { ...env, PATH: `${path.join(opts.install.venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: os.homedir() };

  const argv = renderedArgv(container, env, port, 'REAL_TRANSFORMERS_CHANGES');
  const { probes, budget } = renderedProbes(container, opts.readyTimeoutSeconds);
  const log = path.join(opts.workDir, 'transformers-serve.log');
  const engine = spawnEngine(argv, { cwd: opts.workDir, env, processEnv, log });
  const { started, stop, tail } = engine;

  const url = `http://127.0.0.1:${port}`;
  try {
    const deadline = started + budget * 1000;
    const answered = new Set<string>();
    const paths = new Set(probes.map((p) => p.path));
    while (answered.size < paths.size) {
      if (engine.exited() !== null) throw new Error(`transformers serve exited (${engine.exited()}) before its probes answered; log ${log}:\n${tail()}`);
      if (Date.now() > deadline) throw new Error(`transformers serve: probes ${[...paths].join(', ')} not all 200 within ${budget} s; log ${log}:\n${tail()}`);
      for (const p of paths) {
        if (answered.has(p)) continue;
        try { if ((await fetch(url + p, { signal: AbortSignal.timeout(2000) })).status === 200) answered.add(p); } catch { /* not listening yet */ }
      }
      if (answered.size < paths.size) await new Promise((r) => setTimeout(r, 500));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const readySeconds = (Date.now() - started) / 1000;
  // /v1/models lists what transformers serve finds in the hub cache; requests name the rendered model id.
  const models: any = await (await fetch(`${url}/v1/models`)).json();
  const fill = (s: string) => s.replace('<port>', String(port)).replace('<tmp>', opts.workDir).replace('<venv>', opts.install.venv).replace('<prometheus>', opts.prometheusUrl).replace('<sink>', opts.traceSinkUrl);
  const changes = REAL_TRANSFORMERS_CHANGES.map((c) => ({ ...c, here: fill(c.here) }));
  return { url, port, argv, env: processEnv, changes, probes, readySeconds, log, model: RENDERED_MODEL, models: (models.data ?? []).map((m: any) => m.id), stop };
}

/** What the client saw. */
export interface ChatCounts {
  sent: number;
  /** Answered 200 with `usage` and a finish reason. */
  finished: number;
  /** Anything else: must stay 0. */
  failed: number;
  promptTokens: number;
  completionTokens: number;
  finishReasons: Record<string, number>;
  /** The first failure's status and body, for the report. */
  firstError?: string;
}

/** One non-streamed chat completion of at most `maxTokens` tokens (greedy). transformers serve has no ignore_eos. */
export async function chat(url: string, model: string, prompt: string, maxTokens: number, counts: ChatCounts): Promise<void> {
  counts.sent++;
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0 }) });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  const reason = json?.choices?.[0]?.finish_reason;
  if (res.status !== 200 || !json?.usage || !reason) {
    counts.failed++;
    counts.firstError ??= `${res.status} ${text.slice(0, 500)}`;
    return;
  }
  counts.finished++;
  counts.promptTokens += json.usage.prompt_tokens;
  counts.completionTokens += json.usage.completion_tokens;
  counts.finishReasons[reason] = (counts.finishReasons[reason] ?? 0) + 1;
}

export interface PanelValue { readonly dashboard: string; readonly panel: string; readonly expr: string; readonly values: readonly number[]; readonly error?: string }

/**
 * Every query of the stack's rendered dashboards for transformers (stackDashboards of our plan; Grafana's variable
 * substitution as check-dashboards does it: the model's namespace and name) and every signal under the transformers
 * rules (catalogRuleGroups, as check-dashboards), evaluated on `prom` now (or at `time`, Unix seconds). `text` lists the
 * "not available" panels.
 */
export async function panelValues(prom: RunningPrometheus, spec = realTransformersSpec(), rateInterval = '1m', time?: number): Promise<{ values: PanelValue[]; text: Array<{ dashboard: string; panel: string }> }> {
  const plan = planOrThrow(spec);
  const vars = { namespace: spec.namespace, model: spec.spec.models![0].name, rank: '.*', node: '.*', datasource: 'prometheus', __rate_interval: rateInterval };
  const values: PanelValue[] = [];
  const text: Array<{ dashboard: string; panel: string }> = [];
  const query = async (expr: string): Promise<{ values: number[]; error?: string }> => {
    const res = await fetch(`${prom.url}/api/v1/query`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ query: expr, ...(time !== undefined ? { time: String(time) } : {}) }).toString() });
    const body: any = await res.json();
    if (body.status !== 'success') return { values: [], error: body.error };
    const result = body.data.result;
    return Array.isArray(result) ? { values: result.map((r: any) => Number(r.value[1])) } : { values: [Number(result[1])] };
  };
  for (const d of stackDashboards(plan).filter((x) => /transformers/.test(x.title))) {
    const q = dashboardQueries(d);
    for (const t of q.text) text.push({ dashboard: d.title, panel: t });
    for (const { panel, expr } of q.queries) {
      const e = substituteVariables(expr, vars);
      values.push({ dashboard: d.title, panel, expr: e, ...(await query(e)) });
    }
  }
  for (const { engine, group, signals } of catalogRuleGroups({ transformers: spec.spec.models![0].engineVersion })) {
    if (engine !== 'transformers') continue;
    for (const [name, expr] of signals) values.push({ dashboard: `rules: ${group.name}`, panel: name, expr, ...(await query(expr)) });
  }
  return { values, text };
}

/** Raw samples of a series set over the last `range` (Prometheus range-vector selector), oldest first: [seconds, value]. */
export async function rawSamples(prom: RunningPrometheus, selector: string, range = '10m'): Promise<Array<{ labels: Record<string, string>; samples: Array<[number, number]> }>> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(`${selector}[${range}]`)}`);
  const body: any = await res.json();
  if (body.status !== 'success') throw new Error(`${selector}: ${JSON.stringify(body)}`);
  return body.data.result.map((r: any) => ({ labels: r.metric, samples: r.values.map(([t, v]: [number, string]) => [t, Number(v)]) }));
}
