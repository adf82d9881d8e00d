/**
 * Multi-node recordings (issue #29): per engine release and mode, which pod of a LeaderWorkerSet group serves
 * which `/metrics` series (test/fixtures/engines/<engine>-<version>/multinode/<mode>/, recorded by
 * `tools/engine-metrics/record.py --multinode` from each release's own launch and metric code). The engine
 * stand-in serves these per pod (tools/images/standin/multinode.go); here: the layouts say what the files
 * hold, the ranks are split over the pods exactly once, the numbers add up to the stats fed in, every pod's
 * command line is accepted by its release's recorded parser, and the releases' own layout rules hold.
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkCommandLines, ENGINE_CLI_FIXTURES } from '../harness/engine-cli';
import { ENGINE_FIXTURES } from '../harness/engine-fixtures';

interface Port {
  port: number; portFlag: string; offset: number; server: string; file?: string; before?: string; paths?: string[];
  labels?: Record<string, string[]>; gaugeLabels?: Record<string, string[]>; tokenizer?: boolean; dataParallelRank?: number;
}
interface Pod {
  index: number; role: string; program: string; argv: string[]; params?: Record<string, unknown>; env?: Record<string, string>;
  httpServer: boolean; metricsPorts: Port[]; healthOnlyPorts: Port[]; engines?: number[];
  schedulers?: Array<{ tp_rank: number; dp_rank: number | null; logsGauges: boolean }>;
}
interface Layout { engine: string; version: string; mode: string; groupSize: number; params: Record<string, unknown>; pods: Pod[]; sources: Record<string, string> }
interface Phase { running: number; waiting: number; requests: unknown[]; retractions?: number; aborted?: number }
interface Stats { ranks: Array<{ rank: number; before: Phase; after: Phase }> }
interface Rule { id: string; when: string; require: string; source: string }
interface Sample { name: string; labels: Record<string, string>; value: number }

const recordings = fs.readdirSync(ENGINE_FIXTURES).filter((d) => fs.existsSync(path.join(ENGINE_FIXTURES, d, 'multinode'))).sort();
const modes = recordings.flatMap((d) => fs.readdirSync(path.join(ENGINE_FIXTURES, d, 'multinode'))
  .filter((m) => fs.existsSync(path.join(ENGINE_FIXTURES, d, 'multinode', m, 'layout.json'))).sort().map((m) => ({ dir: d, mode: m })));
const modeDir = (dir: string, mode: string) => path.join(ENGINE_FIXTURES, dir, 'multinode', mode);
const layoutOf = (dir: string, mode: string): Layout => JSON.parse(fs.readFileSync(path.join(modeDir(dir, mode), 'layout.json'), 'utf8'));
const statsOf = (dir: string, mode: string): Stats => JSON.parse(fs.readFileSync(path.join(modeDir(dir, mode), 'stats.json'), 'utf8'));

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

const served = (dir: string, mode: string, port: Port) => parse(fs.readFileSync(path.join(modeDir(dir, mode), port.file!), 'utf8'));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const values = (samples: Sample[], name: string, where: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).map((s) => s.value);
const labelSet = (samples: Sample[], label: string, prefix: string) =>
  [...new Set(samples.filter((s) => s.name.startsWith(prefix) && label in s.labels).map((s) => s.labels[label]))].sort();
const allPorts = (l: Layout) => l.pods.flatMap((p) => p.metricsPorts.map((port) => ({ pod: p, port })));

/** The shared rule-expression subset (tools/engine-metrics/multinode_common.py evaluate): Python's and/or/not as JS. */
function evaluate(expr: string, params: Record<string, unknown>): boolean {
  expect(expr).toMatch(/^(?:\s|\d+|'[a-z_]*'|[a-z_][a-z0-9_]*|==|!=|<=|>=|<|>|\(|\)|[-+*/%])*$/);
  const names = [...new Set((expr.replace(/'[a-z_]*'/g, '').match(/\b[a-z_][a-z0-9_]*\b/g) ?? []).filter((n) => !['and', 'or', 'not'].includes(n)))];
  for (const n of names) expect({ expr, [n]: n in params }).toEqual({ expr, [n]: true });
  const js = expr.replace(/\band\b/g, '&&').replace(/\bor\b/g, '||').replace(/\bnot\b/g, '!');
  return Boolean(new Function(...names, `return (${js});`)(...names.map((n) => params[n])));
}

