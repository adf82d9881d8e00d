/**
 * `check-dashboards`: proves that dashboards and rules show data on real
 * `/metrics` samples. It serves each sample on a loopback port, scrapes them
 * with a local Prometheus (labelled as the stack's scrape configuration labels
 * pods), evaluates every panel query (Grafana variables substituted as Grafana
 * would) and the signal under every alert and recording rule, and reports the
 * share of queries that return at least one series, with each series' value
 * (so a caller can check numbers, not only presence: the CLI's `--expect`).
 * Samples recorded over an interval (`*.before.prom` + `stats.json`) are
 * served with counters growing over it, so rates are the recorded rates.
 */
import { durationMs } from '../duration';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { catalogDashboards, DashboardJson } from '../dashboards';
import { ENGINE_NAMES } from '../engines/engine-ids';
import { EngineName, availableSignals } from '../engines/profile';
import { PROFILES } from '../engines/registry';
import { agg, bin, call, histogramQuantile, increase, m as matcher, print, sel } from '../promql/ast';
import { catalogRuleGroups } from '../alerts/rules';
import { configYaml } from '../config-yaml';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';
import { ScrapeConfig } from '../prometheus/config-types';
import { DCGM_JOB, addOtlp } from '../prometheus/prometheus-config';
import { PrometheusConfig } from '../prometheus/config-types';
import { otlpMetricsEnv } from '../plan/plan';
import { SpecSchema } from '../api/schema';
import { exportRequest, pushOtlp } from './otlp-push';

/** Namespace and pod names the samples are labelled with (`<engine>-0`, as DCGM samples name GPU pods). */
export const CHECK_NAMESPACE = 'llm';

export interface QueryResult {
  readonly engine: string;
  readonly dashboard: string;
  readonly panel: string;
  readonly expr: string;
  readonly series: number;
  /** The value of each returned series (instant query), in the order Prometheus returned them. */
  readonly values: readonly number[];
  readonly error?: string;
}

export interface CheckReport {
  readonly results: readonly QueryResult[];
  /** Panels that show a "not available" text instead of a query, with their reason. */
  readonly unavailable: ReadonlyArray<{ engine: string; dashboard: string; panel: string }>;
  /**
   * For samples recorded over an interval, with `minScrapes` seconds longer
   * than the rate interval: whether the queries ran at a time whose rate
   * window held a scrape at every second (rates are then exact); false when
   * scrapes kept missing seconds until the warm-up deadline and the queries
   * ran at the time of the check.
   */
  readonly completeWindow?: boolean;
  /**
   * Histogram signals whose recorded values cannot be what they claim: the median observation in the top
   * (+Inf) bucket, or the mean beyond the largest bound. Presence is not enough: transformers 5.x records a
   * 120 ms time to first token as 1.8e12 ms, and every panel on it "has data". And, for samples recorded
   * over an interval, a running-requests gauge above 0 through the rate window while the token (or
   * finished-request) counter did not grow: transformers keeps its last active count when it goes idle.
   */
  readonly implausible: ReadonlyArray<{ engine: string; signal: string; metric: string; what: string; value: number; bound?: number }>;
}

export interface Fixture {
  readonly engine: EngineName | 'dcgm';
  readonly rank?: number;
  readonly file: string;
  /**
   * `<name>.before.prom`: the same endpoint at the start of an interval of
   * `intervalSeconds` (from `stats.json`, as tools/engine-metrics records
   * them). Counters and histograms are then served as growing linearly from
   * the `before` values to the `after` values over that interval (and on at
   * the same slope), so a rate over any window equals what the engine counted
   * in the interval divided by its length.
   */
  readonly before?: string;
  readonly intervalSeconds?: number;
}

