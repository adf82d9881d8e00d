/**
 * What every component of the stack (Prometheus, Alertmanager, Tempo, Grafana, the DCGM exporter) repeats:
 * its labels and pod selector, the metadata of its objects, the Service in front of its pods, and the pod
 * security context of a non-root image user. Each component's construct extends it and adds only what is
 * its own (configuration, volumes, the container).
 */
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { componentSelector, stackLabels } from '../names';

export interface StackComponentProps {
  /** Name of the component's objects (workload, Service, ConfigMaps). */
  readonly name: string;
  /** Namespace of its objects. */
  readonly namespace: string;
  /** `app.kubernetes.io/instance` value. */
  readonly instance: string;
}

/** Which component a construct is: its `app.kubernetes.io/name` and `app.kubernetes.io/component` labels. */
export interface ComponentKind {
  /** `app.kubernetes.io/name`. */
  readonly appName: string;
  /** `app.kubernetes.io/component`, which also selects its pods. */
  readonly component: string;
}

/** A port of a component's Service (`targetPort` is the same number). */
export interface ServicePort { readonly name: string; readonly port: number }

/** One stack component: labels, selector, object metadata, its Service and pod security, in one place. */
export abstract class StackComponent extends Construct {
  /** Labels of every object of the component and of its pods. */
  public readonly labels: Record<string, string>;
  /** Labels that select its pods (`app.kubernetes.io/instance` and `app.kubernetes.io/component`). */
  public readonly selector: Record<string, string>;
  /** Name of its objects. */
  public readonly name: string;
  public readonly namespace: string;

  protected constructor(scope: Construct, id: string, props: StackComponentProps, kind: ComponentKind) {
    super(scope, id);
    this.name = props.name;
    this.namespace = props.namespace;
    this.labels = stackLabels(props.instance, kind.appName, kind.component);
    this.selector = componentSelector(props.instance, kind.component);
  }

  /** Metadata of one of its objects: `name` (default: the component's), its namespace and labels. */
  protected metadata(name: string = this.name): { name: string; namespace: string; labels: Record<string, string> } {
    return { name, namespace: this.namespace, labels: this.labels };
  }

  /**
   * The Service in front of its pods (child id `Service`), selecting them by `selector`.
   * `headless`: the governing Service of a one-replica StatefulSet (stable pod DNS, no load balancing lost).
   */
  protected addService(ports: readonly ServicePort[], opts: { readonly headless?: boolean } = {}): kplus.Service {
    const service = new kplus.Service(this, 'Service', {
      metadata: this.metadata(),
      ...(opts.headless ? { clusterIP: 'None' } : {}),
      ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })),
    });
    for (const [k, v] of Object.entries(this.selector)) service.selectLabel(k, v);
    return service;
  }

  /** Makes a workload created with `select: false` select the component's pods. */
  protected selectPods(workload: kplus.Deployment | kplus.StatefulSet | kplus.DaemonSet): void {
    workload.select(kplus.LabelSelector.of({ labels: this.selector }));
  }

  /**
   * One replica of a stateful component behind its headless Service (child ids `Service`, then `Resource`).
   * @see singleReplicaStatefulSet in k8s-helpers.ts, which this replaces for stack components
   */
  protected singleReplicaStatefulSet(port: number, statefulSet: Omit<kplus.StatefulSetProps, 'metadata' | 'service' | 'select' | 'replicas'>): { service: kplus.Service; statefulSet: kplus.StatefulSet } {
    const service = this.addService([{ name: 'http', port }], { headless: true });
    const set = new kplus.StatefulSet(this, 'Resource', { ...statefulSet, metadata: this.metadata(), service, select: false, replicas: 1 });
    this.selectPods(set);
    return { service, statefulSet: set };
  }
}

/** The pod security context of an image that runs as one non-root user (its uid is also the group and fsGroup). */
export function nonRootPod(uid: number): kplus.PodSecurityContextProps {
  return { ensureNonRoot: true, user: uid, group: uid, fsGroup: uid };
}
