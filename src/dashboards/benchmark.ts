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
import { DashboardJson, DashboardStack, dashboardTitle, dashboardUid, layout } from './common';

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

const bar = (title: string, key: string) => new BarChartBuilder().title(title).datasource(PG_DS).unit('s').xField('commit')
  .withTarget(new SqlQueryBuilder({ refId: 'A', rawSql: measurementSql(key), format: 'table' }));
const device = (title: string, column: string, unit: string) => new TimeseriesBuilder().title(title).datasource(PG_DS).unit(unit)
  .withTarget(new SqlQueryBuilder({ refId: 'A', rawSql: deviceSql(column), format: 'time_series' }));

export function benchmarkDashboard(stack?: DashboardStack): DashboardJson {
  const uid = dashboardUid(BENCHMARK_DASHBOARD_UID, stack);
  const dash = new DashboardBuilder(dashboardTitle('Transformers benchmarks', stack))
    .uid(uid)
    .tags(['inference-monitoring', 'benchmarks', 'transformers'])
    .time({ from: 'now-30d', to: 'now' })
    .timezone('browser')
    .readonly()
    .withVariable(new QueryVariableBuilder('branch').label('Branch').datasource(PG_DS).query(VARIABLE_SQL.branch).refresh(VariableRefresh.OnDashboardLoad))
    .withVariable(new QueryVariableBuilder('StartTime').datasource(PG_DS).query(VARIABLE_SQL.StartTime).refresh(VariableRefresh.OnDashboardLoad).hide(VariableHide.HideVariable))
    .withVariable(new QueryVariableBuilder('EndTime').datasource(PG_DS).query(VARIABLE_SQL.EndTime).refresh(VariableRefresh.OnDashboardLoad).hide(VariableHide.HideVariable))
    .withVariable(new QueryVariableBuilder('gpu_name').label('GPU').datasource(PG_DS).query(VARIABLE_SQL.gpu_name).refresh(VariableRefresh.OnDashboardLoad))
    .withVariable(new TextBoxVariableBuilder('last_n_commits').label('Last N commits').defaultValue('10').current({ text: '10', value: '10' }))
    .link(new DashboardLinkBuilder('Go to data').type(DashboardLinkType.Link).icon('external link').tooltip("This branch's runs")
      .url(branchRunsLinkUrl(uid)).includeVars(true).keepTime(false).asDropdown(false).targetBlank(false).tags([]));
  return layout(dash, [
    { panels: [{ panel: new TableBuilder().title('Commits').datasource(PG_DS).withTarget(new SqlQueryBuilder({ refId: 'A', rawSql: COMMITS_SQL, format: 'table' })), width: 24, height: 6 }] },
    { title: 'Eager forward pass', panels: [
      { panel: bar('First eager forward pass', 'first_eager_forward_pass_time_secs') },
      { panel: bar('Second eager forward pass', 'second_eager_forward_pass_time_secs') },
    ] },
    { title: 'Time to next token', panels: [
      { panel: bar('Time to first token', 'time_to_first_token_secs'), width: 6 },
      { panel: bar('Time to second token', 'time_to_second_token_secs'), width: 6 },
      { panel: bar('Time to third token', 'time_to_third_token_secs'), width: 6 },
      { panel: bar('Time to subsequent next tokens mean', 'time_to_next_token_mean_secs'), width: 6 },
    ] },
    { title: 'Compiled generate', panels: [
      { panel: bar('First compile generate', 'first_compile_generate_time_secs'), width: 6 },
      { panel: bar('Second compile generate', 'second_compile_generate_time_secs'), width: 6 },
      { panel: bar('Third compile generate', 'third_compile_generate_time_secs'), width: 6 },
      { panel: bar('Fourth compile generate', 'fourth_compile_generate_time_secs'), width: 6 },
    ] },
    { title: 'Usage metrics', panels: [
      { panel: device('CPU utilization', 'cpu_util', 'percent') },
      { panel: device('GPU utilization', 'gpu_util', 'percent') },
      { panel: device('Memory usage', 'mem_megabytes', 'decmbytes') },
      { panel: device('GPU memory usage', 'gpu_mem_megabytes', 'decmbytes') },
    ] },
  ]).build() as unknown as DashboardJson;
}
