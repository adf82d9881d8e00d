/**
 * Every PromQL expression the project generates parses with Prometheus' own
 * PromQL grammar (@prometheus-io/lezer-promql): all dashboards of every
 * engine, every alerting and recording rule, and the stack's rule files.
 */
import { parser } from '@prometheus-io/lezer-promql';
import { catalogRuleGroups, buildRuleFiles } from '../../src/alerts/rules';
import { catalogDashboards, stackDashboards } from '../../src/dashboards';
import { dashboardQueries, substituteVariables } from '../../src/check/check-dashboards';
import { planStack } from '../../src/plan/plan';
import { EXAMPLE_NAME, EXAMPLE_NAMESPACE, EXAMPLE_SPEC } from '../../charts/example';
import { SPEC_VARIANTS } from '../harness/spec-variants';

export function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  parser.parse(expr).iterate({ enter: (n) => { if (n.type.isError) errors.push(`at ${n.from}: ${expr.slice(Math.max(0, n.from - 20), n.to + 20)}`); } });
  return errors;
}

const GRAFANA_VARS = { namespace: 'llm', model: 'a|b', rank: '.*', node: '.*', datasource: 'prometheus', __rate_interval: '5m' };

function allExpressions(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  const example = planStack({ name: EXAMPLE_NAME, namespace: EXAMPLE_NAMESPACE, spec: { ...EXAMPLE_SPEC, slo: { ttft: { thresholdSeconds: 1 }, availability: { objective: 0.999 } } } });
  if (!example.ok) throw new Error(JSON.stringify(example.errors));
  const dashboards = [...catalogDashboards().map((d) => d.dashboard), ...stackDashboards(example.value)];
  for (const d of dashboards) {
    for (const q of dashboardQueries(d).queries) out.push({ where: `${d.title} / ${q.panel}`, expr: substituteVariables(q.expr, GRAFANA_VARS) });
    for (const v of ((d as any).templating?.list ?? []) as any[]) {
      if (v.type === 'query' && v.datasource?.type === 'prometheus') out.push({ where: `${d.title} variable ${v.name}`, expr: substituteVariables(String(v.query).replace(/^label_values\((.*), \w+\)$/, '$1'), GRAFANA_VARS) });
    }
  }
  for (const { group } of catalogRuleGroups()) for (const r of group.rules) out.push({ where: `${group.name} ${'alert' in r ? r.alert : r.record}`, expr: r.expr });
  for (const spec of [...Object.values(SPEC_VARIANTS), { ...EXAMPLE_SPEC, slo: { ttft: { thresholdSeconds: 1 }, interTokenLatency: { thresholdSeconds: 0.1 }, availability: { objective: 0.99 } } }]) {
    const plan = planStack({ name: 'demo', namespace: 'llm', spec });
    if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
    for (const file of Object.values(buildRuleFiles(plan.value))) for (const g of file.groups) for (const r of g.rules) out.push({ where: `${g.name} ${'alert' in r ? r.alert : r.record}`, expr: r.expr });
  }
  return out;
}

describe('PromQL', () => {
  const exprs = allExpressions();

  test('there are hundreds of expressions to check', () => {
    expect(exprs.length).toBeGreaterThan(300);
  });

  test('every generated expression parses', () => {
    const bad = exprs.map((e) => ({ ...e, errors: promqlErrors(e.expr) })).filter((e) => e.errors.length);
    expect(bad).toEqual([]);
  });

  test('the parser does reject broken PromQL', () => {
    expect(promqlErrors('sum by (model) (rate(x[5m])')).not.toEqual([]);
    expect(promqlErrors('histogram_quantile(0.9, sum by (le) rate(x[5m]))')).not.toEqual([]);
    expect(promqlErrors('sum by (model) (rate(x{a=~"b"}[5m]))')).toEqual([]);
  });
});
