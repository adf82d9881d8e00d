/**
 * Alerting and recording rules of a stack, from the plan. The same groups
 * become a rule file (managed mode) or a PrometheusRule (operator mode).
 */
import { StackPlan } from '../plan/plan';
import { AlertingRule, RuleFile, RuleGroup } from '../prometheus/config-types';
import { DCGM_JOB } from '../prometheus/prometheus-config';

/** Jobs of the stack's inference scrape targets. */
export function inferenceJobs(plan: StackPlan): string[] {
  return [
    ...plan.models.filter((m) => m.metricsEndpoints.length > 0).map((m) => m.objectName),
    ...plan.targets.map((t) => t.objectName),
  ];
}

function targetGroup(plan: StackPlan): RuleGroup {
  const jobs = inferenceJobs(plan);
  const rules: AlertingRule[] = [];
  if (jobs.length) {
    rules.push({
      alert: 'InferenceTargetDown',
      expr: `up{job=~"${jobs.join('|')}"} == 0`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'An inference metrics endpoint cannot be scraped',
        description: '{{ $labels.job }} at {{ $labels.instance }} (pod {{ $labels.pod }}) has been down for 5 minutes; its data-parallel rank is missing from every dashboard.',
      },
    });
  }
  if (plan.spec.gpuMetrics.enabled) {
    rules.push({
      alert: 'GpuExporterDown',
      expr: `up{job="${DCGM_JOB}"} == 0`,
      for: '10m',
      labels: { severity: 'warning' },
      annotations: { summary: 'DCGM exporter cannot be scraped', description: 'GPU metrics from {{ $labels.node }} are missing.' },
    });
  }
  return { name: 'inference-monitoring.targets', rules };
}

/** Rule files by name. */
export function buildRuleFiles(plan: StackPlan): Record<string, RuleFile> {
  const groups = [targetGroup(plan)].filter((g) => g.rules.length > 0);
  return { 'inference-monitoring.yaml': { groups } };
}
