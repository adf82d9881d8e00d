/**
 * Query-cost benchmark of the dashboards, on a real Prometheus holding the
 * series of many inference pods.
 *
 * For each engine: the engine's real `/metrics` samples (test/fixtures/metrics)
 * become the series of `--pods` pods spread over `--models` models, with the
 * target labels the stack's scrape configuration gives (job, instance,
 * namespace, pod, container, node, model, inference_engine), plus DCGM series
 * for one GPU per pod. Counters grow, gauges move, over `--minutes` of history
 * at the 15 s scrape interval. `promtool tsdb create-blocks-from openmetrics`
 * writes them as TSDB blocks; the stack's recording rules are backfilled with
 * `promtool tsdb create-blocks-from rules`, as after an hour of evaluation.
 *
 * Then every panel query of the engine's dashboards (and the GPU dashboard) is
 * run as Grafana runs it for the default "last hour" view: a range query,
 * 15 s step (the datasource's time interval), `$__rate_interval` = 1m,
 * "All" models as Grafana's regex of every value. Each query is timed through
 * the HTTP API (`--reps` times after a warm-up); p50/p95 per panel.
 *
 *   npm run bench:queries [-- --pods 100 --models 10 --minutes 60 --reps 20 --engines vllm,lmdeploy]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildRuleFiles } from '../src/alerts/rules';
import { dashboardQueries, findFixtures, Fixture, substituteVariables } from '../src/check/check-dashboards';
import { configYaml } from '../src/config-yaml';
import { catalogDashboards } from '../src/dashboards';
import { ENGINE_NAMES } from '../src/engines/engine-ids';
import { EngineName } from '../src/engines/profile';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../src/monitoring-labels';
import { planStack } from '../src/plan/plan';
import { DCGM_JOB, DCGM_PORT } from '../src/prometheus/prometheus-config';
import { prometheusBinDir, REPO } from '../test/harness/binaries';
import { startPrometheusIn } from '../test/harness/prometheus';

const NAMESPACE = 'llm';
const SCRAPE_SECONDS = 15;
/** Grafana's `$__rate_interval` with a 15 s scrape interval and a 15 s step: max(step + scrape, 4 × scrape). */
const RATE_INTERVAL = '1m';
const GPUS_PER_NODE = 4;

interface Series { readonly name: string; readonly labels: string; readonly v0: number; readonly counter: boolean }

/** Samples of an exposition-format file, each marked counter-like (never decreases) or not. */
function parseSamples(text: string): Series[] {
  const types = new Map<string, string>();
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    const declared = /^# TYPE (\S+) (\S+)/.exec(line);
    if (declared) types.set(declared[1], declared[2]);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1].endsWith('_created')) continue;
    const [, name, labels = '', value] = m;
    const family = [...types.keys()].find((f) => name === f || name.startsWith(`${f}_`));
    const type = family ? types.get(family) : undefined;
    const counter = type === 'counter' || ((type === 'histogram' || type === 'summary') && /_(bucket|count|sum)$/.test(name)) || (!type && /_(total|count|sum|bucket)$/.test(name));
    out.push({ name, labels, v0: Number(value), counter });
  }
  return out;
}

/** Every target's `up` series, as Prometheus writes it on each scrape. */
const UP: Series = { name: 'up', labels: '', v0: 1, counter: false };

const labelText = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
const join = (a: string, b: string) => (a && b ? `${a},${b}` : a || b);
const modelName = (i: number) => `model-${i}`;
const podName = (engine: string, pod: number, models: number) => `${modelName(pod % models)}-${engine}-${pod}`;

/**
 * Writes the OpenMetrics backfill input for one engine: time-major, one line
 * per series per scrape. Returns the number of samples.
 */
