/**
 * `check-dashboards` on what each engine's released code exported
 * (test/fixtures/engines/<engine>-<version>/, recorded by
 * tools/engine-metrics/record.py), at the version it was recorded from:
 * every panel and rule signal has data, and the numbers equal what the stats
 * fed to the engine imply — requests running and waiting, KV-cache usage, token
 * and request rates, preemptions, latency quantiles within the right bucket —
 * for multi-rank layouts: vLLM with 2 data-parallel engines (multiprocess mode
 * over 2 API servers from the release where that is the default), LMDeploy with
 * one server per rank, SGLang with 2 DP ranks x 2 TP/EP schedulers that all
 * report (--enable-metrics-for-all-schedulers).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CheckReport, checkDashboards, coverageTable } from '../../src/check/check-dashboards';
import { EngineName, signalMetric } from '../../src/engines/profile';
import { PROFILES } from '../../src/engines/registry';
import { havePrometheus } from '../harness/binaries';
import { ENGINE_FIXTURES, scrapedRecordings } from '../harness/engine-fixtures';

interface Req { prompt_tokens: number; generation_tokens: number; ttft: number; itl: number; queue_time: number; e2e: number; finish_reason: string }
interface Phase { running: number; waiting: number; kv_cache_usage: number; prefix_cache_hit_rate: number; requests: Req[]; retractions?: number; aborted?: number }
interface Stats { interval_seconds: number; ranks: Array<{ rank: number; before: Phase; after: Phase }> }

const dirs = scrapedRecordings().map((r) => r.name);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** What the fed stats imply for each figure. */
function expected(s: Stats) {
  const after = s.ranks.map((r) => r.after);
  const reqs = after.flatMap((a) => a.requests);
  return {
    running: sum(after.map((a) => a.running)),
    waiting: sum(after.map((a) => a.waiting)),
    kvWorst: Math.max(...after.map((a) => a.kv_cache_usage)),
    runningPerRank: after.map((a) => a.running).sort((a, b) => a - b),
    decodePerSecond: sum(reqs.map((r) => r.generation_tokens)) / s.interval_seconds,
    prefillPerSecond: sum(reqs.map((r) => r.prompt_tokens)) / s.interval_seconds,
    requestsPerSecond: reqs.length / s.interval_seconds,
    preemptionsPerSecond: sum(after.map((a) => a.retractions ?? 0)) / s.interval_seconds,
    errorRatio: sum(after.map((a) => a.aborted ?? 0)) / (reqs.length + sum(after.map((a) => a.aborted ?? 0))),
    ttft: reqs.map((r) => r.ttft).sort((a, b) => a - b),
    // Every rank was fed as many prefix-cache queries, so the pooled hit rate is the mean of the ranks' rates.
    prefixHitRate: sum(after.map((a) => a.prefix_cache_hit_rate)) / after.length,
  };
}

/** The bucket (lower, upper] that holds the q-quantile of `observations`: where Prometheus' interpolated quantile must fall. */
function bucketOf(observations: number[], q: number, bounds: readonly number[]): [number, number] {
  const v = observations[Math.ceil(q * observations.length) - 1];
  const i = bounds.findIndex((b) => v <= b);
  return [i > 0 ? bounds[i - 1] : 0, bounds[i]];
}

const one = (report: CheckReport, panel: string, dashboard = /Inference serving/): readonly number[] => {
  const r = report.results.filter((x) => x.panel === panel && dashboard.test(x.dashboard));
  expect({ panel, queries: r.length }).toEqual({ panel, queries: r.length || 1 });
  return r[0].values;
};

/**
 * Rates to a millionth: samples are stamped with the second their values are
 * for, and queried where the rate window holds every second's scrape, so a
 * rate is the slope up to rounding. A rank dropped or counted twice is off by
 * 40% or more.
 */
const expectRate = (actual: number, want: number) => expect(Math.abs(actual - want)).toBeLessThanOrEqual(1e-6 * Math.abs(want) + 1e-9);

const runIf = havePrometheus() ? describe : describe.skip;

