import { ENGINE_NAMES } from '../engines/engine-ids';
import { EngineName } from '../engines/profile';
import { PROFILES } from '../engines/registry';
import { StackPlan } from '../plan/plan';
import { benchmarkDashboard } from './benchmark';
import { DashboardJson, DashboardStack, StackDashboard } from './common';
import { gpuDashboard } from './gpu';
import { lmdeployDashboard } from './lmdeploy';
import { servingDashboard } from './serving';

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

/**
 * The dashboards of a stack: one serving dashboard per engine in use, LMDeploy's, GPU and benchmarks as enabled,
 * each with the stack's uid and title (see `dashboardUid`), named by what it shows.
 */
export function stackDashboardFiles(plan: StackPlan): StackDashboard[] {
  const stack: DashboardStack = { namespace: plan.namespace, name: plan.name };
  const engines = enginesInUse(plan);
  const out: StackDashboard[] = [];
  for (const [engine, versions] of engines) out.push({ name: `serving-${engine}`, dashboard: servingDashboard(PROFILES[engine], versions, stack) });
  if (engines.has('lmdeploy')) out.push({ name: 'lmdeploy', dashboard: lmdeployDashboard(engines.get('lmdeploy')!, stack) });
  if (plan.spec.gpuMetrics.enabled) out.push({ name: 'gpu', dashboard: gpuDashboard(stack) });
  if (plan.spec.benchmarks.enabled) out.push({ name: 'benchmarks', dashboard: benchmarkDashboard(stack) });
  return out;
}

/** The dashboards of a stack (see `stackDashboardFiles`). */
export function stackDashboards(plan: StackPlan): DashboardJson[] {
  return stackDashboardFiles(plan).map((d) => d.dashboard);
}

/** Every Prometheus dashboard for every engine at its default version (for check-dashboards and the docs). */
export function catalogDashboards(versions: Partial<Record<EngineName, string>> = {}): Array<{ engine?: EngineName; dashboard: DashboardJson }> {
  const out: Array<{ engine?: EngineName; dashboard: DashboardJson }> = [];
  for (const engine of ENGINE_NAMES) {
    const v = [versions[engine] ?? PROFILES[engine].defaultVersion];
    out.push({ engine, dashboard: servingDashboard(PROFILES[engine], v) });
    if (engine === 'lmdeploy') out.push({ engine, dashboard: lmdeployDashboard(v) });
  }
  out.push({ dashboard: gpuDashboard() });
  return out;
}
