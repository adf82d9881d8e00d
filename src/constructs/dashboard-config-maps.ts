import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { DashboardJson } from '../dashboards/common';
import { objectName, stackLabels } from '../names';

/** Label kube-prometheus-stack's Grafana sidecar watches for dashboard ConfigMaps. */
export const GRAFANA_DASHBOARD_LABEL = 'grafana_dashboard';
/** Folder annotation the sidecar honours when `folderAnnotation` is set. */
export const GRAFANA_FOLDER_ANNOTATION = 'grafana_folder';

export interface DashboardConfigMapsProps {
  readonly namespace: string;
  /** `app.kubernetes.io/instance` value and the name prefix. */
  readonly instance: string;
  /** Name prefix of the ConfigMaps. */
  readonly namePrefix: string;
  readonly dashboards: readonly DashboardJson[];
  /**
   * Grafana folder for the sidecar.
   * @default 'Inference'
   */
  readonly folder?: string;
}

/**
 * One ConfigMap per dashboard (a ConfigMap must stay under 1 MiB, and
 * client-side apply's annotation under 256 KiB), labelled
 * `grafana_dashboard: "1"` so the same ConfigMaps serve our Grafana and an
 * existing kube-prometheus-stack Grafana.
 */
export class DashboardConfigMaps extends Construct {
  public readonly configMaps: kplus.ConfigMap[] = [];

  constructor(scope: Construct, id: string, props: DashboardConfigMapsProps) {
    super(scope, id);
    const labels = { ...stackLabels(props.instance, 'dashboards', 'grafana'), [GRAFANA_DASHBOARD_LABEL]: '1' };
    for (const d of props.dashboards) {
      this.configMaps.push(new kplus.ConfigMap(this, d.uid, {
        metadata: { name: objectName([props.namePrefix, 'dashboard', d.uid.replace(/^inference-/, '')]), namespace: props.namespace, labels, annotations: { [GRAFANA_FOLDER_ANNOTATION]: props.folder ?? 'Inference' } },
        data: { [`${d.uid}.json`]: `${JSON.stringify(d, null, 2)}\n` },
      }));
    }
  }
}
