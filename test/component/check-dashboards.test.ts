/**
 * `inference-monitoring check-dashboards` against a real Prometheus: on the
 * repository's samples of every engine (two data-parallel ranks for LMDeploy
 * and vLLM, DCGM), every panel query and every alert/recording-rule signal
 * returns data; on samples whose metric names do not match the engine version,
 * it fails and names the panels.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { main } from '../../src/cli/main';
import { DEFAULT_PUSH_INTERVAL, checkDashboards, completeWindowTime, coverageTable, interpolateExposition, pushedAs, substituteVariables } from '../../src/check/check-dashboards';
import { durationMs } from '../../src/duration';
import { havePrometheus } from '../harness/binaries';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'metrics');

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c) => chunks.push(c));
  const code = await main(args, out, out);
  return { code, out: Buffer.concat(chunks).toString('utf8') };
}

test('a recorded interval is served with every sample stamped with the time its values are for', () => {
  const before = '# TYPE x_total counter\nx_total{a="1"} 10\n# TYPE g gauge\ng 3\n';
  const after = '# TYPE x_total counter\nx_total{a="1"} 30\n# TYPE g gauge\ng 5\n';
  expect(interpolateExposition(before, after, 5, 10, 1234567)).toBe('# TYPE x_total counter\nx_total{a="1"} 20 1234567\n# TYPE g gauge\ng 5 1234567\n');
  expect(interpolateExposition(before, after, 5, 10)).toBe('# TYPE x_total counter\nx_total{a="1"} 20\n# TYPE g gauge\ng 5\n');
});

test('queries run where the rate window holds a scrape at every grid second of every sample', () => {
  const grid = (first: number, n: number, missing: number[] = []) => ({ seconds: new Set(Array.from({ length: n }, (_, k) => first + k * 1000).filter((x) => !missing.includes(x))) });
  // Two samples on different phases, 20 scrapes each: the latest time is the newest.
  expect(completeWindowTime([grid(100_000, 20), grid(100_300, 20)], 10_000, 100_000, 119_400)).toBe(119_400);
  // A scrape missing at 118 s: the window must end before it and start after it, or end before it.
  const t = completeWindowTime([grid(100_000, 20, [118_000]), grid(100_300, 20)], 10_000, 100_000, 119_400)!;
  expect(t).toBeLessThan(118_000);
  expect(t).toBeGreaterThanOrEqual(109_000);
  // Not yet ten scrapes after notBefore's window: none.
  expect(completeWindowTime([grid(100_000, 20, [105_000, 112_000])], 10_000, 100_000, 119_400)).toBeUndefined();
  expect(completeWindowTime([{ seconds: new Set<number>() }], 10_000, 0, 1e9)).toBeUndefined();
});

test('Prometheus durations', () => {
  expect([durationMs('10s'), durationMs('1m'), durationMs('1m30s'), durationMs('500ms')]).toEqual([10_000, 60_000, 90_000, 500]);
  expect(() => durationMs('10 s')).toThrow(/not a Prometheus duration/);
});

test('variables are substituted as Grafana does', () => {
  expect(substituteVariables('rate(x{namespace=~"$namespace", model=~"${model}"}[$__rate_interval])', { namespace: 'llm', model: 'a|b', __rate_interval: '2m' }))
    .toBe('rate(x{namespace=~"llm", model=~"a|b"}[2m])');
});

const runIf = havePrometheus() ? describe : describe.skip;

runIf('check-dashboards with a real Prometheus', () => {
  test('every panel and rule signal of every engine has data on the repository samples (the CLI exits 0)', async () => {
    const { code, out } = await run(['check-dashboards', '--fixtures', FIXTURES]);
    console.log(out);
    expect(out).not.toContain('NO DATA');
    expect(out).not.toContain('IMPLAUSIBLE');
    expect(code).toBe(0);
    for (const engine of ['vllm', 'lmdeploy', 'sglang', 'tgi', 'transformers', 'dcgm']) expect(out).toMatch(new RegExp(`^${engine}\\s.*\\(100%\\)$`, 'm'));
  }, 120_000);

  test('each LMDeploy rank and each vLLM engine shows up in the per-rank panels', async () => {
    const report = await checkDashboards({ fixturesDir: FIXTURES });
    const perRank = report.results.filter((r) => r.panel.includes('per data-parallel rank') || r.panel.includes('per DP rank'));
    expect(perRank.length).toBeGreaterThan(0);
    for (const r of perRank.filter((x) => x.engine === 'lmdeploy' || x.engine === 'vllm')) expect(r.series).toBeGreaterThanOrEqual(2);
    expect(coverageTable(report).complete).toBe(true);
  }, 120_000);

  test('a TGI server that has not failed yet (no tgi_request_failure series) shows an error ratio of 0, not "No data"', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-tgi-'));
    try {
      const healthy = fs.readFileSync(path.join(FIXTURES, 'tgi.prom'), 'utf8').split('\n').filter((l) => !/tgi_request_failure/.test(l)).join('\n');
      expect(healthy).toMatch(/^tgi_request_success/m);
      fs.writeFileSync(path.join(dir, 'tgi.prom'), healthy);
      // Served as 60 more successes over a minute, so the request rate is not 0.
      fs.writeFileSync(path.join(dir, 'tgi.before.prom'), healthy.replace(/^tgi_request_success (\d+)/m, (_l, n) => `tgi_request_success ${Number(n) - 60}`));
      fs.writeFileSync(path.join(dir, 'stats.json'), JSON.stringify({ interval_seconds: 60 }));
      const report = await checkDashboards({ fixturesDir: dir });
      const ratios = report.results.filter((r) => r.panel === 'Error ratio' || /availability_bad_ratio/.test(r.panel));
      expect(ratios.length).toBeGreaterThan(1);
      for (const r of ratios) expect({ panel: r.panel, values: r.values }).toEqual({ panel: r.panel, values: [0] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('presence is not plausibility: a histogram whose observations all land beyond its largest bound fails the check', async () => {
    // What transformers 5.x does to its TTFT (1.8e12 ms, serve-timing.json), here on vLLM's e2e latency: every panel has data.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-implausible-'));
    try {
      const text = fs.readFileSync(path.join(FIXTURES, 'vllm.prom'), 'utf8');
      const counts = new Map<string, number>();
      for (const l of text.split('\n')) {
        const m = /^vllm:e2e_request_latency_seconds_count(\{[^}]*\}) (\S+)/.exec(l);
        if (m) counts.set(m[1], Number(m[2]));
      }
      expect(counts.size).toBeGreaterThan(0);
      const broken = text.split('\n').map((l) => {
        const b = /^(vllm:e2e_request_latency_seconds_bucket(\{.*\})) \S+$/.exec(l);
        if (b) {
          const le = /le="([^"]+)"/.exec(b[2])![1];
          const key = b[2].replace(/,?le="[^"]+"/, '').replace('{,', '{');
          return `${b[1]} ${le === '+Inf' ? counts.get(key) : 0}`;
        }
        const s = /^(vllm:e2e_request_latency_seconds_sum(\{[^}]*\})) \S+$/.exec(l);
        return s ? `${s[1]} ${1.8e12 * (counts.get(s[2]) ?? 0)}` : l;
      }).join('\n');
      fs.writeFileSync(path.join(dir, 'vllm.prom'), broken);
      const { code, out } = await run(['check-dashboards', '--fixtures', dir]);
      expect(out).not.toContain('NO DATA');
      expect(out).toMatch(/^IMPLAUSIBLE \[vllm\] e2eLatency \(vllm:e2e_request_latency_seconds\): median observation in the top bucket: 7680 \(largest bound 7680\)$/m);
      expect(out).toMatch(/^IMPLAUSIBLE \[vllm\] e2eLatency \(vllm:e2e_request_latency_seconds\): mean beyond the largest bucket bound: 1800000000000 \(largest bound 7680\)$/m);
      expect(code).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('an OTLP-pushing engine is pushed, not scraped, at the interval it is rendered with: a rate window holding one push shows no data', async () => {
    // transformers pushes every monitoring.interval (15 s): a 10 s window holds at most one push, so its
    // Requests/s has no data; vLLM, scraped every second here, has data in the same window.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-push-'));
    try {
      for (const f of ['transformers.prom', 'vllm.prom']) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
      const started = Date.now();
      const report = await checkDashboards({ fixturesDir: dir, rateInterval: '10s' });
      // Two pushes before the queries: one push interval at least.
      expect(Date.now() - started).toBeGreaterThanOrEqual(durationMs(DEFAULT_PUSH_INTERVAL));
      const requests = (engine: string) => report.results.find((r) => r.engine === engine && r.panel === 'Requests/s' && /Inference serving/.test(r.dashboard))!;
      expect(requests('transformers').series).toBe(0);
      expect(requests('vllm').series).toBeGreaterThan(0);
      // The gauges it pushed are there, labelled from the resource attributes our env sets.
      expect(report.results.find((r) => r.engine === 'transformers' && r.panel === 'Waiting requests')!.values).toEqual([2]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('the resource attributes and push interval are the ones the stack renders for the engine', () => {
    expect(pushedAs('transformers', '15s')).toEqual({
      resource: { 'service.name': 'transformers', 'service.instance.id': 'transformers-0', model: 'transformers', inference_engine: 'transformers', namespace: 'llm', pod: 'transformers-0' },
      intervalMs: 15_000,
    });
    expect(DEFAULT_PUSH_INTERVAL).toBe('15s');
  });

  test('a running-requests gauge that contradicts the counters (running through the window, no token generated) fails the check', async () => {
    // What transformers does when it goes idle (it keeps its last active count), here on a vLLM recording:
    // the same sample at both ends of a 60 s interval, so nothing was generated while 3 requests "ran".
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-stale-'));
    try {
      const text = fs.readFileSync(path.join(FIXTURES, 'vllm.prom'), 'utf8');
      fs.writeFileSync(path.join(dir, 'stats.json'), JSON.stringify({ interval_seconds: 60 }));
      fs.writeFileSync(path.join(dir, 'vllm.prom'), text);
      fs.writeFileSync(path.join(dir, 'vllm.before.prom'), text);
      const stale = await run(['check-dashboards', '--fixtures', dir]);
      expect(stale.out).toMatch(/^IMPLAUSIBLE \[vllm\] requestsRunning \(vllm:num_requests_running\): requests running through the last 1m while generationTokens \(vllm:generation_tokens_total\) did not grow: a stale gauge: \d+$/m);
      expect(stale.code).toBe(1);
      // The same gauge while tokens are generated is plausible.
      fs.writeFileSync(path.join(dir, 'vllm.before.prom'), text.replace(/^(vllm:generation_tokens_total\{[^}]*\}) \S+$/gm, '$1 0'));
      const growing = await run(['check-dashboards', '--fixtures', dir]);
      expect(growing.out).not.toContain('IMPLAUSIBLE');
      expect(growing.code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('a fresh data-parallel vLLM server (no running, waiting or KV-cache series before its first request) shows 0, not "No data"', async () => {
    // As the real vLLM server showed with --data-parallel-size 2 (../shared/notes/real-engines.md).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-vllm-fresh-'));
    try {
      const fresh = fs.readFileSync(path.join(FIXTURES, 'vllm.prom'), 'utf8').split('\n')
        .filter((l) => !/^(# (HELP|TYPE) )?vllm:(num_requests_running|num_requests_waiting|num_requests_waiting_by_reason|kv_cache_usage_perc)\b/.test(l)).join('\n');
      expect(fresh).toMatch(/^vllm:request_success_total/m);
      fs.writeFileSync(path.join(dir, 'vllm.prom'), fresh);
      const report = await checkDashboards({ fixturesDir: dir });
      const gauges = report.results.filter((r) => r.engine === 'vllm' && ['Active (running) requests', 'Waiting requests', 'KV-cache usage (worst pod/rank)'].includes(r.panel));
      expect(gauges.map((r) => r.panel).sort()).toEqual(['Active (running) requests', 'KV-cache usage (worst pod/rank)', 'Waiting requests']);
      for (const r of gauges) expect({ panel: r.panel, values: r.values }).toEqual({ panel: r.panel, values: [0] });
      const signals = report.results.filter((r) => r.engine === 'vllm' && /InferenceQueueBuildUp|InferenceKVCacheSaturated/.test(r.panel));
      expect(signals.length).toBe(2);
      for (const r of signals) expect({ panel: r.panel, zero: r.values.length > 0 && r.values.every((v) => v === 0) }).toEqual({ panel: r.panel, zero: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('a renamed metric is caught: vLLM 0.9.1 names fail the 0.11 dashboards and pass when the version says 0.9.1', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-old-'));
    try {
      // The same sample as a vLLM before 0.9.2 exports it (the names vLLM renamed in 0.9.2 and 0.11).
      const old = fs.readFileSync(path.join(FIXTURES, 'vllm.prom'), 'utf8')
        .replace(/vllm:kv_cache_usage_perc/g, 'vllm:gpu_cache_usage_perc')
        .replace(/vllm:inter_token_latency_seconds/g, 'vllm:time_per_output_token_seconds');
      fs.writeFileSync(path.join(dir, 'vllm.prom'), old);
      const current = await run(['check-dashboards', '--fixtures', dir]);
      expect(current.code).toBe(1);
      expect(current.out).toMatch(/NO DATA \[vllm\] Inference serving: vLLM \/ KV-cache usage/);
      expect(current.out).toMatch(/NO DATA \[vllm\] Inference serving: vLLM \/ Inter-token latency/);
      const pinned = await run(['check-dashboards', '--fixtures', dir, '--engine-version', 'vllm=0.9.1']);
      expect(pinned.out).not.toContain('NO DATA');
      expect(pinned.code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('check-dashboards keeps its deadline', () => {
  test('a Prometheus that is ready, never answers a query and ignores SIGTERM: a clear error by the deadline, and the process is killed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-stuck-'));
    const pidFile = path.join(dir, 'pid');
    // A stand-in for the prometheus binary: it answers /-/ready, holds every other request open, and ignores SIGTERM.
    const fake = path.join(dir, 'prometheus');
    fs.writeFileSync(fake, `#!/usr/bin/env node
const http = require('http');
require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
process.on('SIGTERM', () => {});
const addr = process.argv.find((a) => a.startsWith('--web.listen-address=')).split('=')[1].split(':');
http.createServer((req, res) => { if (req.url === '/-/ready') res.end('ok'); }).listen(Number(addr[1]), addr[0]);
`, { mode: 0o755 });
    const started = Date.now();
    await expect(checkDashboards({ fixturesDir: FIXTURES, prometheus: fake, timeoutSeconds: 4 })).rejects.toThrow(/Prometheus did not answer within 4 s|not done within 4 s/);
    const took = Date.now() - started;
    // The deadline, plus the 5 s between SIGTERM and SIGKILL.
    expect(took).toBeLessThan(4000 + 5000 + 3000);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);
});