/** `<engine>.prom`, `<engine>-rank<N>.prom` and `dcgm.prom` in a directory (with `<name>.before.prom` and `stats.json` when recorded). */
export function findFixtures(dir: string): Fixture[] {
  const out: Fixture[] = [];
  const statsFile = path.join(dir, 'stats.json');
  const intervalSeconds = fs.existsSync(statsFile) ? Number(JSON.parse(fs.readFileSync(statsFile, 'utf8')).interval_seconds) || undefined : undefined;
  for (const name of fs.readdirSync(dir).sort()) {
    const match = /^([a-z]+)(?:-rank(\d+))?\.prom$/.exec(name);
    if (!match) continue;
    const engine = match[1];
    if (engine !== 'dcgm' && !(ENGINE_NAMES as readonly string[]).includes(engine)) continue;
    const before = path.join(dir, name.replace(/\.prom$/, '.before.prom'));
    out.push({
      engine: engine as Fixture['engine'], rank: match[2] !== undefined ? Number(match[2]) : undefined, file: path.join(dir, name),
      ...(fs.existsSync(before) && intervalSeconds ? { before, intervalSeconds } : {}),
    });
  }
  return out;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(.*)$/;

/** Sample lines by their name and labels, and the `# TYPE` of each family. */
function parseExposition(text: string): { values: Map<string, number>; types: Map<string, string> } {
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) { types.set(t[1], t[2]); continue; }
    const m = SAMPLE_LINE.exec(line);
    if (m && !line.startsWith('#')) values.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return { values, types };
}

/**
 * The exposition at `elapsedSeconds` into a recorded interval: counter and
 * histogram samples at `before + (after - before) * elapsed / interval`,
 * gauges as `after` has them. A counter or histogram series absent from
 * `before` was created during the interval (engines create labelled children
 * at their first event) and counts from 0. With `timestampMs`, every sample
 * line without a timestamp of its own is stamped with it.
 */
export function interpolateExposition(before: string, after: string, elapsedSeconds: number, intervalSeconds: number, timestampMs?: number): string {
  const b = parseExposition(before);
  const { types } = parseExposition(after);
  const growing = (sample: string) => {
    for (const suffix of ['', '_total', '_bucket', '_sum', '_count']) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const kind = types.get(suffix ? sample.slice(0, -suffix.length) : sample);
      if (kind) return kind === 'counter' || kind === 'histogram' || kind === 'summary';
    }
    return false;
  };
  const f = elapsedSeconds / intervalSeconds;
  return after.split('\n').map((line) => {
    const m = SAMPLE_LINE.exec(line);
    if (!m || line.startsWith('#')) return line;
    const stamp = timestampMs !== undefined && m[4].trim() === '' ? ` ${timestampMs}` : m[4];
    if (!growing(m[1])) return `${m[1]}${m[2] ?? ''} ${m[3]}${stamp}`;
    const start = b.values.get(`${m[1]}${m[2] ?? ''}`) ?? 0;
    const value = start + (Number(m[3]) - start) * f;
    return `${m[1]}${m[2] ?? ''} ${value}${stamp}`;
  }).join('\n');
}

/** Grafana's substitution for one selected value; regex contexts get the value escaped. */
export function substituteVariables(expr: string, vars: Record<string, string>): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, vars.__rate_interval ?? '1m')
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, a, b) => {
      const name = a ?? b;
      return name in vars ? vars[name] : whole;
    });
}

/** Every PromQL target of a dashboard with its panel title; text panels are listed apart. */
export function dashboardQueries(d: DashboardJson): { queries: Array<{ panel: string; expr: string }>; text: string[] } {
  const queries: Array<{ panel: string; expr: string }> = [];
  const text: string[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      if (p.type === 'row') { walk(p.panels); continue; }
      if (p.type === 'text') { text.push(p.title); continue; }
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') queries.push({ panel: p.title, expr: t.expr });
    }
  };
  walk((d as any).panels);
  return { queries, text };
}

