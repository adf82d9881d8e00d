import { Construct } from 'constructs';
import { PodMonitor, PodMonitorSpecPodMetricsEndpoints, PodMonitorSpecPodMetricsEndpointsRelabelingsAction } from '../imports/monitoring.coreos.com';
import { POD_LABEL_TARGETS, podLabelMeta } from '../monitoring-labels';
import { MetricsEndpoint } from '../plan/plan';

export interface ModelPodMonitorProps {
  /** Name of the PodMonitor. */
  readonly name: string;
  /** Namespace of the PodMonitor. */
  readonly namespace: string;
  /** Labels of the PodMonitor; include `release` so kube-prometheus-stack selects it. */
  readonly labels: Record<string, string>;
  /** Pod labels (matchLabels) of the pods to scrape. */
  readonly selector: Record<string, string>;
  /**
   * Namespace of the pods, when it differs from the PodMonitor's.
   * @default - the PodMonitor's namespace
   */
  readonly podNamespace?: string;
  /** Every port that serves metrics: one endpoint each, so every data-parallel rank is scraped. */
  readonly endpoints: readonly MetricsEndpoint[];
  /** Scrape interval, e.g. `15s`. */
  readonly interval: string;
  /**
   * Address ports by number (for pods whose ports are not named, e.g. `spec.targets`).
   * @default false - by port name
   */
  readonly byPortNumber?: boolean;
  /**
   * Keep the scraped series' own labels on conflict. True for DCGM exporter, whose
   * `namespace`/`pod`/`container` name the pod using the GPU, not the exporter.
   * @default false
   */
  readonly honorLabels?: boolean;
  /**
   * Copy the pods' model and engine labels onto the series.
   * @default true
   */
  readonly copyModelLabels?: boolean;
}

/**
 * A prometheus-operator PodMonitor for one model, target or exporter.
 * `honorLabels` is false by default on purpose: the target's own
 * `namespace`/`pod` labels are the truth for engine series, and an engine's
 * labels never override them.
 */
export class ModelPodMonitor extends Construct {
  public readonly resource: PodMonitor;

  constructor(scope: Construct, id: string, props: ModelPodMonitorProps) {
    super(scope, id);
    const relabelings = (props.copyModelLabels ?? true ? POD_LABEL_TARGETS : []).map(([target, podLabel]) => ({
      sourceLabels: [podLabelMeta(podLabel)],
      targetLabel: target,
      action: PodMonitorSpecPodMetricsEndpointsRelabelingsAction.REPLACE,
    }));
    const podMetricsEndpoints: PodMonitorSpecPodMetricsEndpoints[] = props.endpoints.map((e) => ({
      ...(props.byPortNumber ? { portNumber: e.port } : { port: e.portName }),
      path: e.path,
      interval: props.interval,
      honorLabels: props.honorLabels ?? false,
      ...(relabelings.length ? { relabelings } : {}),
    }));
    this.resource = new PodMonitor(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      spec: {
        selector: { matchLabels: props.selector },
        ...(props.podNamespace && props.podNamespace !== props.namespace ? { namespaceSelector: { matchNames: [props.podNamespace] } } : {}),
        podMetricsEndpoints,
      },
    });
  }
}
