/**
 * The transformers benchmark dashboard (transformers `benchmark/grafana_dashboard.json`)
 * on the PostgreSQL schema in `sql/benchmarks.sql`: commits of a branch on a
 * GPU, eager forward passes, time to first/second/third and next tokens,
 * compiled generate, and CPU/GPU utilization and memory. The datasource is the
 * provisioned uid (upstream hard-codes `be28nkzirtb0gd`); queries order by
 * time, not by id (upstream's writer inserts UUIDs into an integer schema).
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DashboardBuilder, DashboardLinkBuilder, DashboardLinkType, QueryVariableBuilder, TextBoxVariableBuilder, VariableHide, VariableRefresh } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as BarChartBuilder } from '@grafana/grafana-foundation-sdk/barchart';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { DATASOURCE_UIDS } from '../grafana/provisioning';
import {
  DASHBOARD_TAG, DashboardContext, DashboardJson, DashboardStack, MEBIBYTES, PERCENT, SECONDS, Unit, applyOptions, dashboardContext, dashboardLinks, dashboardTitle,
  dashboardUid, layout, shownLink,
} from './common';

export const BENCHMARK_DASHBOARD_UID = 'inference-benchmarks';
const PG_DS = { type: 'grafana-postgresql-datasource', uid: DATASOURCE_UIDS.benchmarks };

/** A raw SQL target for Grafana's PostgreSQL datasource (the SDK has no builder for it). */
export interface SqlTarget { readonly refId: string; readonly rawSql: string; readonly format: 'table' | 'time_series' }

class SqlQueryBuilder implements cog.Builder<cog.Dataquery> {
  constructor(private readonly target: SqlTarget) {}
  build(): cog.Dataquery {
    const query = { refId: this.target.refId, datasource: PG_DS, rawSql: this.target.rawSql, format: this.target.format, rawQuery: true, editorMode: 'code' };
    return query as unknown as cog.Dataquery;
  }
}

/** Filters every benchmark query shares: the chosen branch and GPU. */
const FILTER = "b.branch = '${branch}' AND b.metadata->>'gpu_name' = '${gpu_name}'";

/** One model measurement (a key of `model_measurements.measurements`) for the last N commits. */
export function measurementSql(key: string): string {
  return [
    `SELECT left(b.commit_id, 7) AS commit, CAST(m.measurements->>'${key}' AS double precision) AS ${key}`,
    'FROM benchmarks AS b JOIN model_measurements AS m ON b.benchmark_id = m.benchmark_id',
    `WHERE ${FILTER} AND m.measurements ? '${key}'`,
    'ORDER BY m.time DESC LIMIT ${last_n_commits}',
  ].join('\n');
}

/** One device measurement column over time for the branch and GPU, within the dashboard's time range. */
export function deviceSql(column: string): string {
  return [
    `SELECT d.time AS time, d.${column} AS ${column}, left(b.commit_id, 7) AS commit`,
    'FROM benchmarks AS b JOIN device_measurements AS d ON b.benchmark_id = d.benchmark_id',
    `WHERE ${FILTER} AND $__timeFilter(d.time)`,
    'ORDER BY d.time',
  ].join('\n');
}

export const COMMITS_SQL = [
  "SELECT b.commit_id, b.commit_message, b.metadata->>'gpu_name' AS gpu_name, b.metadata->>'model_id' AS model_id, b.created_at AS date",
  'FROM benchmarks AS b',
  `WHERE ${FILTER}`,
  'ORDER BY b.created_at DESC LIMIT ${last_n_commits}',
].join('\n');

export const VARIABLE_SQL = {
  branch: 'SELECT DISTINCT branch FROM benchmarks ORDER BY 1',
  // The seed's hidden StartTime and EndTime: the branch's first benchmark minus 5 s and its last device
  // measurement plus 5 s, the time range of its runs (epoch milliseconds, what Grafana's from/to take).
  // Upstream picks them by benchmark_id order, which is no time order for UUIDs: by time here.
  StartTime: "SELECT CAST(EXTRACT(EPOCH FROM min(created_at) - INTERVAL '5 seconds') * 1000 AS bigint) FROM benchmarks WHERE branch = '${branch}'",
  EndTime: "SELECT CAST(EXTRACT(EPOCH FROM max(d.time) + INTERVAL '5 seconds') * 1000 AS bigint) FROM benchmarks AS b JOIN device_measurements AS d ON b.benchmark_id = d.benchmark_id WHERE b.branch = '${branch}'",
  gpu_name: "SELECT DISTINCT metadata->>'gpu_name' FROM benchmarks WHERE metadata ? 'gpu_name' ORDER BY 1",
} as const;

/** The seed's "Go to data" link: this dashboard (its uid) over the selected branch's runs (the device panels follow the range). */
export function branchRunsLinkUrl(uid: string): string {
  return `/d/${uid}/?from=\${StartTime}&to=\${EndTime}`;
}
export const BRANCH_RUNS_LINK_URL = branchRunsLinkUrl(BENCHMARK_DASHBOARD_UID);

/** Where the benchmark panels' numbers come from. */
const FROM_RUNS = 'Written by transformers\' benchmark runs (benchmark/ in huggingface/transformers) into the PostgreSQL schema of sql/benchmarks.sql';