/** Where the prometheus binary is: flag, env, the tools/ build cache, then PATH. */
export function findPrometheus(explicit?: string): string {
  const candidates = [
    explicit,
    process.env.PROMETHEUS_BIN,
    process.env.CIM_PROMETHEUS_BIN && path.join(process.env.CIM_PROMETHEUS_BIN, 'prometheus'),
  ].filter((x): x is string => !!x);
  const cache = path.join(process.env.CIM_CACHE ?? path.join(os.homedir(), '.cache', 'cdk8s-inference-monitoring'), 'prometheus');
  if (fs.existsSync(cache)) for (const v of fs.readdirSync(cache).sort().reverse()) candidates.push(path.join(cache, v, 'prometheus'));
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) candidates.push(path.join(dir, 'prometheus'));
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error('no prometheus binary: pass --prometheus <path>, set PROMETHEUS_BIN, or run tools/build-prometheus.sh');
  return found;
}

/** A free loopback TCP port (bind to 0, read, release). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/**
 * Recorded intervals are served on a one-second grid that starts at the first
 * scrape of each sample: a scrape gets the exposition of the nearest grid
 * second, stamped with it (Prometheus keeps a target's timestamps). Values then
 * do not depend on how late a loaded machine answers (up to half a second),
 * and the check can query at a time whose rate window holds a scrape at every
 * grid second, where rate() is the samples' slope exactly.
 */
const GRID_MS = 1000;

interface Served { server: http.Server; port: number; fixture: Fixture; seconds: Set<number> }

function serve(f: Fixture): Promise<Served> {
  const after = fs.readFileSync(f.file, 'utf8');
  const before = f.before ? fs.readFileSync(f.before, 'utf8') : undefined;
  const started = Date.now();
  let first: number | undefined;
  const seconds = new Set<number>();
  const respond = (res: http.ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    if (!before || !f.intervalSeconds) { res.end(after); return; }
    const now = Date.now();
    first ??= now;
    const at = first + Math.round((now - first) / GRID_MS) * GRID_MS;
    res.end(interpolateExposition(before, after, (at - started) / 1000, f.intervalSeconds, at), () => seconds.add(at));
  };
  return new Promise((resolve, reject) => {
    const server = http.createServer((_req, res) => respond(res));
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port, fixture: f, seconds }));
  });
}

/**
 * The latest evaluation time `t` in `[notBefore, notAfter]` (100 ms steps)
 * whose rate window `(t - windowMs, t]` holds a served scrape at every grid
 * second of every interval-recorded sample: there every rate() is the slope
 * (no gap near an edge for Prometheus to extrapolate over). Undefined when no
 * such time exists yet.
 */
export function completeWindowTime(served: ReadonlyArray<{ seconds: ReadonlySet<number> }>, windowMs: number, notBefore: number, notAfter: number): number | undefined {
  const grids = served.map((s) => [...s.seconds].sort((x, y) => x - y));
  if (grids.some((g) => g.length === 0)) return undefined;
  const complete = (t: number) => grids.every((g) => {
    // The grid is first + k s: the window must hold each of its seconds.
    const inWindow = g.filter((x) => x > t - windowMs && x <= t);
    if (inWindow.length === 0) return false;
    const phase = ((g[0] % GRID_MS) + GRID_MS) % GRID_MS;
    const due = Math.floor((t - phase) / GRID_MS) - Math.floor((t - windowMs - phase) / GRID_MS);
    return inWindow.length === due;
  });
  for (let t = notAfter; t >= notBefore; t -= 100) if (complete(t)) return t;
  return undefined;
}

/** Whether the sample's engine pushes OTLP (nothing scrapes it). */
export function pushes(f: Fixture): boolean {
  return f.engine !== 'dcgm' && PROFILES[f.engine].metrics.kind === 'otlp-push';
}

/** The stack's default `monitoring.interval`: the push interval an OTLP-pushing engine is rendered with. */
export const DEFAULT_PUSH_INTERVAL: string = (SpecSchema.properties.monitoring.properties.interval as { default: string }).default;