runIf.each(dirs)('recorded %s', (dir) => {
  const [, engine, version] = /^([a-z]+)-(.+)$/.exec(dir)! as unknown as [string, EngineName, string];
  const stats: Stats = JSON.parse(fs.readFileSync(path.join(ENGINE_FIXTURES, dir, 'stats.json'), 'utf8'));
  const want = expected(stats);
  const profile = PROFILES[engine];
  let report: CheckReport;

  beforeAll(async () => {
    // A 10 s rate window over 15 scrapes at 1 s: every rate is the recorded interval's slope.
    report = await checkDashboards({ fixturesDir: path.join(ENGINE_FIXTURES, dir), versions: { [engine]: version }, rateInterval: '10s', minScrapes: 15, warmupSeconds: 90 });
  }, 150_000);

  test('every panel and rule signal has data', () => {
    const empty = report.results.filter((r) => r.series === 0).map((r) => `${r.dashboard} / ${r.panel}: ${r.expr}`);
    expect(empty).toEqual([]);
    expect(coverageTable(report).complete).toBe(true);
    expect(report.completeWindow).toBe(true);
  });

  test('nothing implausible on the engine\'s own recording (no histogram beyond its buckets, no running gauge without generated tokens)', () => {
    expect(report.implausible).toEqual([]);
  });

  test('running and waiting requests, and the worst KV-cache usage, are what the ranks reported', () => {
    expect(one(report, 'Active (running) requests')).toEqual([want.running]);
    expect(one(report, 'Waiting requests')).toEqual([want.waiting]);
    expect(one(report, 'KV-cache usage (worst pod/rank)')[0]).toBeCloseTo(want.kvWorst, 9);
    expect([...one(report, 'Running requests per data-parallel rank')].sort((a, b) => a - b)).toEqual(want.runningPerRank);
    expect(one(report, 'alert InferenceQueueBuildUp', /^rules/)).toEqual([want.waiting]);
    expect(one(report, 'alert InferenceKVCacheSaturated', /^rules/)[0]).toBeCloseTo(want.kvWorst, 9);
  });

  test('token and request rates are the interval\'s tokens and requests per second', () => {
    expectRate(one(report, 'Decode tokens/s')[0], want.decodePerSecond);
    expectRate(one(report, 'Prefill tokens/s')[0], want.prefillPerSecond);
    expectRate(one(report, 'Requests/s')[0], want.requestsPerSecond);
    expectRate(one(report, 'Decode/prefill ratio')[0], want.decodePerSecond / want.prefillPerSecond);
  });

  test('the error ratio is the share of aborted requests (0 where none failed)', () => {
    expectRate(one(report, 'Error ratio')[0], want.errorRatio);
  });

  test('the prefix-cache hit rate is the ranks\' hit rate', () => {
    if (report.unavailable.some((u) => u.panel === 'Prefix-cache hit rate')) return expect(signalMetric(profile, 'prefixCacheHitRate', version) ?? signalMetric(profile, 'prefixCacheHits', version)).toBeUndefined();
    expectRate(one(report, 'Prefix-cache hit rate')[0], want.prefixHitRate);
  });

  test('preemptions per second are the interval\'s preemptions, each counted once', () => {
    if (!signalMetric(profile, 'preemptions', version)) return expect(report.unavailable.map((u) => u.panel)).toContain('Preemptions/s');
    expectRate(one(report, 'Preemptions/s')[0], want.preemptionsPerSecond);
  });

  test('the TTFT median and p95 fall in the buckets that hold the fed quantiles', () => {
    const bounds = signalMetric(profile, 'ttft', version)!.buckets!;
    const ttft = report.results.filter((r) => r.panel === 'Time to first token' && /Inference serving/.test(r.dashboard));
    for (const [q, i] of [[0.5, 0], [0.95, 1]] as const) {
      const [lo, hi] = bucketOf(want.ttft, q, bounds);
      const v = ttft[i].values[0];
      expect(v).toBeGreaterThan(lo);
      expect(v).toBeLessThanOrEqual(hi);
    }
  });
});

/**
 * The CI failure of 2026-12-02 (LMDeploy's request rate 3.7% high on a loaded
 * machine): a sample answered late carried values for the time it was
 * answered, stamped with the time the scrape began. Here the test's own event
 * loop, which serves the samples, is blocked for 400 ms every 1.3 s.
 */
runIf('on a machine slow to answer scrapes', () => {
  const dir = 'lmdeploy-0.9.2';
  const stats: Stats = JSON.parse(fs.readFileSync(path.join(ENGINE_FIXTURES, dir, 'stats.json'), 'utf8'));
  const want = expected(stats);
  let report: CheckReport;

  beforeAll(async () => {
    const stall = setInterval(() => { const end = Date.now() + 400; while (Date.now() < end) { /* busy */ } }, 1300);
    try {
      report = await checkDashboards({ fixturesDir: path.join(ENGINE_FIXTURES, dir), versions: { lmdeploy: '0.9.2' }, rateInterval: '10s', minScrapes: 15, warmupSeconds: 90 });
    } finally {
      clearInterval(stall);
    }
  }, 150_000);

  test('token and request rates of every rank are still exact', () => {
    expect(report.completeWindow).toBe(true);
    expectRate(one(report, 'Decode tokens/s')[0], want.decodePerSecond);
    expectRate(one(report, 'Prefill tokens/s')[0], want.prefillPerSecond);
    expectRate(one(report, 'Requests/s')[0], want.requestsPerSecond);
  });
});