test('the recorded engines and modes', () => {
  expect(modes.map((m) => `${m.dir}/${m.mode}`)).toEqual([
    'lmdeploy-0.18.0/dp', 'sglang-0.5.23/dp-attention', 'sglang-0.5.23/tp',
    'vllm-0.34.0/dp-hybrid', 'vllm-0.34.0/dp-multi-port', 'vllm-0.34.0/mp', 'vllm-0.34.0/ray',
  ]);
});

describe.each(modes)('$dir $mode', ({ dir, mode }) => {
  const l = layoutOf(dir, mode);

  test('one pod per group member, each port listed once, every recorded file there, labels as the layout says', () => {
    expect(l.pods.map((p) => p.index)).toEqual([...Array(l.groupSize).keys()]);
    for (const pod of l.pods) {
      const ports = [...pod.metricsPorts, ...pod.healthOnlyPorts].map((p) => p.port);
      expect(new Set(ports).size).toBe(ports.length);
      for (const port of pod.metricsPorts) {
        for (const f of [port.file!, port.before!]) expect(fs.existsSync(path.join(modeDir(dir, mode), f))).toBe(true);
        const samples = served(dir, mode, port);
        const prefix = `${l.engine}:`;
        for (const [label, want] of Object.entries(port.labels ?? {})) {
          expect({ pod: pod.index, port: port.port, label, values: labelSet(samples, label, prefix) })
            .toEqual({ pod: pod.index, port: port.port, label, values: [...want].sort() });
        }
      }
      for (const port of pod.healthOnlyPorts) expect(port.file).toBeUndefined();
      if (!pod.httpServer) expect(pod.metricsPorts.length + pod.healthOnlyPorts.length).toBe(0);
    }
    // Every file of the mode is some port's.
    const listed = new Set(allPorts(l).flatMap(({ port }) => [port.file, port.before]));
    expect(fs.readdirSync(modeDir(dir, mode)).filter((f) => f.endsWith('.prom')).filter((f) => !listed.has(f))).toEqual([]);
  });

  test("every pod's command line is accepted by its release's recorded parser", () => {
    const catalog = path.join(ENGINE_CLI_FIXTURES, `${l.engine}-${l.version}.json`);
    const pods = l.pods.filter((p) => p.program !== 'ray start');
    const argv = (p: Pod) => p.argv.map((a) => a.replace('$(LWS_LEADER_ADDRESS)', 'group-0.lws.ns'));
    const results = checkCommandLines(pods.map((p) => ({ catalog, argv: argv(p), env: p.env ?? {} })));
    expect(results.map((r, i) => ({ pod: pods[i].index, ...r }))).toEqual(pods.map((p) => ({ pod: p.index, accepted: true, exitCode: 0, message: '' })));
  });

  test("the release's own layout rules hold for every pod", () => {
    const rules: { program: string; rules: Rule[] } = JSON.parse(fs.readFileSync(path.join(ENGINE_FIXTURES, dir, 'multinode', 'rules.json'), 'utf8'));
    expect(rules.rules.length).toBeGreaterThan(2);
    for (const rule of rules.rules) expect(rule.source).toMatch(/^[a-z_]+\/[\w/]+\.py:\d+$/);
    for (const pod of l.pods.filter((p) => p.program === rules.program)) {
      const params = { ...l.params, ...pod.params };
      for (const rule of rules.rules) {
        expect({ pod: pod.index, rule: rule.id, holds: !evaluate(rule.when, params) || evaluate(rule.require, params) })
          .toEqual({ pod: pod.index, rule: rule.id, holds: true });
      }
    }
    // And they would catch a broken layout (the rules are not vacuous for these modes).
    const broken: Record<string, Record<string, unknown>> = {
      'vllm-0.34.0/dp-multi-port': { data_local: 3 }, 'vllm-0.34.0/dp-hybrid': { multi_port: 1 }, 'vllm-0.34.0/mp': { nnodes: 3 },
      'vllm-0.34.0/ray': { nnodes: 2 }, 'sglang-0.5.23/tp': { nnodes: 3 }, 'sglang-0.5.23/dp-attention': { dp: 2 }, 'lmdeploy-0.18.0/dp': { ep: 1 },
    };
    const params = { ...l.params, ...l.pods.find((p) => p.program === rules.program)!.params, start_rank: 2, ...broken[`${dir}/${mode}`] };
    expect(rules.rules.some((r) => evaluate(r.when, params) && !evaluate(r.require, params))).toBe(true);
  });
});