/**
 * What an OTLP-pushing engine is rendered with (the env of `otlpMetricsEnv`): its resource attributes, with
 * the pod's namespace and name as the check labels samples, and its push interval in ms.
 */
export function pushedAs(engine: EngineName, interval: string): { resource: Record<string, string>; intervalMs: number } {
  const env = new Map(otlpMetricsEnv('', engine, engine, interval).map((e) => [e.name, e.value ?? '']));
  const resource: Record<string, string> = { 'service.name': engine, 'service.instance.id': `${engine}-0` };
  for (const pair of (env.get('OTEL_RESOURCE_ATTRIBUTES') ?? '').split(',')) {
    const [k, v] = pair.split('=');
    resource[k] = v.replace('$(POD_NAMESPACE)', CHECK_NAMESPACE).replace('$(POD_NAME)', `${engine}-0`);
  }
  return { resource, intervalMs: Number(env.get('OTEL_METRIC_EXPORT_INTERVAL')) };
}

interface Pusher { readonly fixture: Fixture; pushes: number; error?: string; stop(): void }

/**
 * Pushes a sample as its engine would: at once, then every interval (the SDK's periodic reader), each push
 * stamped with its own time; recorded intervals grow as when scraped.
 */
function startPusher(f: Fixture, url: string, interval: string, started: number): Pusher {
  const after = fs.readFileSync(f.file, 'utf8');
  const before = f.before ? fs.readFileSync(f.before, 'utf8') : undefined;
  const { resource, intervalMs } = pushedAs(f.engine as EngineName, interval);
  const abort = new AbortController();
  const p: Pusher = { fixture: f, pushes: 0, stop: () => { clearInterval(timer); abort.abort(); } };
  const push = () => {
    const now = Date.now();
    const text = before && f.intervalSeconds ? interpolateExposition(before, after, (now - started) / 1000, f.intervalSeconds) : after;
    pushOtlp(url, exportRequest(text, resource, `check-dashboards ${f.engine}`, now, started), abort.signal)
      .then(() => { p.pushes++; }, (e: Error) => { if (!abort.signal.aborted) p.error = e.message; });
  };
  const timer = setInterval(push, intervalMs);
  push();
  return p;
}

/** Scrape jobs for the samples, with the target labels the stack's relabeling gives real pods. */
export function fixtureScrapeConfigs(fixtures: ReadonlyArray<Fixture & { port: number }>): ScrapeConfig[] {
  const jobs: ScrapeConfig[] = [];
  for (const f of fixtures) {
    if (pushes(f)) continue;
    if (f.engine === 'dcgm') {
      // Like the stack's DCGM job: no pod/namespace target labels, the exporter's own are kept.
      jobs.push({ job_name: `${DCGM_JOB}`, honor_labels: true, static_configs: [{ targets: [`127.0.0.1:${f.port}`], labels: { node: 'gpu-node-0' } }] });
      continue;
    }
    jobs.push({
      job_name: `${f.engine}${f.rank !== undefined ? `-rank${f.rank}` : ''}`,
      // Interval-recorded samples carry the grid second they were computed for (see serve()).
      honor_timestamps: true,
      static_configs: [{
        targets: [`127.0.0.1:${f.port}`],
        labels: { job: f.engine, namespace: CHECK_NAMESPACE, pod: `${f.engine}-0`, container: 'engine', [SERIES_MODEL_LABEL]: f.engine, [SERIES_ENGINE_LABEL]: f.engine },
      }],
    });
  }
  return jobs;
}