async function writeOpenMetrics(file: string, engine: EngineName, fixtures: Fixture[], dcgm: Fixture | undefined, pods: number, models: number, start: number, steps: number): Promise<{ samples: number; series: number }> {
  const keys: Array<{ key: string; s: Series; phase: number; scale: number }> = [];
  for (let p = 0; p < pods; p++) {
    const node = Math.floor(p / GPUS_PER_NODE);
    fixtures.forEach((f, rank) => {
      const target = labelText({
        job: modelName(p % models), instance: `10.1.${node}.${(p % GPUS_PER_NODE) + 1}:${8000 + rank}`, namespace: NAMESPACE,
        pod: podName(engine, p, models), container: 'engine', node: `gpu-node-${node}`,
        [SERIES_MODEL_LABEL]: modelName(p % models), [SERIES_ENGINE_LABEL]: engine,
      });
      for (const s of parseSamples(fs.readFileSync(f.file, 'utf8'))) keys.push({ key: `${s.name}{${join(s.labels, target)}}`, s, phase: p, scale: 0.5 + (p % 10) / 10 });
      keys.push({ key: `up{${target}}`, s: UP, phase: p, scale: 1 });
    });
  }
  if (dcgm) {
    // One exporter per node; each GPU is bound to one of the engine's pods.
    const gpuSeries = parseSamples(fs.readFileSync(dcgm.file, 'utf8'));
    for (let node = 0; node * GPUS_PER_NODE < pods; node++) {
      for (const s of gpuSeries) {
        const gpu = Number(/gpu="(\d+)"/.exec(s.labels)?.[1] ?? 0);
        const p = node * GPUS_PER_NODE + gpu;
        if (p >= pods) continue;
        const own = s.labels
          .replace(/Hostname="[^"]*"/, `Hostname="gpu-node-${node}"`)
          .replace(/UUID="([^"]*)"/, `UUID="GPU-${String(node).padStart(8, '0')}-${gpu}"`)
          .replace(/,?container="[^"]*",namespace="[^"]*",pod="[^"]*"/, '');
        const labels = join(own, labelText({ container: 'engine', namespace: NAMESPACE, pod: podName(engine, p, models), job: DCGM_JOB, instance: `10.0.0.${node}:${DCGM_PORT}`, node: `gpu-node-${node}` }));
        keys.push({ key: `${s.name}{${labels}}`, s, phase: p, scale: 1 });
      }
      keys.push({ key: `up{${labelText({ job: DCGM_JOB, instance: `10.0.0.${node}:${DCGM_PORT}`, node: `gpu-node-${node}` })}}`, s: UP, phase: 0, scale: 1 });
    }
  }
  const out = fs.createWriteStream(file);
  const write = (chunk: string) => new Promise<void>((resolve) => (out.write(chunk) ? resolve() : out.once('drain', () => resolve())));
  for (let k = 0; k < steps; k++) {
    const ts = start + k * SCRAPE_SECONDS;
    const lines: string[] = [];
    for (const { key, s, phase, scale } of keys) {
      // Counters grow linearly from 0 (histogram buckets stay cumulative); gauges swing within ±25% (0/1 flags stay).
      const v = s.counter ? s.v0 * scale * ((k + 1) / steps) : s.v0 === 0 || s.v0 === 1 ? s.v0 : s.v0 * (0.75 + 0.25 * Math.sin(k / 20 + phase));
      lines.push(`${key} ${Number(v.toPrecision(8))} ${ts}`);
    }
    await write(`${lines.join('\n')}\n`);
  }
  await write('# EOF\n');
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { samples: keys.length * steps, series: keys.length };
}

/** Prometheus on the benchmark's data dir, with room for the backfilled history. */
const startPrometheus = (dir: string) => startPrometheusIn(dir, { args: ['--storage.tsdb.retention.time=30d'], readyTimeoutMs: 120_000 });