describe('vLLM 0.34.0', () => {
  const dir = 'vllm-0.34.0';

  test.each(['ray', 'mp'])('%s: the leader serves every engine series with engine="0"; the worker serves nothing from vLLM', (mode) => {
    const l = layoutOf(dir, mode);
    const [leader, worker] = l.pods;
    expect(leader.metricsPorts.map((p) => [p.port, p.labels])).toEqual([[8000, { engine: ['0'] }]]);
    expect(worker).toMatchObject({ role: 'worker', httpServer: false, metricsPorts: [], healthOnlyPorts: [] });
    expect(worker.program).toBe(mode === 'ray' ? 'ray start' : 'vllm serve');
    if (mode === 'mp') expect(worker.argv).toContain('--headless');
    const s = served(dir, mode, leader.metricsPorts[0]);
    expect(sum(values(s, 'vllm:num_requests_running'))).toBe(statsOf(dir, mode).ranks[0].after.running);
  });

  test('dp-hybrid: engines 0-3 split over the pods, each exactly once; the sums are the fed stats', () => {
    const l = layoutOf(dir, 'dp-hybrid');
    const stats = statsOf(dir, 'dp-hybrid');
    const perPod = l.pods.map((p) => labelSet(served(dir, 'dp-hybrid', p.metricsPorts[0]), 'engine', 'vllm:'));
    expect(perPod).toEqual([['0', '1'], ['2', '3']]);
    expect(l.pods.map((p) => p.metricsPorts.map((x) => [x.port, x.server, (x as Port & { apiServers: number }).apiServers]))).toEqual([[[8000, 'api', 2]], [[8000, 'api', 2]]]);
    const all = l.pods.flatMap((p) => served(dir, 'dp-hybrid', p.metricsPorts[0]));
    expect(sum(values(all, 'vllm:num_requests_running'))).toBe(sum(stats.ranks.map((r) => r.after.running)));
    expect(sum(values(all, 'vllm:num_requests_waiting'))).toBe(sum(stats.ranks.map((r) => r.after.waiting)));
    for (const r of stats.ranks) {
      expect(values(all, 'vllm:num_requests_running', { engine: String(r.rank) })).toEqual([r.after.running]);
      // Counters end at everything fed (before + during the interval), once.
      expect(values(all, 'vllm:request_success_total', { engine: String(r.rank), finished_reason: 'stop' }))
        .toEqual([r.before.requests.length + r.after.requests.length]);
    }
    // A leader-only scrape sees half the engines.
    expect(sum(values(served(dir, 'dp-hybrid', l.pods[0].metricsPorts[0]), 'vllm:num_requests_running'))).toBe(stats.ranks[0].after.running + stats.ranks[1].after.running);
  });

  test('dp-multi-port: one API server per local rank on port + i with its one global engine rank; the supervisor port only health', () => {
    const l = layoutOf(dir, 'dp-multi-port');
    const stats = statsOf(dir, 'dp-multi-port');
    expect(l.pods.map((p) => p.metricsPorts.map((x) => [x.port, x.offset, x.labels!.engine]))).toEqual([
      [[8000, 0, ['0']], [8001, 1, ['1']]], [[8000, 0, ['2']], [8001, 1, ['3']]]]);
    for (const p of l.pods) {
      expect(p.healthOnlyPorts.map((x) => [x.port, x.portFlag, x.server, x.paths])).toEqual([[8208, '--data-parallel-supervisor-port', 'dp-supervisor', ['/health', '/ready', '/readyz']]]);
    }
    const all = allPorts(l).flatMap(({ port }) => served(dir, 'dp-multi-port', port));
    expect(values(all, 'vllm:num_requests_running').sort((a, b) => a - b)).toEqual(stats.ranks.map((r) => r.after.running).sort((a, b) => a - b));
    // Each API server is a process of its own (no multiprocess merge): its own process_* series.
    for (const { port } of allPorts(l)) expect(values(served(dir, 'dp-multi-port', port), 'process_start_time_seconds').length).toBe(1);
  });
});

