import { Construct } from 'constructs';
import { PodMonitor, PodMonitorSpecPodMetricsEndpoints, PodMonitorSpecPodMetricsEndpointsMetricRelabelings, PodMonitorSpecPodMetricsEndpointsRelabelings } from '../imports/monitoring.coreos.com';
import { TargetRelabel, toPodMonitorRelabeling } from '../prometheus/target-labels';

/** One scrape endpoint of a PodMonitor. */
export interface PodMonitorEndpoint {
  /**
   * Container port name to scrape.
   * @default - no port filter: every pod address, rewritten by `relabelings`
   */
  readonly portName?: string;
  /**
   * Container port number to scrape (the port must be declared by the pod).
   * @default - by `portName`
   */
  readonly portNumber?: number;
  /** Metrics path. */
  readonly path: string;
  /** Target relabelings (see `target-labels.ts`): the same the managed Prometheus applies. */
  readonly relabelings: readonly TargetRelabel[];
  /**
   * Sample relabelings after the scrape (`metric_relabel_configs` in managed mode).
   * @default - none
   */
  readonly metricRelabelings?: readonly TargetRelabel[];
}

export interface ModelPodMonitorProps {
  /** Name of the PodMonitor. */
  readonly name: string;
  /** Namespace of the PodMonitor. */
  readonly namespace: string;
  /** Labels of the PodMonitor; the selecting Prometheus matches them. */
  readonly labels: Record<string, string>;
  /** Pod labels (matchLabels) of the pods to scrape. */
  readonly selector: Record<string, string>;
  /**
   * Namespace of the pods, when it differs from the PodMonitor's.
   * @default - the PodMonitor's namespace
   */
  readonly podNamespace?: string;
  /** Every port that serves metrics: one endpoint each, so every data-parallel rank is scraped. */
  readonly endpoints: readonly PodMonitorEndpoint[];
  /** Scrape interval, e.g. `15s`. */
  readonly interval: string;
  /**
   * Keep the scraped series' own labels on conflict. True for DCGM exporter, whose
   * `namespace`/`pod`/`container` name the pod using the GPU, not the exporter.
   * @default false
   */
  readonly honorLabels?: boolean;
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
    const podMetricsEndpoints: PodMonitorSpecPodMetricsEndpoints[] = props.endpoints.map((e) => ({
      ...(e.portName ? { port: e.portName } : {}),
      ...(e.portNumber ? { portNumber: e.portNumber } : {}),
      path: e.path,
      interval: props.interval,
      honorLabels: props.honorLabels ?? false,
      relabelings: e.relabelings.map((r) => toPodMonitorRelabeling(r) as PodMonitorSpecPodMetricsEndpointsRelabelings),
      ...(e.metricRelabelings?.length ? { metricRelabelings: e.metricRelabelings.map((r) => toPodMonitorRelabeling(r) as PodMonitorSpecPodMetricsEndpointsMetricRelabelings) } : {}),
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