async function api(url: string, endpoint: string, params: Record<string, string>): Promise<any> {
  const query = new URLSearchParams(params).toString();
  // Label values are GET only; queries are POSTed, as Grafana does.
  const res = endpoint.startsWith('/api/v1/label/')
    ? await fetch(`${url}${endpoint}?${query}`)
    : await fetch(`${url}${endpoint}`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: query });
  const body: any = await res.json();
  if (body.status !== 'success') throw new Error(`${endpoint} ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

const percentile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]; };

interface Row { engine: string; dashboard: string; panel: string; series: number; p50: number; p95: number; expr: string }

async function benchEngine(engine: EngineName, opts: { pods: number; models: number; minutes: number; reps: number; withGpu: boolean }, tmp: string): Promise<{ rows: Row[]; samples: number; series: number; setup: Record<string, number> }> {
  const all = findFixtures(path.join(REPO, 'test', 'fixtures', 'metrics'));
  const fixtures = all.filter((f) => f.engine === engine);
  const dcgm = all.find((f) => f.engine === 'dcgm');
  const dir = fs.mkdtempSync(path.join(tmp, `${engine}-`));
  const promtool = path.join(prometheusBinDir(), 'promtool');
  const setup: Record<string, number> = {};
  const timed = async <T>(what: string, f: () => Promise<T> | T): Promise<T> => { const t = Date.now(); const r = await f(); setup[what] = (Date.now() - t) / 1000; return r; };

  // History ends at the last full minute; one rate window more than the shown range.
  const end = Math.floor(Date.now() / 60_000) * 60 - 60;
  const start = end - (opts.minutes + 10) * 60;
  const steps = Math.floor((end - start) / SCRAPE_SECONDS) + 1;
  const { samples, series } = await timed('generate', () => writeOpenMetrics(path.join(dir, 'series.om'), engine, fixtures, dcgm, opts.pods, opts.models, start, steps));
  await timed('backfill', () => execFileSync(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', path.join(dir, 'series.om'), path.join(dir, 'data')], { stdio: 'ignore' }));
  fs.rmSync(path.join(dir, 'series.om'));

  // The stack's own rule files for these models.
  const plan = planStack({ name: 'bench', namespace: NAMESPACE, spec: { models: Array.from({ length: opts.models }, (_, i) => ({ name: modelName(i), model: 'org/model', engine })) } });
  if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
  const ruleFiles = Object.entries(buildRuleFiles(plan.value));
  for (const [name, file] of ruleFiles) fs.writeFileSync(path.join(dir, name), configYaml(file));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), configYaml({ global: { scrape_interval: `${SCRAPE_SECONDS}s`, evaluation_interval: '1m' }, rule_files: ruleFiles.map(([n]) => path.join(dir, n)), scrape_configs: [] }));

  let prom = await startPrometheus(dir);
  await timed('rules backfill', () => execFileSync(promtool, ['tsdb', 'create-blocks-from', 'rules', `--start=${start}`, `--end=${end}`, `--url=${prom.url}`, `--output-dir=${path.join(dir, 'rules-data')}`, ...ruleFiles.map(([n]) => path.join(dir, n))], { stdio: 'ignore' }));
  await prom.stop();
  for (const block of fs.readdirSync(path.join(dir, 'rules-data'))) fs.renameSync(path.join(dir, 'rules-data', block), path.join(dir, 'data', block));
  prom = await startPrometheus(dir);

  try {
    const recorded = await api(prom.url, '/api/v1/query', { query: 'count({__name__=~"namespace_model:.+"})', time: String(end) });
    setup['recorded series'] = Number(recorded.result[0]?.value[1] ?? 0);
    // Grafana's "All" for a multi-value variable: a regex of every value.
    const values = async (label: string, match: string) => (await api(prom.url, `/api/v1/label/${label}/values`, { 'match[]': match, start: String(end - 3600), end: String(end) })) as string[];
    const allOf = (xs: string[]) => `(${xs.map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&')).join('|')})`;
    const vars = {
      datasource: 'prometheus', namespace: NAMESPACE, __rate_interval: RATE_INTERVAL,
      model: allOf(await values(SERIES_MODEL_LABEL, `{${SERIES_ENGINE_LABEL}="${engine}"}`)),
      rank: allOf(await values('engine', `{${SERIES_ENGINE_LABEL}="${engine}"}`)),
      node: allOf(await values('Hostname', '{__name__=~"DCGM_.+"}')),
    };
    const rows: Row[] = [];
    for (const { engine: owner, dashboard } of catalogDashboards()) {
      if (owner ? owner !== engine : !opts.withGpu) continue;
      const queries = dashboardQueries(dashboard).queries;
      for (const q of queries) {
        const sameTitle = queries.filter((x) => x.panel === q.panel);
        const panel = sameTitle.length > 1 ? `${q.panel} (query ${sameTitle.indexOf(q) + 1})` : q.panel;
        const expr = substituteVariables(q.expr, vars);
        const params = { query: expr, start: String(end - 3600), end: String(end), step: String(SCRAPE_SECONDS) };
        const first = await api(prom.url, '/api/v1/query_range', params);
        const ms: number[] = [];
        for (let r = 0; r < opts.reps; r++) {
          const t = process.hrtime.bigint();
          await api(prom.url, '/api/v1/query_range', params);
          ms.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
        rows.push({ engine: owner ?? 'dcgm', dashboard: dashboard.title, panel, series: first.result.length, p50: percentile(ms, 0.5), p95: percentile(ms, 0.95), expr });
      }
    }
    return { rows, samples, series, setup };
  } finally {
    await prom.stop();
    if (!process.env.CIM_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
  const engines = opt('engines', ENGINE_NAMES.join(',')).split(',') as EngineName[];
  const opts = { pods: Number(opt('pods', '100')), models: Number(opt('models', '10')), minutes: Number(opt('minutes', '60')), reps: Number(opt('reps', '20')) };
  const budgetMs = Number(opt('budget-ms', '100'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-queries-'));
  const rows: Row[] = [];
  console.log(`query-cost benchmark — node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${opts.pods} pods per engine over ${opts.models} models, ${opts.minutes} min at ${SCRAPE_SECONDS}s; range queries over 1h, step ${SCRAPE_SECONDS}s; ${opts.reps} timed runs per query`);
  try {
    for (const [i, engine] of engines.entries()) {
      const r = await benchEngine(engine, { ...opts, withGpu: i === 0 }, tmp);
      console.log(`${engine}: ${r.series} series, ${(r.samples / 1e6).toFixed(1)}M samples; ${Object.entries(r.setup).map(([k, v]) => `${k} ${v}${k.includes('series') ? '' : ' s'}`).join(', ')}`);
      rows.push(...r.rows);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log('| engine | dashboard | panel | series | p50 ms | p95 ms |');
  console.log('|---|---|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.engine} | ${r.dashboard} | ${r.panel} | ${r.series} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} |`);
  const over = rows.filter((r) => r.p95 >= budgetMs);
  const empty = rows.filter((r) => r.series === 0);
  console.log(`${rows.length} panel queries; slowest p95 ${Math.max(...rows.map((r) => r.p95)).toFixed(1)} ms; ${over.length} at or over ${budgetMs} ms; ${empty.length} without data`);
  for (const r of over) console.log(`OVER BUDGET [${r.engine}] ${r.dashboard} / ${r.panel}: p95 ${r.p95.toFixed(1)} ms\n  ${r.expr}`);
  for (const r of empty) console.log(`NO DATA [${r.engine}] ${r.dashboard} / ${r.panel}\n  ${r.expr}`);
}

main().catch((err) => { console.error(err); process.exit(1); });
