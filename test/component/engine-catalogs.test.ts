/**
 * The engine profiles against the metrics each engine's released code
 * produced (test/fixtures/engines/<engine>-<version>/catalog.json, recorded by
 * tools/engine-metrics/record.py): for every committed version in a signal's
 * version range, the signal's metric exists with the declared type, the label
 * the profile aggregates on, and the declared bucket bounds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { EngineName, SignalName, versionSatisfies } from '../../src/engines/profile';
import { PROFILES } from '../../src/engines/registry';
import { DCGM } from '../../src/engines/dcgm';
import { catalogDashboards } from '../../src/dashboards';
import { SHARED } from '../harness/binaries';
import { recordings } from '../harness/engine-fixtures';

const recorded = recordings();

test('every engine with Python metrics code has recordings of at least its default and newest profile versions', () => {
  for (const engine of ['vllm', 'lmdeploy', 'sglang'] as EngineName[]) {
    const versions = recorded.filter((r) => r.engine === engine).map((r) => r.version);
    expect(versions).toContain(PROFILES[engine].defaultVersion);
    expect(versions.length).toBeGreaterThanOrEqual(2);
  }
});

const cases = recorded.flatMap((r) => Object.entries(PROFILES[r.engine].signals).flatMap(([signal, alts]) =>
  (alts ?? []).filter((a) => versionSatisfies(r.version, a.versions)).map((a) => ({ ...r, signal: signal as SignalName, metric: a }))));

test.each(cases.map((c) => [c.engine, c.version, c.signal, c.metric.metric, c]))('%s %s: %s is %s as declared', (_e, _v, _s, _m, c) => {
  // A counter signal may be a histogram's _sum or _count series (TGI's token counts).
  const part = /^(.*)_(sum|count)$/.exec(c.metric.metric);
  const base = part ? c.catalog.find((x) => x.name === part[1] && x.type === 'histogram') : undefined;
  const entry = base ? { ...base, type: 'counter', buckets: undefined } : c.catalog.find((x) => x.name === c.metric.metric);
  expect({ metric: c.metric.metric, found: !!entry }).toEqual({ metric: c.metric.metric, found: true });
  expect(entry!.type).toBe(c.metric.type);
  const profile = PROFILES[c.engine];
  // Per-rank metrics carry the rank label; a server-wide one (counted once per server) must not, or ranks would be summed twice.
  if (profile.rankLabel && !c.metric.serverWide) expect(entry!.labels).toContain(profile.rankLabel);
  if (profile.rankLabel && c.metric.serverWide) expect(entry!.labels).not.toContain(profile.rankLabel);
  if (profile.modelLabel) expect(entry!.labels).toContain(profile.modelLabel);
  if (c.metric.reasonLabel) expect(entry!.labels).toContain(c.metric.reasonLabel);
  if (c.metric.buckets && entry!.buckets) expect(entry!.buckets).toEqual(c.metric.buckets);
  if (c.metric.buckets && c.metric.type === 'histogram') expect(entry!.buckets).toBeDefined();
  // Labels that tell identical scheduler reports apart must all be collapsed, or a rank is counted twice.
  if (c.metric.rankAggregation === 'max' && profile.duplicateLabels) {
    const rankish = entry!.labels.filter((l) => /_rank$/.test(l) && l !== profile.rankLabel);
    expect(rankish.filter((l) => !profile.duplicateLabels!.includes(l))).toEqual([]);
  }
});

test('a signal declared lazy is absent from an exposition recorded before its first event, and present after it', () => {
  let checked = 0;
  for (const r of recorded) {
    for (const alts of Object.values(PROFILES[r.engine].signals)) {
      for (const a of (alts ?? []).filter((x) => x.lazy && versionSatisfies(r.version, x.versions))) {
        const before = fs.readdirSync(r.dir).filter((f) => f.endsWith('.before.prom')).map((f) => fs.readFileSync(path.join(r.dir, f), 'utf8')).join('\n');
        expect(before).not.toMatch(new RegExp(`^${a.metric.replace(/[:.]/g, '\\$&')}[{ ]`, 'm'));
        expect(r.catalog.map((x) => x.name)).toContain(a.metric);
        checked++;
      }
    }
  }
  expect(checked).toBeGreaterThan(0);
});

/**
 * Timing metrics whose values in this release are not durations: serve-timing.json records what the release's
 * own record_ttft_metric / record_request_completion stored for a request created by its own RequestState clock
 * 0.12 s / 1.5 s earlier (tools/engine-metrics/drivers/transformers.py).
 */
