/**
 * Presets shared by the dashboards, on the Grafana Foundation SDK's typed
 * builders: the datasource variable wired once, namespace/model variables,
 * timeseries/stat/heatmap panels with PromQL targets, and a text panel that
 * says why a signal is missing instead of showing "No data".
 */
import { createHash } from 'crypto';
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DashboardBuilder, DashboardCursorSync, DashboardLink, DashboardLinkBuilder, DashboardLinkType, DatasourceVariableBuilder, MappingType, QueryVariableBuilder,
  ThresholdsConfig as Thresholds, ThresholdsConfigBuilder, ThresholdsMode, VariableRefresh, VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as HeatmapBuilder, YAxisConfigBuilder } from '@grafana/grafana-foundation-sdk/heatmap';
import { PanelBuilder as TextBuilder } from '@grafana/grafana-foundation-sdk/text';
import { GraphThresholdsStyleConfigBuilder, GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement, VizLegendOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { Expr, m, print } from '../promql/ast';
import { QueryScope } from '../promql/signals';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';
import { DEFAULT_RUNBOOK_BASE_URL, InferenceMonitoringSpec, SpecSchema } from '../api/schema';
import type { AlertDefinition } from '../alerts/rules';
import { NEUTRAL_STEPS, PanelAlert, alertSentence, alertSteps, relatedSentence, runbookLink } from './panel-alerts';

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

/** The tag every dashboard of ours carries. */
export const DASHBOARD_TAG = 'inference-monitoring';
/** The controller dashboard's own tag (src/install/controller-dashboard.ts): the stacks' dashboards link it by tag. */
export const CONTROLLER_DASHBOARD_TAG = 'controller';

/** The spec's `alerts`: whether the stack emits alerts, and their thresholds. */
export type AlertThresholds = InferenceMonitoringSpec['alerts'];

/** The defaults of `alerts`, read from the schema: what a dashboard without a stack draws (the catalog, the docs). */
export function defaultAlertThresholds(): AlertThresholds {
  const props = SpecSchema.properties.alerts.properties as Record<string, { default?: unknown }>;
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.default])) as AlertThresholds;
}

/** Another dashboard of the same stack, as a link. */
export interface LinkedDashboard {
  readonly uid: string;
  /** The link's text ("GPUs"); the dashboard's title is its tooltip. */
  readonly title: string;
  readonly tooltip: string;
  /** Reads Prometheus with the namespace/model variables: links between two such keep the time range and variables. */
  readonly prometheus: boolean;
}

/** What a dashboard is built with besides its engine: its stack, the stack's alerts and runbooks, the dashboards it links. */
export interface DashboardContext {
  /** Undefined for the catalog (docs, check-dashboards): base uids and titles. */
  readonly stack?: DashboardStack;
  readonly alerts: AlertThresholds;
  /** `alerting.runbookBaseUrl`. */
  readonly runbookBaseUrl: string;
  /** The other dashboards of the stack. */
  readonly linked: readonly LinkedDashboard[];
  /**
   * The stack's models of this dashboard's engine whose replicas span several pods (LeaderWorkerSet groups), with
   * the `/metrics` targets each group has when healthy: they get a row per group.
   * @default - none
   */
  readonly groups?: ReadonlyArray<{ readonly model: string; readonly targetsPerGroup: number; readonly size: number; readonly alerts: readonly AlertDefinition[] }>;
  /**
   * Whether GPU metrics (DCGM) are scraped in the stack, for panels joining GPUs to pods.
   * @default false
   */
  readonly gpuMetrics?: boolean;
}

/** A context with the schema's defaults where `ctx` says nothing. */
export function dashboardContext(ctx: Partial<DashboardContext> = {}): DashboardContext {
  return { alerts: defaultAlertThresholds(), runbookBaseUrl: DEFAULT_RUNBOOK_BASE_URL, linked: [], ...ctx };
}

/**
 * A link as built, without the SDK's default `placement: inControlsMenu`: Grafana (12, dashboard scenes) shows
 * only links without a placement on the dashboard and moves the others into its controls menu.
 */
export function shownLink(link: DashboardLinkBuilder): cog.Builder<DashboardLink> {
  return {
    build: () => {
      const { placement: _menu, ...shown } = link.build();
      return shown as DashboardLink;
    },
  };
}

/**
 * The dashboard's links: each other dashboard of its stack by its planned uid (`dashboardUid`: unique per stack, so
 * several stacks on one Grafana never link each other's, where a tag such as `gpu` would list every stack's), and
 * the controller's dashboard by tag (one per cluster, and absent where the controller is not installed: a tag link
 * then shows nothing, where a uid link would be a dead end).
 */
