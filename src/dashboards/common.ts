/**
 * Presets shared by the dashboards, on the Grafana Foundation SDK's typed
 * builders: the datasource variable wired once, namespace/model variables,
 * timeseries/stat/heatmap panels with PromQL targets, and a text panel that
 * says why a signal is missing instead of showing "No data".
 */
import { createHash } from 'crypto';
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DashboardBuilder, DashboardCursorSync, DatasourceVariableBuilder, MappingType, QueryVariableBuilder, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as HeatmapBuilder } from '@grafana/grafana-foundation-sdk/heatmap';
import { PanelBuilder as TextBuilder } from '@grafana/grafana-foundation-sdk/text';
import { LegendDisplayMode, LegendPlacement, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { Expr, m, print } from '../promql/ast';
import { QueryScope } from '../promql/signals';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';

export const PROMETHEUS_DS = { type: 'prometheus', uid: '${datasource}' };

/** A dashboard as Grafana stores it (JSON model). */
export interface DashboardJson { readonly uid: string; readonly title: string; readonly [key: string]: unknown }

/** A dashboard and the short name its ConfigMap is named by (`<prefix>-dashboard-<name>`), whatever its uid. */
export interface StackDashboard { readonly name: string; readonly dashboard: DashboardJson }

/** Grafana refuses a dashboard uid longer than this. */
export const MAX_DASHBOARD_UID = 40;

/**
 * The stack a dashboard belongs to. Its uid and title carry it: one Grafana (kube-prometheus-stack's, whose sidecar
 * collects every labelled ConfigMap of the cluster into one directory) then holds every stack's dashboards side by
 * side, where identical uids, file names or titles in one folder would overwrite each other.
 */
export interface DashboardStack { readonly namespace: string; readonly name: string }

/**
 * `<base>-<8 hex>`: the hash of `<namespace>/<name>` (neither can hold a `/`), so it never changes while the
 * resource lives, and two stacks differ. Without a stack (the catalog, the docs), the base uid.
 */
export function dashboardUid(base: string, stack?: DashboardStack): string {
  if (!stack) return base;
  const hash = createHash('sha256').update(`${stack.namespace}/${stack.name}`).digest('hex').slice(0, 8);
  return `${base.slice(0, MAX_DASHBOARD_UID - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/** `<title> (<namespace>/<name>)`: Grafana lets a dashboard with the title of another in its folder take that one's place. */
export function dashboardTitle(title: string, stack?: DashboardStack): string {
  return stack ? `${title} (${stack.namespace}/${stack.name})` : title;
}

/** Scope of dashboard queries: the namespace and model variables, and Grafana's rate interval. */
export function dashboardScope(engine?: string): QueryScope {
  return {
    matchers: [
      m('namespace', '=~', '$namespace'),
      m(SERIES_MODEL_LABEL, '=~', '$model'),
      ...(engine ? [m(SERIES_ENGINE_LABEL, '=', engine)] : []),
    ],
    window: '$__rate_interval',
  };
}

/** What every dashboard of ours has: title, uid, tags, refresh, time range, and the datasource variable. */
export function dashboardSkeleton(uid: string, title: string, tags: string[]): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .tags(['inference-monitoring', ...tags])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .readonly()
    .withVariable(new DatasourceVariableBuilder('datasource').label('Datasource').type('prometheus'));
}

/** Dashboard skeleton with the namespace/model variables of the inference dashboards. */
export function baseDashboard(uid: string, title: string, tags: string[], modelQuery: string): DashboardBuilder {
  return dashboardSkeleton(uid, title, tags)
    .withVariable(new QueryVariableBuilder('namespace').label('Namespace').datasource(PROMETHEUS_DS)
      .query(`label_values(${modelQuery}, namespace)`).refresh(VariableRefresh.OnTimeRangeChanged).sort(VariableSort.AlphabeticalAsc).multi(true).includeAll(true))
    .withVariable(new QueryVariableBuilder('model').label('Model').datasource(PROMETHEUS_DS)
      .query(`label_values(${modelQuery.replace(/}$/, ', namespace=~"$namespace"}')}, ${SERIES_MODEL_LABEL})`).refresh(VariableRefresh.OnTimeRangeChanged).sort(VariableSort.AlphabeticalAsc).multi(true).includeAll(true));
}

export interface Target { readonly expr: Expr; readonly legend: string; readonly format?: 'time_series' | 'heatmap' }

function targetBuilder(t: Target, i: number): DataqueryBuilder {
  const q = new DataqueryBuilder().expr(print(t.expr)).legendFormat(t.legend).refId(String.fromCharCode(65 + i)).range();
  if (t.format === 'heatmap') q.format('heatmap' as any);
  return q;
}

const legend = () => new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom);

export function timeseries(title: string, unit: string, targets: readonly Target[], description?: string): TimeseriesBuilder {
  const p = new TimeseriesBuilder().title(title).datasource(PROMETHEUS_DS).unit(unit).legend(legend());
  if (description) p.description(description);
  targets.forEach((t, i) => p.withTarget(targetBuilder(t, i)));
  return p;
}

export function stat(title: string, unit: string, target: Target, description?: string): StatBuilder {
  const p = new StatBuilder().title(title).datasource(PROMETHEUS_DS).unit(unit).withTarget(targetBuilder(target, 0));
  if (description) p.description(description);
  return p;
}

export function heatmap(title: string, target: Target, description?: string): HeatmapBuilder {
  const p = new HeatmapBuilder().title(title).datasource(PROMETHEUS_DS).withTarget(targetBuilder({ ...target, format: 'heatmap' }, 0));
  if (description) p.description(description);
  return p;
}

/**
 * A latency panel's honesty about its histogram: histogram_quantile interpolates linearly inside a bucket, so a
 * quantile below the first bound says only "below it" (a 9 µs queue time would read half the first bound). Values
 * under the first bound are shown as `< <bound> s` on the quantile series, and the description names the bounds.
 */
export function belowFirstBucket(p: TimeseriesBuilder, bounds: readonly number[], quantileLegend: RegExp): TimeseriesBuilder {
  const first = bounds[0];
  // Only the quantile series: a mean (sum / count) is exact whatever the buckets.
  return p.overrideByRegexp(quantileLegend.source, [
    { id: 'mappings', value: [{ type: MappingType.RangeToText, options: { from: 0, to: first, result: { text: `< ${first} s`, index: 0 } } }] },
  ]);
}

/** Shown where an engine lacks a signal: says so, instead of an empty panel. */
export function unavailable(title: string, reason: string): TextBuilder {
  return new TextBuilder().title(title).content(`**Not available for this engine.** ${reason}`).transparent(true);
}

/**
 * Lays panels out on Grafana's 24-column grid in order, `width` columns each,
 * and gives every panel a unique id (Grafana's upstream dashboards have
 * collided ids; ours cannot).
 */
export function layout(dash: DashboardBuilder, rows: ReadonlyArray<{ title?: string; panels: ReadonlyArray<{ panel: cog.Builder<any>; width?: number; height?: number }> }>): DashboardBuilder {
  let y = 0;
  let id = 1;
  for (const row of rows) {
    if (row.title) {
      dash.withPanel(rowPanel(row.title, id++, y));
      y += 1;
    }
    let x = 0;
    let rowHeight = 0;
    for (const { panel, width = 12, height = 8 } of row.panels) {
      if (x + width > 24) { x = 0; y += rowHeight; rowHeight = 0; }
      (panel as any).id(id++).gridPos({ x, y, w: width, h: height });
      dash.withPanel(panel);
      x += width;
      rowHeight = Math.max(rowHeight, height);
    }
    y += rowHeight;
  }
  return dash;
}

/** A collapsed=false row header as a plain panel builder (the SDK's RowBuilder cannot take an id through withPanel). */
function rowPanel(title: string, id: number, y: number): cog.Builder<any> {
  return { build: () => ({ type: 'row', title, id, collapsed: false, panels: [], gridPos: { x: 0, y, w: 24, h: 1 } }) };
}