function corruptTimingMetrics(r: { dir: string }): string[] {
  const file = path.join(r.dir, 'serve-timing.json');
  if (!fs.existsSync(file)) return [];
  const t = JSON.parse(fs.readFileSync(file, 'utf8'));
  const off = (recorded: number, truth: number) => Math.abs(recorded - truth) / truth > 0.05;
  return [...(off(t.recorded_ttft_ms, t.true_ttft_ms) ? ['ttft_milliseconds'] : []), ...(off(t.recorded_latency_ms, t.true_latency_ms) ? ['request_latency_milliseconds'] : [])];
}

test('transformers: TTFT and latency are signals exactly in the releases whose serve path records true durations, and the panels say why otherwise', () => {
  const checked = recorded.filter((r) => r.engine === 'transformers' && fs.existsSync(path.join(r.dir, 'serve-timing.json')));
  expect(checked.map((r) => r.version)).toEqual(expect.arrayContaining(['4.57.0', '5.8.1']));
  for (const r of checked) {
    const corrupt = corruptTimingMetrics(r);
    const profile = PROFILES.transformers;
    for (const [signal, metric] of [['ttft', 'ttft_milliseconds'], ['e2eLatency', 'request_latency_milliseconds']] as const) {
      const offered = (profile.signals[signal] ?? []).some((a) => a.metric === metric && versionSatisfies(r.version, a.versions));
      expect({ version: r.version, signal, offered }).toEqual({ version: r.version, signal, offered: !corrupt.includes(metric) });
      if (corrupt.includes(metric)) expect(profile.missingSignals?.[signal]).toMatch(/perf_counter/);
    }
  }
  // The release that corrupts them (5.8.1) and the one that does not (4.57.0) are both recorded.
  expect(checked.filter((r) => corruptTimingMetrics(r).length === 2).map((r) => r.version)).toContain('5.8.1');
  expect(checked.filter((r) => corruptTimingMetrics(r).length === 0).map((r) => r.version)).toContain('4.57.0');
});

test('a profile that says an engine lacks a signal is right for every recorded version', () => {
  for (const r of recorded) {
    const profile = PROFILES[r.engine];
    const names = new Set(r.catalog.map((x) => x.name));
    // vLLM 0.33 no longer has the names its profile keeps for old versions. A metric the version exports with
    // values that are not what they claim (transformers 5.x timing, serve-timing.json) is withheld on purpose.
    const corrupt = new Set(corruptTimingMetrics(r));
    for (const alts of Object.values(profile.signals)) {
      for (const a of alts ?? []) if (!versionSatisfies(r.version, a.versions) && names.has(a.metric) && !corrupt.has(a.metric) && !(alts ?? []).some((b) => b !== a && versionSatisfies(r.version, b.versions) && names.has(b.metric))) {
        throw new Error(`${r.engine} ${r.version} exports ${a.metric}, but the profile limits it to ${a.versions} and has nothing else for that signal`);
      }
    }
  }
});

test('every DCGM metric the GPU dashboard and alerts use is a default counter of dcgm-exporter, with the declared type', () => {
  // ../shared/fixtures/metrics/upstream/dcgm-default-counters.csv: NVIDIA/dcgm-exporter etc/default-counters.csv (see its SOURCES.md).
  const csv = fs.readFileSync(path.join(SHARED, 'fixtures', 'metrics', 'upstream', 'dcgm-default-counters.csv'), 'utf8');
  const defaults = new Map(csv.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.split(',').map((x) => x.trim())).map(([name, type]) => [name, type]));
  for (const name of Object.values(DCGM)) expect({ name, type: defaults.get(name) }).toEqual({ name, type: 'gauge' });
});