export function dashboardLinks(prometheus: boolean, linked: readonly LinkedDashboard[]): Array<cog.Builder<DashboardLink>> {
  return [
    ...linked.map((d) => {
      const keep = prometheus && d.prometheus;
      return new DashboardLinkBuilder(d.title).type(DashboardLinkType.Link).url(`/d/${d.uid}`).tooltip(d.tooltip).icon('dashboard')
        .includeVars(keep).keepTime(keep).targetBlank(false).asDropdown(false).tags([]);
    }),
    new DashboardLinkBuilder('Controller').type(DashboardLinkType.Dashboards).tags([DASHBOARD_TAG, CONTROLLER_DASHBOARD_TAG]).tooltip('The inference-monitoring controller, where it is installed')
      .icon('dashboard').includeVars(false).keepTime(true).targetBlank(false).asDropdown(false),
  ].map(shownLink);
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
    .tags([DASHBOARD_TAG, ...tags])
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

/** A panel's unit and the range its quantity can take (Grafana's axis and gauge bounds). */
export interface Unit { readonly unit: string; readonly min?: number; readonly max?: number }

/** A share between 0 and 1 (KV-cache usage, error ratio, hit rate, batch fill). */
export const RATIO: Unit = { unit: 'percentunit', min: 0, max: 1 };
/** A utilisation in percent of one device (DCGM's and gpustat's GPU utilisation). */
export const PERCENT: Unit = { unit: 'percent', min: 0, max: 100 };
export const SECONDS: Unit = { unit: 's', min: 0 };
/** A count of things (requests, keys, resources). */
export const COUNT: Unit = { unit: 'short', min: 0 };
/** A quotient of two counts that is not a share (generated tokens per prompt token). */
export const FACTOR: Unit = { unit: 'short', min: 0 };
export const REQUESTS_PER_SECOND: Unit = { unit: 'reqps', min: 0 };
export const OPS_PER_SECOND: Unit = { unit: 'ops', min: 0 };
export const BYTES: Unit = { unit: 'bytes', min: 0 };
/** MiB (DCGM's framebuffer, the benchmark's RSS/1024² and gpustat's memory): Grafana's `mbytes`, not the decimal `decmbytes`. */
export const MEBIBYTES: Unit = { unit: 'mbytes', min: 0 };
export const WATTS: Unit = { unit: 'watt', min: 0 };
export const CELSIUS: Unit = { unit: 'celsius' };
/** A code, not an amount (the last XID error). */
export const CODE: Unit = { unit: 'none', min: 0 };
/** A 0/1 flag (Ready). */
export const FLAG: Unit = { unit: 'none', min: 0, max: 1 };

/** `<what>/s` with Grafana's K/M/B scaling (its custom `count:` unit): `1.2K tokens/s`. */
export function perSecond(what: string): Unit {
  return { unit: `count:${what}/s`, min: 0 };
}
export const TOKENS_PER_SECOND = perSecond('tokens');

/** How a panel is read: its unit, its description, and the alerts on what it shows. */
export interface PanelOptions {
  readonly unit: Unit;
  /** What the panel shows and where its numbers come from (metric, engine version, caveats). */
  readonly description: string;
  /** The alert on this panel's signal: its threshold is drawn, its runbook linked. */
  readonly alert?: PanelAlert;
  /** Alerts on a quantity next to this one: runbooks linked, thresholds not drawn. */
  readonly related?: ReadonlyArray<PanelAlert | undefined>;
}

/** The field options every panel builder of the SDK has. */
interface FieldOptionsBuilder {
  unit(unit: string): unknown;
  min(min: number): unknown;
  max(max: number): unknown;
  description(description: string): unknown;
  thresholds(thresholds: cog.Builder<Thresholds>): unknown;
  links(links: Array<cog.Builder<DashboardLink>>): unknown;
}

/** Unit, bounds, thresholds, description and runbook links: every data panel of ours goes through here. */
export function applyOptions<P extends FieldOptionsBuilder>(p: P, o: PanelOptions): P {
  const related = (o.related ?? []).filter((a): a is PanelAlert => !!a && a.definition.alert !== o.alert?.definition.alert);
  p.unit(o.unit.unit);
  if (o.unit.min !== undefined) p.min(o.unit.min);
  if (o.unit.max !== undefined) p.max(o.unit.max);
  p.thresholds(new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(o.alert ? alertSteps(o.alert) : [...NEUTRAL_STEPS]));
  p.description([o.description, ...(o.alert ? [alertSentence(o.alert)] : []), ...related.map(relatedSentence)].join(' '));
  const links = [...(o.alert ? [o.alert] : []), ...related].map((a) => shownLink(runbookLink(a)));
  if (links.length) p.links(links);
  return p;
}

export function timeseries(title: string, targets: readonly Target[], o: PanelOptions): TimeseriesBuilder {
  const p = applyOptions(new TimeseriesBuilder().title(title).datasource(PROMETHEUS_DS).legend(legend()), o);
  // The alert's levels as dashed lines; the series keep their own colours.
  if (o.alert) p.thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed));
  targets.forEach((t, i) => p.withTarget(targetBuilder(t, i)));
  return p;
}

export function stat(title: string, target: Target, o: PanelOptions): StatBuilder {
  return applyOptions(new StatBuilder().title(title).datasource(PROMETHEUS_DS), o).withTarget(targetBuilder(target, 0));
}

/** A histogram's buckets over time: `o.unit` is the cells' (observations per second), `bucketUnit` the y axis' (the bounds). */
export function heatmap(title: string, target: Target, o: PanelOptions, bucketUnit: Unit): HeatmapBuilder {
  return applyOptions(new HeatmapBuilder().title(title).datasource(PROMETHEUS_DS), o).yAxis(new YAxisConfigBuilder().unit(bucketUnit.unit))
    .withTarget(targetBuilder({ ...target, format: 'heatmap' }, 0));
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
  return new TextBuilder().title(title).description(`Not available for this engine: ${reason}`).content(`**Not available for this engine.** ${reason}`).transparent(true);
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
