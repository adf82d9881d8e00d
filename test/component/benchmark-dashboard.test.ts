/**
 * The benchmark dashboard against a real PostgreSQL: the shipped schema
 * loads, the loader records runs (UUID and legacy integer ids alike), and every
 * panel and variable query of the dashboard returns rows, newest commit first.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { Client } from 'pg';
import * as net from 'net';
import { benchmarkClientConfig, ensureSchema, parseBenchmarkRun, recordBenchmark, BenchmarkRun } from '../../src/benchmarks/loader';
import { benchmarkDashboard } from '../../src/dashboards/benchmark';
import { main } from '../../src/cli/main';
import { havePostgres, RunningPostgres, startPostgres } from '../harness/postgres';

const GPU = 'NVIDIA A100-SXM4-80GB';
const KEYS = [
  'first_eager_forward_pass_time_secs', 'second_eager_forward_pass_time_secs', 'time_to_first_token_secs', 'time_to_second_token_secs',
  'time_to_third_token_secs', 'time_to_next_token_mean_secs', 'first_compile_generate_time_secs', 'second_compile_generate_time_secs',
  'third_compile_generate_time_secs', 'fourth_compile_generate_time_secs',
];

function run(commit: string, minutes: number, extra: Partial<BenchmarkRun> = {}): BenchmarkRun {
  const t = (m: number) => new Date(Date.UTC(2026, 10, 1, 12, m)).toISOString();
  return {
    repository: 'huggingface/transformers', branch: 'main', commitId: commit, commitMessage: `commit ${commit}`,
    metadata: { gpu_name: GPU, model_id: 'meta-llama/Llama-2-7b-hf' }, createdAt: t(minutes),
    modelMeasurements: [{ measurements: Object.fromEntries(KEYS.map((k, i) => [k, 0.01 * (i + 1) + minutes / 1000])), time: t(minutes + 1) }],
    deviceMeasurements: [0, 1, 2].map((i) => ({ cpuUtil: 40 + i, memMegabytes: 9000 + i, gpuUtil: 80 + i, gpuMemMegabytes: 30000 + i, time: t(minutes + i) })),
    ...extra,
  };
}

const vars: Record<string, string> = { branch: 'main', gpu_name: GPU, last_n_commits: '10' };
/** Grafana's interpolation: `${var}`, and the PostgreSQL datasource's `$__timeFilter(col)` over the time range `from`/`to` (epoch ms). */
const substitute = (sql: string, range = { from: vars.StartTime, to: vars.EndTime }) => sql
  .replace(/\$__timeFilter\(([\w.]+)\)/g, (_m, col) => `${col} BETWEEN to_timestamp(${range.from} / 1000.0) AND to_timestamp(${range.to} / 1000.0)`)
  .replace(/\$\{(\w+)\}/g, (_m, v) => vars[v]);

const runIf = havePostgres() ? describe : describe.skip;