export interface CheckOptions {
  readonly fixturesDir: string;
  readonly prometheus?: string;
  /** Engine versions the dashboards are generated for. @default each profile's default version */
  readonly versions?: Partial<Record<EngineName, string>>;
  /** Most seconds to wait for every sample to be scraped `minScrapes` times. @default 60 */
  readonly warmupSeconds?: number;
  /**
   * What `$__rate_interval` becomes in panel queries. A rate equals the
   * samples' slope only once the window is covered by scrapes: check values
   * with a short interval and `minScrapes` above its length in seconds.
   * @default '1m'
   */
  readonly rateInterval?: string;
  /** Scrapes of every sample before queries run (rates need two). @default 3 */
  readonly minScrapes?: number;
  /**
   * The stack's `monitoring.interval`, which OTLP-pushing engines (transformers) are rendered to push at:
   * their samples are pushed to Prometheus' OTLP receiver at that cadence, as the engine would, so a rate
   * window that cannot hold two pushes shows no data here too.
   * @default the schema's default `monitoring.interval` (15s)
   */
  readonly pushInterval?: string;
  /** Deadline of the whole check, Prometheus' start and every request included. @default 300 */
  readonly timeoutSeconds?: number;
}

export async function checkDashboards(opts: CheckOptions): Promise<CheckReport> {
  const fixtures = findFixtures(opts.fixturesDir);
  if (fixtures.length === 0) throw new Error(`no <engine>.prom, <engine>-rank<N>.prom or dcgm.prom files in ${opts.fixturesDir}`);
  const servers: http.Server[] = [];
  const pushers: Pusher[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-check-'));
  let child: ChildProcess | undefined;
  const timeoutSeconds = opts.timeoutSeconds ?? 300;
  const overall = Date.now() + timeoutSeconds * 1000;
  // Every request ends by the deadline: a Prometheus that accepts connections and never answers must not hang the check.
  const fetch = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const left = overall - Date.now();
    if (left <= 0) throw new Error(`check-dashboards: not done within ${timeoutSeconds} s (timeoutSeconds)`);
    try {
      const deadline = AbortSignal.timeout(left);
      return await globalThis.fetch(url, { ...init, signal: init.signal ? AbortSignal.any([init.signal, deadline]) : deadline });
    } catch (e) {
      if ((e as Error).name === 'TimeoutError') throw new Error(`check-dashboards: Prometheus did not answer within ${timeoutSeconds} s (timeoutSeconds)`);
      throw e;
    }
  };
  try {
    const served: Array<Fixture & { port: number }> = [];
    const recorded: Served[] = [];
    for (const f of fixtures.filter((x) => !pushes(x))) {
      const s = await serve(f);
      servers.push(s.server);
      served.push({ ...f, port: s.port });
      if (f.before) recorded.push(s);
    }
    // The rules are loaded too: dashboards read histogram rates from recording rules.
    const enginesServed = new Set(fixtures.map((f) => f.engine));
    const groups = catalogRuleGroups(opts.versions).filter((g) => enginesServed.has(g.engine ?? 'dcgm')).map((g) => g.group);
    fs.writeFileSync(path.join(dir, 'rules.yml'), configYaml({ groups }));
    const config: PrometheusConfig = { global: { scrape_interval: '1s', evaluation_interval: '1s' }, rule_files: [path.join(dir, 'rules.yml')], scrape_configs: fixtureScrapeConfigs(served) };
    // The stack Prometheus' OTLP settings (promoted resource attributes, name translation).
    addOtlp(config);
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), configYaml(config));
    const port = await freePort();
    child = spawn(findPrometheus(opts.prometheus), [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-otlp-receiver', '--log.level=error'], { stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Math.min(overall, Date.now() + 60_000);
    for (;;) {
      try { if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok) break; } catch { /* starting */ }
      if (child.exitCode !== null || Date.now() > deadline) throw new Error('prometheus did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    const started = Date.now();
    for (const f of fixtures.filter(pushes)) pushers.push(startPusher(f, `${url}/api/v1/otlp/v1/metrics`, opts.pushInterval ?? DEFAULT_PUSH_INTERVAL, started));
    // rate() needs two samples in its window: wait until every target has been scraped three times, and
    // every pushed sample pushed twice (at the engine's cadence, that is one push interval).
    const targets = served.length;
    const warm = Date.now() + (opts.warmupSeconds ?? 60) * 1000;
    for (;;) {
      const failed = pushers.find((p) => p.error);
      if (failed) throw new Error(failed.error);
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(`count_over_time(up[5m]) >= ${opts.minScrapes ?? 3}`)}`);
      const body: any = await res.json();
      if (body.status === 'success' && body.data.result.length >= targets && pushers.every((p) => p.pushes >= 2)) break;
      if (Date.now() > warm) throw new Error(`the samples were not scraped ${opts.minScrapes ?? 3} times${pushers.length ? ' and pushed twice' : ''} in time (warmupSeconds)`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Then every rule group evaluates once more, over samples that have rates.
    const scraped = Date.now();
    let rulesEvaluated = scraped;
    for (;;) {
      const body: any = await (await fetch(`${url}/api/v1/rules`)).json();
      const evaluated = (body.data?.groups ?? []).filter((g: any) => Date.parse(g.lastEvaluation) > scraped);
      if (body.status === 'success' && evaluated.length === groups.length) {
        rulesEvaluated = Math.max(scraped, ...evaluated.map((g: any) => Date.parse(g.lastEvaluation)));
        break;
      }
      if (Date.now() > warm) throw new Error('the rules were not evaluated in time');
      await new Promise((r) => setTimeout(r, 500));
    }
    // Recorded intervals, with the window covered by scrapes (minScrapes, see rateInterval): query at a
    // time whose rate window has every grid second's scrape, once one exists.
    let at: number | undefined;
    const windowMs = durationMs(opts.rateInterval ?? '1m');
    const exact = recorded.length > 0 && (opts.minScrapes ?? 3) * GRID_MS > windowMs;
    if (exact) {
      for (;;) {
        // A scrape answered a moment ago may not be stored yet: look 250 ms back.
        at = completeWindowTime(recorded, windowMs, rulesEvaluated, Date.now() - 250);
        if (at !== undefined || Date.now() > warm) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    const query = async (expr: string): Promise<{ series: number; values: number[]; error?: string }> => {
      const res = await fetch(`${url}/api/v1/query`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ query: expr, ...(at !== undefined ? { time: String(at / 1000) } : {}) }).toString() });
      const body: any = await res.json();
      if (body.status !== 'success') return { series: 0, values: [], error: body.error };
      const result = body.data.result;
      if (!Array.isArray(result)) return { series: 1, values: [Number(result[1])] };
      return { series: result.length, values: result.map((r: any) => Number(r.value[1])) };
    };
    const enginesPresent = new Set(fixtures.map((f) => f.engine));
    const results: QueryResult[] = [];
    const unavailable: CheckReport['unavailable'][number][] = [];
    for (const { engine, dashboard } of catalogDashboards(opts.versions)) {
      const owner = engine ?? 'dcgm';
      if (!enginesPresent.has(owner)) continue;
      const vars = { namespace: CHECK_NAMESPACE, model: engine ?? Array.from(enginesPresent).filter((e) => e !== 'dcgm').join('|'), rank: '.*', node: '.*', datasource: 'prometheus', __rate_interval: opts.rateInterval ?? '1m' };
      const { queries, text } = dashboardQueries(dashboard);
      for (const t of text) unavailable.push({ engine: owner, dashboard: dashboard.title, panel: t });
      for (const q of queries) {
        const expr = substituteVariables(q.expr, vars);
        results.push({ engine: owner, dashboard: dashboard.title, panel: q.panel, expr, ...(await query(expr)) });
      }
    }
    for (const { engine, group, signals } of catalogRuleGroups(opts.versions)) {
      const owner = engine ?? 'dcgm';
      if (!enginesPresent.has(owner)) continue;
      for (const [name, expr] of signals) {
        results.push({ engine: owner, dashboard: `rules: ${group.name}`, panel: name, expr, ...(await query(expr)) });
      }
    }
    const implausible: CheckReport['implausible'][number][] = [];
    const overInterval = new Set(fixtures.filter((f) => f.before).map((f) => f.engine));
    for (const engine of [...enginesPresent].filter((e): e is EngineName => e !== 'dcgm')) {
      const profile = PROFILES[engine];
      for (const [signal, metric] of availableSignals(profile, opts.versions?.[engine] ?? profile.defaultVersion)) {
        if (metric.type !== 'histogram' || !metric.buckets?.length) continue;
        const top = metric.buckets[metric.buckets.length - 1];
        const only = [matcher(SERIES_ENGINE_LABEL, '=', engine)];
        // Everything observed since the samples began (cumulative), so static samples are checked too.
        const [median] = (await query(print(histogramQuantile(0.5, agg('sum', sel(`${metric.metric}_bucket`, only), ['le']))))).values;
        const [mean] = (await query(print(bin('/', agg('sum', sel(`${metric.metric}_sum`, only)), agg('sum', sel(`${metric.metric}_count`, only)))))).values;
        if (Number.isFinite(median) && median >= top) implausible.push({ engine, signal, metric: metric.metric, what: 'median observation in the top bucket', value: median, bound: top });
        if (Number.isFinite(mean) && mean > top) implausible.push({ engine, signal, metric: metric.metric, what: 'mean beyond the largest bucket bound', value: mean, bound: top });
      }
      // A gauge contradicting the counters: requests running through the whole window while the engine
      // generated no token (or, where it counts none, finished no request). Only samples recorded over an
      // interval say anything about time; a static sample's counters never move.
      if (!overInterval.has(engine)) continue;
      const signals = new Map(availableSignals(profile, opts.versions?.[engine] ?? profile.defaultVersion));
      const running = signals.get('requestsRunning');
      const [counterSignal, counter] = (['generationTokens', 'requestsFinished'] as const).map((n) => [n, signals.get(n)] as const).find(([, c]) => c) ?? [];
      if (!running || running.type !== 'gauge' || !counter) continue;
      const window = opts.rateInterval ?? '1m';
      const only = [matcher(SERIES_ENGINE_LABEL, '=', engine)];
      const counted = counter.type === 'histogram' ? `${counter.metric}_count` : counter.metric;
      const [least] = (await query(print(agg('sum', call('min_over_time', sel(running.metric, only, window)))))).values;
      const [grew] = (await query(print(agg('sum', increase(sel(counted, only, window)))))).values;
      if (least > 0 && grew === 0) {
        implausible.push({ engine, signal: 'requestsRunning', metric: running.metric, what: `requests running through the last ${window} while ${counterSignal} (${counted}) did not grow: a stale gauge`, value: least });
      }
    }
    return { results, unavailable, implausible, ...(exact ? { completeWindow: at !== undefined } : {}) };
  } finally {
    for (const p of pushers) p.stop();
    if (child && child.exitCode === null) {
      // SIGTERM, then SIGKILL: a Prometheus that ignores the first must not keep the check (and its port) alive.
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child!.kill('SIGKILL'), 5000);
        child!.once('exit', () => { clearTimeout(kill); resolve(); });
        child!.kill('SIGTERM');
      });
    }
    for (const s of servers) s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Share of queries with data per engine and dashboard, as a printable table. */
export function coverageTable(report: CheckReport): { rows: Array<{ engine: string; dashboard: string; withData: number; total: number }>; complete: boolean } {
  const groups = new Map<string, { engine: string; dashboard: string; withData: number; total: number }>();
  for (const r of report.results) {
    const k = `${r.engine}\u0000${r.dashboard}`;
    const g = groups.get(k) ?? { engine: r.engine, dashboard: r.dashboard, withData: 0, total: 0 };
    g.total++;
    if (r.series > 0) g.withData++;
    groups.set(k, g);
  }
  const rows = [...groups.values()];
  return { rows, complete: rows.every((r) => r.withData === r.total) };
}