describe('SGLang 0.5.23', () => {
  const dir = 'sglang-0.5.23';

  test('tp: node 0 carries the tokenizer and the only logging scheduler; node 1 (dummy health server) carries tp ranks 2-3 without gauges', () => {
    const l = layoutOf(dir, 'tp');
    const stats = statsOf(dir, 'tp');
    const [n0, n1] = l.pods.map((p) => served(dir, 'tp', p.metricsPorts[0]));
    expect(l.pods[1].metricsPorts[0]).toMatchObject({ server: 'sglang-dummy-health', paths: ['/health', '/health_generate', '/metrics', '/ping'] });
    expect(labelSet(n0, 'tp_rank', 'sglang:')).toEqual(['0', '1']);
    expect(labelSet(n1, 'tp_rank', 'sglang:')).toEqual(['2', '3']);
    // No data-parallel controller: no dp_rank label at all.
    expect([...labelSet(n0, 'dp_rank', 'sglang:'), ...labelSet(n1, 'dp_rank', 'sglang:')]).toEqual([]);
    expect(values(n0, 'sglang:num_running_reqs')).toEqual([stats.ranks[0].after.running]);
    expect(values(n1, 'sglang:num_running_reqs')).toEqual([]);
    expect(values(n1, 'sglang:time_to_first_token_seconds_count')).toEqual([]);
    const fed = stats.ranks[0].before.requests.length + stats.ranks[0].after.requests.length;
    expect(values(n0, 'sglang:num_requests_total')).toEqual([fed]);
    // Every TP rank observes every request's queue time: 4 copies over the two nodes.
    expect(values([...n0, ...n1], 'sglang:queue_time_seconds_count')).toEqual([fed, fed, fed, fed]);
  });

  test('dp-attention: node 1 carries dp_rank 1 only (its attention-TP rank 0 logs the gauges), node 0 dp_rank 0 and the tokenizer', () => {
    const l = layoutOf(dir, 'dp-attention');
    const stats = statsOf(dir, 'dp-attention');
    const [n0, n1] = l.pods.map((p) => served(dir, 'dp-attention', p.metricsPorts[0]));
    expect(labelSet(n0, 'dp_rank', 'sglang:')).toEqual(['0']);
    expect(labelSet(n1, 'dp_rank', 'sglang:')).toEqual(['1']);
    expect(l.pods[1].metricsPorts[0].gaugeLabels).toMatchObject({ dp_rank: ['1'], tp_rank: ['2'] });
    expect(values(n1, 'sglang:num_running_reqs')).toEqual([stats.ranks[1].after.running]);
    expect(values(n0, 'sglang:num_running_reqs')).toEqual([stats.ranks[0].after.running]);
    const all = stats.ranks.flatMap((r) => [...r.before.requests, ...r.after.requests]).length;
    expect(values(n0, 'sglang:num_requests_total')).toEqual([all]);
    expect(values(n1, 'sglang:num_requests_total')).toEqual([]);
    expect(l.pods.map((p) => p.schedulers!.filter((s) => s.logsGauges).map((s) => [s.tp_rank, s.dp_rank]))).toEqual([[[0, 0]], [[2, 1]]]);
  });
});

test('LMDeploy 0.18.0 dp: one api_server per local DP rank on --server-port + i, engine = node_rank * 2 + i', () => {
  const dir = 'lmdeploy-0.18.0';
  const l = layoutOf(dir, 'dp');
  const stats = statsOf(dir, 'dp');
  expect(l.pods.map((p) => p.metricsPorts.map((x) => [x.port, x.labels!.engine]))).toEqual([
    [[23333, ['0']], [23334, ['1']]], [[23333, ['2']], [23334, ['3']]]]);
  const all = allPorts(l).flatMap(({ port }) => served(dir, 'dp', port));
  expect(sum(values(all, 'lmdeploy:num_requests_running'))).toBe(sum(stats.ranks.map((r) => r.after.running)));
  for (const p of l.pods) expect(p.env).toMatchObject({ LMDEPLOY_DP_MASTER_ADDR: expect.any(String), LMDEPLOY_DP_MASTER_PORT: expect.any(String) });
});
