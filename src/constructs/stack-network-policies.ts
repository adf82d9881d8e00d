import { Construct } from 'constructs';
import { KubeNetworkPolicy, NetworkPolicyIngressRule } from 'cdk8s-plus-28/lib/imports/k8s';
import { IntOrString } from 'cdk8s-plus-28/lib/imports/k8s';
import { stackLabels } from '../names';

export interface PodGroup {
  /** Pod labels (matchLabels). */
  readonly selector: Record<string, string>;
}

export interface StackNetworkPoliciesProps {
  readonly namespace: string;
  /** `app.kubernetes.io/instance` value. */
  readonly instance: string;
  readonly prometheus?: PodGroup & { readonly name: string; readonly port: number };
  readonly tempo?: PodGroup & { readonly name: string; readonly queryPort: number; readonly otlpPorts: readonly number[] };
  /** Grafana: users reach its HTTP port from anywhere, nothing else. */
  readonly grafana?: PodGroup & { readonly name: string; readonly port: number };
  readonly dcgm?: PodGroup & { readonly name: string; readonly port: number };
  /** Model pods: `openPorts` serve clients (anyone may connect), `metricsOnlyPorts` only Prometheus. */
  readonly models: ReadonlyArray<PodGroup & { readonly name: string; readonly openPorts: readonly number[]; readonly metricsOnlyPorts: readonly number[]; readonly pushesToPrometheus: boolean; readonly sendsTraces: boolean }>;
}

/**
 * Ingress NetworkPolicies of the managed stack: only Grafana (and Tempo's
 * metrics generator and engines pushing OTLP) reach Prometheus, only engines
 * and Grafana reach Tempo, and only Prometheus reaches metrics-only ports.
 * A port that serves both clients and `/metrics` (vLLM, SGLang, TGI) stays
 * open: a NetworkPolicy cannot tell a path apart.
 */
export class StackNetworkPolicies extends Construct {
  public readonly policies: KubeNetworkPolicy[] = [];

  constructor(scope: Construct, id: string, props: StackNetworkPoliciesProps) {
    super(scope, id);
    const labels = stackLabels(props.instance, 'network-policy', 'security');
    const tcp = (port: number) => ({ protocol: 'TCP', port: IntOrString.fromNumber(port) });
    const from = (...groups: Array<PodGroup | undefined>) => groups.filter((g): g is PodGroup => g !== undefined).map((g) => ({ podSelector: { matchLabels: g.selector } }));
    // A rule whose `from` is empty matches every source: with no peer to admit, the rule is left out (no
    // rule admits nobody), it never becomes "from everywhere". Only ports open to clients have no `from`.
    const fenced = (peers: NetworkPolicyIngressRule['from'], ports: NetworkPolicyIngressRule['ports']): NetworkPolicyIngressRule[] =>
      peers && peers.length ? [{ from: peers, ports }] : [];
    const policy = (name: string, selector: Record<string, string>, ingress: NetworkPolicyIngressRule[]) => {
      this.policies.push(new KubeNetworkPolicy(this, name, {
        metadata: { name, namespace: props.namespace, labels },
        spec: { podSelector: { matchLabels: selector }, policyTypes: ['Ingress'], ingress },
      }));
    };

    if (props.prometheus) {
      const pushers = props.models.filter((m) => m.pushesToPrometheus);
      policy(props.prometheus.name, props.prometheus.selector, fenced([...from(props.grafana, props.tempo), ...from(...pushers)], [tcp(props.prometheus.port)]));
    }
    if (props.tempo) {
      const senders = props.models.filter((m) => m.sendsTraces);
      policy(props.tempo.name, props.tempo.selector, [
        ...fenced(from(props.grafana), [tcp(props.tempo.queryPort)]),
        ...fenced(from(...senders), props.tempo.otlpPorts.map(tcp)),
      ]);
    }
    if (props.grafana) {
      policy(props.grafana.name, props.grafana.selector, [{ ports: [tcp(props.grafana.port)] }]);
    }
    if (props.dcgm && props.prometheus) {
      policy(props.dcgm.name, props.dcgm.selector, fenced(from(props.prometheus), [tcp(props.dcgm.port)]));
    }
    for (const m of props.models) {
      const rules: NetworkPolicyIngressRule[] = [];
      if (m.openPorts.length) rules.push({ ports: m.openPorts.map(tcp) });
      if (m.metricsOnlyPorts.length) rules.push(...fenced(from(props.prometheus), m.metricsOnlyPorts.map(tcp)));
      policy(m.name, m.selector, rules);
    }
  }
}