test('transformers: an instrument that records nothing (or only 0) when fed as `transformers serve` feeds it is no signal, and the profile says why', () => {
  let checked = 0;
  for (const r of recorded.filter((x) => x.engine === 'transformers')) {
    const batch = JSON.parse(fs.readFileSync(path.join(r.dir, 'stats.json'), 'utf8')).serve_status_batch;
    const declared: Array<{ otel_name: string }> = JSON.parse(fs.readFileSync(path.join(r.dir, 'otel-instruments.json'), 'utf8')).declared;
    const fill = batch.batch_fill_percentage as Array<{ sum: number }>;
    const broken = declared.map((d) => d.otel_name).filter((n) => (n === 'batch_fill_percentage' ? fill.every((p) => p.sum === 0) : !batch.instruments_with_data_after.includes(n)) && /tokens_processed|prefill_ratio|batch_fill/.test(n));
    expect(broken.sort()).toEqual(['batch_fill_percentage', 'decode_prefill_ratio', 'decode_tokens_processed', 'prefill_tokens_processed']);
    const profile = PROFILES.transformers;
    for (const name of broken) {
      const used = Object.entries(profile.signals).filter(([, alts]) => (alts ?? []).some((a) => versionSatisfies(r.version, a.versions) && a.metric.startsWith(name)));
      expect({ name, used: used.map(([s]) => s) }).toEqual({ name, used: [] });
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(0);
  for (const s of ['promptTokens', 'generationTokens', 'decodePrefillRatio', 'batchFill'] as SignalName[]) expect(PROFILES.transformers.missingSignals?.[s]).toMatch(/RequestStatus/);
});

test('the error-ratio panel says which failures the engine never counts (vLLM: client disconnects and cancelled streams, HTTP 400 refusals)', () => {
  const panels = (engine: EngineName) => (catalogDashboards().find((d) => d.engine === engine)!.dashboard.panels as Array<{ title?: string; description?: string }>);
  const ratio = (engine: EngineName) => panels(engine).find((p) => p.title === 'Error ratio')!;
  expect(ratio('vllm').description).toMatch(/Not counted: client disconnects and cancelled streams .*abort_requests.*HTTP 400/);
  // An engine whose code counts its aborts says nothing it does not know.
  expect(ratio('sglang').description).not.toMatch(/Not counted/);
});

test('latency quantiles are honest about bucket resolution: below the first bound they read "< bound s" (quantile series only), and the description names the bounds', () => {
  const panel = (engine: EngineName, title: string) => (catalogDashboards().find((d) => d.engine === engine)!.dashboard.panels as any[]).find((p) => p.title === title);
  // vLLM's queue time: 9 µs of queueing interpolated to 0.15 s inside [0, 0.3) on the real server.
  const queue = panel('vllm', 'Queue time');
  expect(queue.fieldConfig.overrides).toEqual([{
    matcher: { id: 'byRegexp', options: '^p\\d+ ' },
    properties: [{ id: 'mappings', value: [{ type: 'range', options: { from: 0, to: 0.3, result: { text: '< 0.3 s', index: 0 } } }] }],
  }]);
  expect(queue.description).toMatch(/bounds 0\.3, 0\.5, 0\.8, .* s\): below 0\.3 s they show as "< 0\.3 s"/);
  // The legends the override matches are the quantiles' (p50 … p99), not the mean's.
  expect(queue.targets.map((t: any) => t.legendFormat)).toEqual(['p50 {{model}}', 'p95 {{model}}', 'p99 {{model}}', 'mean {{model}}']);
  // transformers' TTFT is in milliseconds: its first bound, 10 ms, is shown in seconds.
  expect(panel('transformers', 'Time to first token').fieldConfig?.overrides ?? []).toEqual([]);
  expect((catalogDashboards({ transformers: '4.57.0' }).find((d) => d.engine === 'transformers')!.dashboard as any).panels
    .find((p: any) => p.title === 'Time to first token')!.fieldConfig.overrides[0].properties[0].value[0].options).toEqual({ from: 0, to: 0.01, result: { text: '< 0.01 s', index: 0 } });
});

test('transformers\' gauges say they go stale when the server is idle (updated only while requests are pending)', () => {
  const panels = catalogDashboards().find((d) => d.engine === 'transformers')!.dashboard.panels as Array<{ title?: string; description?: string }>;
  for (const title of ['Active (running) requests', 'Waiting requests', 'KV-cache usage (worst pod/rank)']) {
    expect({ title, caveat: /Caveat: transformers updates this gauge only while requests are pending/.test(panels.find((p) => p.title === title)?.description ?? '') }).toEqual({ title, caveat: true });
  }
  const vllm = catalogDashboards().find((d) => d.engine === 'vllm')!.dashboard.panels as Array<{ title?: string; description?: string }>;
  expect(vllm.find((p) => p.title === 'Active (running) requests')!.description).not.toMatch(/Caveat/);
});