runIf('benchmark dashboard on PostgreSQL', () => {
  let pg: RunningPostgres;
  let db: Client;
  beforeAll(async () => {
    pg = await startPostgres();
    db = await pg.connect();
    await ensureSchema(db);
    await ensureSchema(db); // idempotent
    // Ids that sort opposite to time: ordering by id would show the oldest commit first.
    await recordBenchmark(db, run('aaaa111', 0, { benchmarkId: 'ffffffff-0000-4000-8000-000000000000' }));
    await recordBenchmark(db, run('bbbb222', 10, { benchmarkId: '00000000-0000-4000-8000-000000000000' }));
    await recordBenchmark(db, run('cccc333', 20));
    await recordBenchmark(db, run('dddd444', 5, { benchmarkId: '42' })); // a legacy integer id
    await recordBenchmark(db, run('ffff999', 100, { branch: 'feature' }));
    // The dashboard's own chained variables, evaluated as Grafana does once `branch` is chosen.
    const variable = (name: string) => (benchmarkDashboard() as any).templating.list.find((v: any) => v.name === name).query;
    for (const name of ['StartTime', 'EndTime']) vars[name] = String(Object.values((await db.query(substitute(variable(name)))).rows[0])[0]);
  }, 60_000);
  afterAll(async () => { await db?.end(); pg?.stop(); });

  const dashboard = benchmarkDashboard() as any;
  const panels: any[] = dashboard.panels.filter((p: any) => p.type !== 'row');

  test('the dashboard uses the provisioned PostgreSQL datasource, not a hard-coded upstream uid', () => {
    const json = JSON.stringify(dashboard);
    expect(json).not.toContain('be28nkzirtb0gd');
    for (const p of panels) expect(p.datasource).toEqual({ type: 'grafana-postgresql-datasource', uid: 'benchmarks-postgres' });
    expect(panels.map((p: any) => p.title)).toEqual(expect.arrayContaining(['First eager forward pass', 'Time to first token', 'Time to subsequent next tokens mean', 'First compile generate', 'CPU utilization', 'GPU memory usage']));
  });

  test('every variable query returns rows', async () => {
    for (const v of dashboard.templating.list.filter((x: any) => x.type === 'query')) {
      const r = await db.query(substitute(v.query));
      expect({ variable: v.name, rows: r.rowCount! > 0 }).toEqual({ variable: v.name, rows: true });
    }
  });

  test.each(panels.map((p) => [p.title, p]))('panel "%s" returns rows', async (_title, p) => {
    for (const t of p.targets) {
      const r = await db.query(substitute(t.rawSql));
      expect(r.rowCount).toBeGreaterThan(0);
    }
  });

  test("StartTime and EndTime span the branch's runs: its first benchmark - 5 s to its last device measurement + 5 s; the device panels keep to that range", async () => {
    const minute = (m: number) => Date.UTC(2026, 10, 1, 12, m);
    // main: runs at minutes 0, 5, 10 and 20, the last one's device samples until minute 22 (ids in no time order).
    expect({ StartTime: Number(vars.StartTime), EndTime: Number(vars.EndTime) }).toEqual({ StartTime: minute(0) - 5000, EndTime: minute(22) + 5000 });
    const names = (benchmarkDashboard() as any).templating.list.map((v: any) => [v.name, v.hide ?? 0]);
    expect(names).toEqual([['branch', 0], ['StartTime', 2], ['EndTime', 2], ['gpu_name', 0], ['last_n_commits', 0]]);
    expect(dashboard.links.filter((l: any) => l.title === 'Go to data')).toEqual([expect.objectContaining({ url: '/d/inference-benchmarks/?from=${StartTime}&to=${EndTime}', includeVars: true, keepTime: false })]);
    const cpu = panels.find((p: any) => p.title === 'CPU utilization').targets[0].rawSql;
    expect((await db.query(substitute(cpu))).rowCount).toBe(4 * 3);
    // The feature branch's range (its run at minute 100) holds none of main's measurements.
    const feature = { branch: 'feature' };
    const featureRange = { from: '', to: '' };
    for (const [k, name] of [['from', 'StartTime'], ['to', 'EndTime']] as const) {
      const q = (dashboard.templating.list.find((v: any) => v.name === name).query as string).replace('${branch}', feature.branch);
      featureRange[k] = String(Object.values((await db.query(q)).rows[0])[0]);
    }
    expect(Number(featureRange.from)).toBe(minute(100) - 5000);
    expect((await db.query(substitute(cpu, featureRange))).rowCount).toBe(0);
  });

  test('commits are listed newest first by time, whatever their ids', async () => {
    const commits = panels.find((p: any) => p.title === 'Commits');
    const r = await db.query(substitute(commits.targets[0].rawSql));
    expect(r.rows.map((x: any) => x.commit_id)).toEqual(['cccc333', 'bbbb222', 'dddd444', 'aaaa111']);
  });

  test('record-benchmark records a JSON run, and rejects a bad one naming the field', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-bench-'));
    const good = path.join(dir, 'run.json');
    fs.writeFileSync(good, JSON.stringify(run('eeee555', 30)));
    const out = new PassThrough(); let text = ''; out.on('data', (c) => { text += c; });
    expect(await main(['record-benchmark', '-f', good, '--database-url', pg.url], out, out)).toBe(0);
    expect(text).toMatch(/^recorded benchmark [0-9a-f-]{36}\n$/);
    expect((await db.query("SELECT count(*) AS n FROM benchmarks WHERE commit_id = 'eeee555'")).rows[0].n).toBe('1');
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ ...run('ffff666', 40), metadata: { model_id: 'x' } }));
    text = '';
    expect(await main(['record-benchmark', '-f', bad, '--database-url', pg.url], out, out)).toBe(1);
    expect(text).toBe('error: metadata.gpu_name: Required value (string)\n');
    expect(() => parseBenchmarkRun({ ...run('x', 1), modelMeasurements: [{ measurements: { ttft: 'fast' } }] })).toThrow('modelMeasurements[0].measurements.ttft: expected a number');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('record-benchmark keeps its deadline', () => {
  test('a database that accepts connections and never answers: connect fails by the deadline', async () => {
    const held: net.Socket[] = [];
    const server = net.createServer((s) => { held.push(s); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const db = new Client(benchmarkClientConfig(`postgres://u:p@127.0.0.1:${port}/metrics`, 1));
    const started = Date.now();
    await expect(db.connect()).rejects.toThrow(/timeout/i);
    expect(Date.now() - started).toBeLessThan(5000);
    for (const s of held) s.destroy();
    server.close();
  });
});
