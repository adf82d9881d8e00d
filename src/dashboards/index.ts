import { ENGINE_NAMES } from '../engines/engine-ids';
import { EngineName } from '../engines/profile';
import { PROFILES } from '../engines/registry';
import { StackPlan } from '../plan/plan';
import { AlertDefinition, groupAlerts } from '../alerts/rules';
import { benchmarkDashboard, benchmarkDashboardUid } from './benchmark';
import { DashboardContext, DashboardJson, DashboardStack, LinkedDashboard, StackDashboard, dashboardContext, dashboardTitle } from './common';
import { gpuDashboard, gpuDashboardUid } from './gpu';
import { lmdeployDashboard, lmdeployDashboardUid } from './lmdeploy';
import { servingDashboard, servingDashboardUid } from './serving';

export { DashboardJson, DashboardStack, StackDashboard };

/** Engine → the versions a stack runs (models and targets). */
export function enginesInUse(plan: StackPlan): Map<EngineName, string[]> {
  const out = new Map<EngineName, string[]>();
  for (const x of [...plan.models, ...plan.targets]) {
    const e = x.profile.engine;
    out.set(e, [...new Set([...(out.get(e) ?? []), x.version])].sort());
  }
  return new Map([...out.entries()].sort(([a], [b]) => ENGINE_NAMES.indexOf(a) - ENGINE_NAMES.indexOf(b)));
}

/** A dashboard before it is built: its name, what links to it, and how to build it with its links. */
interface PlannedDashboard {
  readonly name: string;
  readonly engine?: EngineName;
  readonly link: LinkedDashboard;
  build(ctx: DashboardContext): DashboardJson;
}

function planned(name: string, uid: string, title: string, linkTitle: string, stack: DashboardStack | undefined, build: (ctx: DashboardContext) => DashboardJson, engine?: EngineName): PlannedDashboard {
  return { name, engine, link: { uid, title: linkTitle, tooltip: dashboardTitle(title, stack), prometheus: name !== 'benchmarks' }, build };
}

/** The dashboards a set of engines (and the GPU and benchmark options) has, each linking all the others. */
function plannedDashboards(engines: ReadonlyMap<EngineName, readonly string[]>, opts: {
  gpu: boolean; benchmarks: boolean; stack?: DashboardStack;
  groups?: ReadonlyArray<{ engine: EngineName; model: string; targetsPerGroup: number; size: number; alerts: readonly AlertDefinition[] }>;
}): PlannedDashboard[] {
  const { stack } = opts;
  const out: PlannedDashboard[] = [];
  for (const [engine, versions] of engines) {
    const name = PROFILES[engine].displayName;
    const groups = (opts.groups ?? []).filter((g) => g.engine === engine).map(({ engine: _e, ...g }) => g);
    out.push(planned(`serving-${engine}`, servingDashboardUid(engine, stack), `Inference serving: ${name}`, `Serving: ${name}`, stack,
      (ctx) => servingDashboard(PROFILES[engine], versions, { ...ctx, ...(groups.length ? { groups } : {}), gpuMetrics: opts.gpu }), engine));
  }
  if (engines.has('lmdeploy')) out.push(planned('lmdeploy', lmdeployDashboardUid(stack), 'LMDeploy', 'LMDeploy ranks', stack, (ctx) => lmdeployDashboard(engines.get('lmdeploy')!, ctx), 'lmdeploy'));
  if (opts.gpu) out.push(planned('gpu', gpuDashboardUid(stack), 'Inference GPUs', 'GPUs', stack, (ctx) => gpuDashboard(ctx)));
  if (opts.benchmarks) out.push(planned('benchmarks', benchmarkDashboardUid(stack), 'Transformers benchmarks', 'Benchmarks', stack, (ctx) => benchmarkDashboard(ctx)));
  return out;
}

function built(dashboards: readonly PlannedDashboard[], base: Omit<DashboardContext, 'linked'>): Array<{ name: string; engine?: EngineName; dashboard: DashboardJson }> {
  return dashboards.map((d) => ({ name: d.name, engine: d.engine, dashboard: d.build({ ...base, linked: dashboards.filter((x) => x !== d).map((x) => x.link) }) }));
}

/**
 * The dashboards of a stack: one serving dashboard per engine in use, LMDeploy's, GPU and benchmarks as enabled,
 * each with the stack's uid and title (see `dashboardUid`), named by what it shows, linking the others by uid,
 * with the stack's alert thresholds and runbooks.
 */
export function stackDashboardFiles(plan: StackPlan): StackDashboard[] {
  const stack: DashboardStack = { namespace: plan.namespace, name: plan.name };
  const groups = plan.models.filter((x) => x.group).map((x) => ({ engine: x.profile.engine, model: x.spec.name, targetsPerGroup: x.group!.targetsPerGroup, size: x.group!.size, alerts: groupAlerts(plan, x) }));
  const dashboards = plannedDashboards(enginesInUse(plan), { gpu: plan.spec.gpuMetrics.enabled, benchmarks: plan.spec.benchmarks.enabled, stack, groups });
  return built(dashboards, { stack, alerts: plan.spec.alerts, runbookBaseUrl: plan.spec.alerting.runbookBaseUrl })
    .map(({ name, dashboard }) => ({ name, dashboard }));
}

/** The dashboards of a stack (see `stackDashboardFiles`). */
export function stackDashboards(plan: StackPlan): DashboardJson[] {
  return stackDashboardFiles(plan).map((d) => d.dashboard);
}

/**
 * Every Prometheus dashboard for every engine at its default version (for check-dashboards and the docs), with
 * the schema's default thresholds and runbook base, linking each other by their base uids.
 */
export function catalogDashboards(versions: Partial<Record<EngineName, string>> = {}): Array<{ engine?: EngineName; dashboard: DashboardJson }> {
  const engines = new Map(ENGINE_NAMES.map((e) => [e, [versions[e] ?? PROFILES[e].defaultVersion]]));
  const { stack: _none, linked: _linked, ...base } = dashboardContext();
  const all = built(plannedDashboards(engines, { gpu: true, benchmarks: false }), base);
  // Each engine's dashboards together: LMDeploy's own after its serving dashboard.
  const order = (x: { name: string; engine?: EngineName }) => (x.engine ? ENGINE_NAMES.indexOf(x.engine) : ENGINE_NAMES.length);
  return all.map((x, i) => ({ x, i })).sort((a, b) => order(a.x) - order(b.x) || a.i - b.i)
    .map(({ x: { engine, dashboard } }) => (engine ? { engine, dashboard } : { dashboard }));
}
