import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { Prometheus } from '../imports/monitoring.coreos.com';
import { stackLabels } from '../names';
import { SERIES_ENGINE_LABEL, SERIES_MODEL_LABEL } from '../monitoring-labels';

export interface OperatorPrometheusProps {
  readonly name: string;
  readonly namespace: string;
  /** `app.kubernetes.io/instance` value. */
  readonly instance: string;
  /** Labels the stack's PodMonitors and PrometheusRules carry; this Prometheus selects exactly those. */
  readonly selectLabels: Record<string, string>;
  readonly retention: string;
  /** Prometheus version prometheus-operator runs. */
  readonly version: string;
  /**
   * Namespaces it discovers pods in (read-only Role in each).
   * @default - its own namespace
   */
  readonly discoveryNamespaces?: readonly string[];
}

/**
 * A `Prometheus` resource of its own for operator mode (`createPrometheus`),
 * selecting only this stack's PodMonitors and rules, with the OTLP and
 * remote-write receivers on, and a ServiceAccount limited to pod discovery.
 */
export class OperatorPrometheus extends Construct {
  public readonly resource: Prometheus;

  constructor(scope: Construct, id: string, props: OperatorPrometheusProps) {
    super(scope, id);
    const labels = stackLabels(props.instance, 'prometheus', 'prometheus');
    const sa = new kplus.ServiceAccount(this, 'sa', { metadata: { name: props.name, namespace: props.namespace, labels }, automountToken: true });
    for (const ns of [...new Set([props.namespace, ...(props.discoveryNamespaces ?? [])])].sort()) {
      const role = new kplus.Role(this, `discovery-${ns}`, { metadata: { name: props.name, namespace: ns, labels } });
      role.allowRead(kplus.ApiResource.PODS);
      new kplus.RoleBinding(this, `discovery-binding-${ns}`, { metadata: { name: props.name, namespace: ns, labels }, role }).addSubjects(sa);
    }
    this.resource = new Prometheus(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels },
      spec: {
        version: props.version,
        replicas: 1,
        serviceAccountName: props.name,
        retention: props.retention,
        podMonitorSelector: { matchLabels: props.selectLabels },
        ruleSelector: { matchLabels: props.selectLabels },
        enableOtlpReceiver: true,
        enableRemoteWriteReceiver: true,
        otlp: { promoteResourceAttributes: [SERIES_MODEL_LABEL, SERIES_ENGINE_LABEL, 'namespace', 'pod'] },
        securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' as any } },
      },
    });
  }
}
