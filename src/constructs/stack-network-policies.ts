import { Construct } from 'constructs';
import { IntOrString, KubeNetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer } from 'cdk8s-plus-28/lib/imports/k8s';
import { objectName, stackLabels } from '../names';
import { NetworkPoliciesPlan, Peer } from '../plan/types';

export { EgressAllowance, ModelPolicy, Peer, PolicyComponent } from '../plan/types';

/** What the policies are drawn from: the plan's `networkPolicies` (see `planNetworkPolicies`). */
export type StackNetworkPoliciesProps = NetworkPoliciesPlan;

const tcp = (port: number) => ({ protocol: 'TCP', port: IntOrString.fromNumber(port) });
const peer = (p: Peer, policyNamespace: string): NetworkPolicyPeer => ({
  podSelector: { matchLabels: p.selector },
  // A peer in the policy's own namespace needs no namespaceSelector; one elsewhere is matched by the
  // namespace name label the apiserver sets on every namespace (it cannot be spoofed by a tenant).
  ...(p.namespace && p.namespace !== policyNamespace ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } } } : {}),
});

/**
 * NetworkPolicies of a stack, in both monitoring modes: only Grafana, Tempo's
 * metrics generator, OTLP-pushing engines and KEDA reach the stack's
 * Prometheus; only Grafana queries Tempo and only trace-exporting engines send
 * to it; only the scraping Prometheus (the stack's own or the shared one)
 * reaches metrics-only ports. A port that serves both clients and `/metrics`
 * (vLLM, SGLang, TGI) stays open: a NetworkPolicy cannot tell a path apart.
 * With `defaultDeny`, every pod of the stack is also denied all other ingress
 * and egress, and each component gets the egress it needs.
 */
export class StackNetworkPolicies extends Construct {
  public readonly policies: KubeNetworkPolicy[] = [];

  constructor(scope: Construct, id: string, props: StackNetworkPoliciesProps) {
    super(scope, id);
    const labels = stackLabels(props.instance, 'network-policy', 'security');
    const ns = props.namespace;
    const from = (...peers: Array<Peer | undefined>) => peers.filter((g): g is Peer => g !== undefined).map((g) => peer(g, ns));
    // A rule whose `from`/`to` is empty matches every peer: with no peer to admit, the rule is left out (no
    // rule admits nobody), it never becomes "everywhere". Only ports open to clients have no `from`.
    const fenced = (peers: NetworkPolicyPeer[], ports: readonly number[]): NetworkPolicyIngressRule[] =>
      peers.length && ports.length ? [{ from: peers, ports: ports.map(tcp) }] : [];
    const to = (peers: NetworkPolicyPeer[], ports: readonly number[]): NetworkPolicyEgressRule[] =>
      peers.length && ports.length ? [{ to: peers, ports: ports.map(tcp) }] : [];
    const anywhere = (ports: readonly number[]): NetworkPolicyEgressRule[] => (ports.length ? [{ ports: ports.map(tcp) }] : []);
    // DNS may be CoreDNS pods or a node-local cache on the host: the port, to any address.
    const dns: NetworkPolicyEgressRule = { ports: [{ protocol: 'UDP', port: IntOrString.fromNumber(53) }, tcp(53)] };
    const deny = props.defaultDeny;
    const policy = (name: string, selector: Record<string, string>, ingress: NetworkPolicyIngressRule[], egress: NetworkPolicyEgressRule[]) => {
      this.policies.push(new KubeNetworkPolicy(this, name, {
        metadata: { name, namespace: ns, labels },
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: deny ? ['Ingress', 'Egress'] : ['Ingress'],
          ingress,
          ...(deny ? { egress: [dns, ...egress] } : {}),
        },
      }));
    };

    const pushers = props.models.filter((m) => m.pushesToPrometheus);
    const senders = props.models.filter((m) => m.sendsTraces);
    const prometheusReceives = props.prometheus ? [props.prometheus.port] : [];
    if (props.prometheus) {
      const p = props.prometheus;
      policy(p.name, p.selector, fenced(from(props.grafana, props.tempo?.remoteWrites ? props.tempo : undefined, ...pushers, props.autoscaler), [p.port]), deny ? [
        ...anywhere(deny.apiServerPorts),
        ...props.scrapeTargets.flatMap((t) => to(from(t), t.ports)),
        ...anywhere(deny.remoteWritePorts),
        ...(props.alertmanager ? to(from(props.alertmanager), [props.alertmanager.port]) : []),
        ...anywhere([...new Set(props.alertmanagerEndpointPorts ?? [])].sort((a, b) => a - b)),
      ] : []);
    }
    if (props.tempo) {
      const t = props.tempo;
      policy(t.name, t.selector, [
        ...fenced(from(props.grafana), [t.queryPort]),
        ...fenced(from(...senders), t.otlpPorts),
      ], t.remoteWrites && props.prometheus ? to(from(props.prometheus), prometheusReceives) : []);
    }
    if (props.grafana) {
      const g = props.grafana;
      policy(g.name, g.selector, [{ ports: [tcp(g.port)] }], [
        ...to(from(props.queryPrometheus), [props.queryPrometheus.port]),
        ...(props.tempo ? to(from(props.tempo), [props.tempo.queryPort]) : []),
        ...(deny?.benchmarkDatabasePort ? anywhere([deny.benchmarkDatabasePort]) : []),
      ]);
    }
    if (props.alertmanager) {
      policy(props.alertmanager.name, props.alertmanager.selector, fenced(from(props.prometheus), [props.alertmanager.port]), deny ? anywhere(deny.alertmanagerEgressPorts) : []);
    }
    if (props.dcgm) {
      policy(props.dcgm.name, props.dcgm.selector, fenced(from(props.scraper), [props.dcgm.port]), []);
    }
    for (const m of props.models) {
      // The pods of a multi-pod replica reach each other on any port and protocol (NCCL, Gloo, rendezvous).
      const group = m.groupPeers ? [{ from: from(m) }] : [];
      policy(m.name, m.selector, [
        ...(m.openPorts.length ? [{ ports: m.openPorts.map(tcp) }] : []),
        ...fenced(from(props.scraper), m.metricsOnlyPorts),
        ...group,
      ], deny ? [
        ...(m.groupPeers ? [{ to: from(m) }] : []),
        ...(m.pushesToPrometheus ? to(from(props.queryPrometheus), [props.queryPrometheus.port]) : []),
        ...(m.sendsTraces && props.tempo ? to(from(props.tempo), props.tempo.otlpPorts) : []),
        ...(m.sendsTracesExternally && deny.traceCollectorPort ? anywhere([deny.traceCollectorPort].filter((p) => !deny.modelEgressPorts.includes(p))) : []),
        ...anywhere(deny.modelEgressPorts),
      ] : []);
    }
    if (deny) {
      // Whatever pod of the stack no policy above selects (and everything the rules above do not admit).
      this.policies.push(new KubeNetworkPolicy(this, 'default-deny', {
        metadata: { name: objectName([props.instance, 'default-deny']), namespace: ns, labels },
        spec: { podSelector: { matchLabels: props.stackSelector }, policyTypes: ['Ingress', 'Egress'] },
      }));
    }
  }
}
