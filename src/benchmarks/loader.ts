/**
 * Records one benchmark run into the schema in `schema.ts`, in one
 * transaction: the run, its model measurements (a JSON object of
 * `*_secs` keys) and its device samples.
 */
import { randomUUID } from 'crypto';
import type { ClientBase, ClientConfig } from 'pg';
import { BENCHMARK_SCHEMA_SQL } from './schema';

/**
 * Connection settings with deadlines: a database that accepts the connection
 * and never answers (a stuck proxy, a full pool) fails the command instead of
 * hanging it. Connect, each query (client side) and each statement (server
 * side) get `timeoutSeconds`.
 */
export function benchmarkClientConfig(connectionString: string | undefined, timeoutSeconds = 30): ClientConfig {
  const ms = Math.round(timeoutSeconds * 1000);
  return { connectionString, connectionTimeoutMillis: ms, query_timeout: ms, statement_timeout: ms };
}

export interface BenchmarkRun {
  /** Default: a new UUID. */
  readonly benchmarkId?: string;
  readonly repository: string;
  readonly branch: string;
  readonly commitId: string;
  readonly commitMessage?: string;
  /** Includes `gpu_name` and `model_id`, which the dashboard filters and shows. */
  readonly metadata: Record<string, unknown> & { gpu_name: string; model_id?: string };
  /** ISO time; default now. */
  readonly createdAt?: string;
  readonly modelMeasurements: ReadonlyArray<{ readonly measurements: Record<string, number>; readonly time?: string }>;
  readonly deviceMeasurements: ReadonlyArray<{ readonly cpuUtil?: number; readonly memMegabytes?: number; readonly gpuUtil?: number; readonly gpuMemMegabytes?: number; readonly time?: string }>;
}

export class BenchmarkInputError extends Error {}

/** Checks a run read from JSON; the message names the field. */
export function parseBenchmarkRun(input: unknown): BenchmarkRun {
  const r = input as Record<string, any>;
  const need = (cond: boolean, field: string, what: string) => { if (!cond) throw new BenchmarkInputError(`${field}: ${what}`); };
  need(!!r && typeof r === 'object', '(root)', 'expected an object');
  for (const f of ['repository', 'branch', 'commitId']) need(typeof r[f] === 'string' && r[f].length > 0, f, 'Required value (non-empty string)');
  need(!!r.metadata && typeof r.metadata === 'object' && typeof r.metadata.gpu_name === 'string', 'metadata.gpu_name', 'Required value (string)');
  need(Array.isArray(r.modelMeasurements), 'modelMeasurements', 'expected a list');
  r.modelMeasurements.forEach((m: any, i: number) => {
    need(!!m && typeof m.measurements === 'object', `modelMeasurements[${i}].measurements`, 'expected an object');
    for (const [k, v] of Object.entries(m.measurements)) need(typeof v === 'number' && Number.isFinite(v), `modelMeasurements[${i}].measurements.${k}`, 'expected a number');
  });
  need(Array.isArray(r.deviceMeasurements ?? []), 'deviceMeasurements', 'expected a list');
  return { ...r, deviceMeasurements: r.deviceMeasurements ?? [] } as BenchmarkRun;
}

export async function ensureSchema(db: ClientBase): Promise<void> {
  await db.query(BENCHMARK_SCHEMA_SQL);
}

/** Inserts the run; returns its benchmark_id. */
export async function recordBenchmark(db: ClientBase, run: BenchmarkRun): Promise<string> {
  const id = run.benchmarkId ?? randomUUID();
  await db.query('BEGIN');
  try {
    await db.query(
      'INSERT INTO benchmarks (benchmark_id, repository, branch, commit_id, commit_message, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::timestamptz, now()))',
      [id, run.repository, run.branch, run.commitId, run.commitMessage ?? null, JSON.stringify(run.metadata), run.createdAt ?? null],
    );
    for (const m of run.modelMeasurements) {
      await db.query('INSERT INTO model_measurements (benchmark_id, measurements, time) VALUES ($1, $2, COALESCE($3::timestamptz, now()))', [id, JSON.stringify(m.measurements), m.time ?? null]);
    }
    for (const d of run.deviceMeasurements) {
      await db.query(
        'INSERT INTO device_measurements (benchmark_id, cpu_util, mem_megabytes, gpu_util, gpu_mem_megabytes, time) VALUES ($1, $2, $3, $4, $5, COALESCE($6::timestamptz, now()))',
        [id, d.cpuUtil ?? null, d.memMegabytes ?? null, d.gpuUtil ?? null, d.gpuMemMegabytes ?? null, d.time ?? null],
      );
    }
    await db.query('COMMIT');
  } catch (e) {
    await db.query('ROLLBACK');
    throw e;
  }
  return id;
}
