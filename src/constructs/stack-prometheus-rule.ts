import { Construct } from 'constructs';
import { PrometheusRule, PrometheusRuleSpecGroupsRulesExpr } from '../imports/monitoring.coreos.com';
import { RuleFile } from '../prometheus/config-types';

export interface StackPrometheusRuleProps {
  readonly name: string;
  readonly namespace: string;
  /** Labels of the PrometheusRule; include `release` so kube-prometheus-stack loads it. */
  readonly labels: Record<string, string>;
  /** The same groups the managed mode writes as a rule file. */
  readonly rules: RuleFile;
}

/** The stack's alerting and recording rules as a prometheus-operator PrometheusRule. */
export class StackPrometheusRule extends Construct {
  public readonly resource: PrometheusRule;

  constructor(scope: Construct, id: string, props: StackPrometheusRuleProps) {
    super(scope, id);
    this.resource = new PrometheusRule(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      spec: {
        groups: props.rules.groups.map((g) => ({
          name: g.name,
          ...(g.interval ? { interval: g.interval } : {}),
          rules: g.rules.map((r) => ('alert' in r
            ? { alert: r.alert, expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr), for: r.for, keepFiringFor: r.keep_firing_for, labels: r.labels, annotations: r.annotations }
            : { record: r.record, expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr), labels: r.labels })),
        })),
      },
    });
  }
}
