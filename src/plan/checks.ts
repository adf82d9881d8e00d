/** Cross-field checks only a plan can make: object names that would collide, SLO thresholds between buckets. */
import { EngineProfile, SignalName, versionSatisfies } from '../engines/profile';
import { objectName } from '../names';
import { InferenceMonitoringSpec } from '../api/schema';
import { FieldError } from '../api/validate';
import { StackPlan } from './types';

/**
 * A model or target whose objects would take the name of one of the stack's
 * own (`<name>-prometheus`, `-grafana`, …) or of another model's (names are
 * shortened with a hash past 63 characters) is refused, rather than rendering
 * two objects of one name.
 */
export function checkNameCollisions(instance: string, names: StackPlan['names'], workloads: ReadonlyArray<{ at: string; name: string; objectName: string; groups?: boolean }>): FieldError[] {
  const errors: FieldError[] = [];
  // LeaderWorkerSet names each group's headless Service after its leader pod, `<object name>-<group index>`
  // (subdomainPolicy UniquePerReplica): no other workload's Service may take such a name.
  for (const g of workloads.filter((x) => x.groups)) {
    const groupService = new RegExp(`^${g.objectName}-[0-9]+$`);
    for (const w of workloads.filter((x) => groupService.test(x.objectName))) {
      errors.push({ path: w.at, message: `Invalid value: ${JSON.stringify(w.name)}: its objects would be named ${w.objectName}, like the headless Service LeaderWorkerSet creates for a group of ${g.at.replace(/\.name$/, '')}; choose another name` });
    }
  }
  const { dashboards: _prefix, ...objects } = names;
  const taken = new Map<string, string>(Object.entries(objects).map(([component, n]) => [n, `the stack's ${component}`]));
  taken.set(objectName([instance, 'default-deny']), 'the stack\'s default-deny NetworkPolicy');
  for (const w of workloads) {
    const by = taken.get(w.objectName);
    if (by) errors.push({ path: w.at, message: `Invalid value: ${JSON.stringify(w.name)}: its objects would be named ${w.objectName}, like ${by}; choose another name` });
    else taken.set(w.objectName, `those of ${w.at.replace(/\.name$/, '')}`);
  }
  return errors;
}

/**
 * A latency SLO counts requests faster than its threshold from the histogram
 * bucket with exactly that bound; a threshold between buckets would silently
 * count nothing, so it is rejected with the bounds that exist.
 */
export function checkSloThresholds(spec: InferenceMonitoringSpec, workloads: ReadonlyArray<{ profile: EngineProfile; version: string }>): FieldError[] {
  const errors: FieldError[] = [];
  const slos: Array<['ttft' | 'interTokenLatency', SignalName]> = [['ttft', 'ttft'], ['interTokenLatency', 'interTokenLatency']];
  for (const [key, signal] of slos) {
    const threshold = spec.slo?.[key]?.thresholdSeconds;
    if (threshold === undefined) continue;
    for (const w of workloads) {
      const metric = w.profile.signals[signal]?.find((x) => versionSatisfies(w.version, x.versions));
      if (!metric?.buckets) continue;
      const inUnit = metric.unit === 'milliseconds' ? threshold * 1000 : threshold;
      if (metric.buckets.some((b) => Math.abs(b - inUnit) < 1e-9)) continue;
      const scale = metric.unit === 'milliseconds' ? 1000 : 1;
      const near = metric.buckets.map((b) => b / scale).filter((b) => b >= threshold / 4 && b <= threshold * 4);
      errors.push({
        path: `spec.slo.${key}.thresholdSeconds`,
        message: `Invalid value: ${threshold}: not a bucket bound of ${w.profile.displayName}'s ${metric.metric} histogram, so no request could be counted against it; use one of ${(near.length ? near : metric.buckets.map((b) => b / scale)).join(', ')}`,
      });
      break;
    }
  }
  return errors;
}