const bar = (title: string, key: string, what: string) => applyOptions(new BarChartBuilder().title(title).datasource(PG_DS).xField('commit')
  .withTarget(new SqlQueryBuilder({ refId: 'A', rawSql: measurementSql(key), format: 'table' })), {
  unit: SECONDS, description: `${what}, for each of the last N commits of the branch on the chosen GPU; lower is better. ${FROM_RUNS}: \`model_measurements.measurements->>'${key}'\`.`,
});
const device = (title: string, column: string, unit: Unit, what: string) => applyOptions(new TimeseriesBuilder().title(title).datasource(PG_DS)
  .withTarget(new SqlQueryBuilder({ refId: 'A', rawSql: deviceSql(column), format: 'time_series' })), {
  unit, description: `${what} during the branch's benchmark runs on the chosen GPU, within the dashboard's time range ("Go to data" sets it to the runs). ${FROM_RUNS}: \`device_measurements.${column}\`.`,
});

/** The uid of the benchmark dashboard (of a stack's: `<base>-<hash>`, see `dashboardUid`). */
export function benchmarkDashboardUid(stack?: DashboardStack): string {
  return dashboardUid(BENCHMARK_DASHBOARD_UID, stack);
}

export function benchmarkDashboard(context: Partial<DashboardContext> = {}): DashboardJson {
  const ctx = dashboardContext(context);
  const uid = benchmarkDashboardUid(ctx.stack);
  const dash = new DashboardBuilder(dashboardTitle('Transformers benchmarks', ctx.stack))
    .uid(uid)
    .tags([DASHBOARD_TAG, 'benchmarks', 'transformers'])
    .time({ from: 'now-30d', to: 'now' })
    .timezone('browser')
    .readonly()
    .withVariable(new QueryVariableBuilder('branch').label('Branch').datasource(PG_DS).query(VARIABLE_SQL.branch).refresh(VariableRefresh.OnDashboardLoad))
    .withVariable(new QueryVariableBuilder('StartTime').datasource(PG_DS).query(VARIABLE_SQL.StartTime).refresh(VariableRefresh.OnDashboardLoad).hide(VariableHide.HideVariable))
    .withVariable(new QueryVariableBuilder('EndTime').datasource(PG_DS).query(VARIABLE_SQL.EndTime).refresh(VariableRefresh.OnDashboardLoad).hide(VariableHide.HideVariable))
    .withVariable(new QueryVariableBuilder('gpu_name').label('GPU').datasource(PG_DS).query(VARIABLE_SQL.gpu_name).refresh(VariableRefresh.OnDashboardLoad))
    .withVariable(new TextBoxVariableBuilder('last_n_commits').label('Last N commits').defaultValue('10').current({ text: '10', value: '10' }))
    .links([
      shownLink(new DashboardLinkBuilder('Go to data').type(DashboardLinkType.Link).icon('external link').tooltip("This branch's runs")
        .url(branchRunsLinkUrl(uid)).includeVars(true).keepTime(false).asDropdown(false).targetBlank(false).tags([])),
      ...dashboardLinks(false, ctx.linked),
    ]);
  const commits = applyOptions(new TableBuilder().title('Commits').datasource(PG_DS).withTarget(new SqlQueryBuilder({ refId: 'A', rawSql: COMMITS_SQL, format: 'table' })), {
    unit: { unit: 'none' }, description: `The last N benchmarked commits of the branch on the chosen GPU, newest first, with the model benchmarked. ${FROM_RUNS}: table \`benchmarks\`.`,
  });
  return layout(dash, [
    { panels: [{ panel: commits, width: 24, height: 6 }] },
    { title: 'Eager forward pass', panels: [
      { panel: bar('First eager forward pass', 'first_eager_forward_pass_time_secs', 'Time of the first (cold) eager forward pass over the prompt') },
      { panel: bar('Second eager forward pass', 'second_eager_forward_pass_time_secs', 'Time of the second eager forward pass over the prompt') },
    ] },
    { title: 'Time to next token', panels: [
      { panel: bar('Time to first token', 'time_to_first_token_secs', 'Time of the first forward pass of the torch.compile\'d model (includes compilation)'), width: 6 },
      { panel: bar('Time to second token', 'time_to_second_token_secs', 'Time of the compiled model\'s second token (one decode step)'), width: 6 },
      { panel: bar('Time to third token', 'time_to_third_token_secs', 'Time of the compiled model\'s third token (one decode step)'), width: 6 },
      { panel: bar('Time to subsequent next tokens mean', 'time_to_next_token_mean_secs', 'Mean time of the compiled model\'s decode steps after the third token'), width: 6 },
    ] },
    { title: 'Compiled generate', panels: [
      { panel: bar('First compile generate', 'first_compile_generate_time_secs', 'Time of the first generate() call with a static KV cache'), width: 6 },
      { panel: bar('Second compile generate', 'second_compile_generate_time_secs', 'Time of the second generate() call with a static KV cache'), width: 6 },
      { panel: bar('Third compile generate', 'third_compile_generate_time_secs', 'Time of the third generate() call with a static KV cache'), width: 6 },
      { panel: bar('Fourth compile generate', 'fourth_compile_generate_time_secs', 'Time of the fourth generate() call with a static KV cache'), width: 6 },
    ] },
    { title: 'Usage metrics', panels: [
      { panel: device('CPU utilization', 'cpu_util', { unit: 'percent', min: 0 }, 'CPU use of the benchmark process (psutil: 100% per core, so above 100 on several cores)') },
      { panel: device('GPU utilization', 'gpu_util', PERCENT, 'Utilization of the first GPU (gpustat), 0-100%') },
      { panel: device('Memory usage', 'mem_megabytes', MEBIBYTES, 'Resident memory of the benchmark process') },
      { panel: device('GPU memory usage', 'gpu_mem_megabytes', MEBIBYTES, 'Memory used on the first GPU (gpustat)') },
    ] },
  ]).build() as unknown as DashboardJson;
}
