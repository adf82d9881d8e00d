import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { StackDashboard } from '../dashboards/common';
import { objectName, stackLabels } from '../names';

/** Label kube-prometheus-stack's Grafana sidecar watches for dashboard ConfigMaps. */
export const GRAFANA_DASHBOARD_LABEL = 'grafana_dashboard';
/**
 * Folder annotation the sidecar honours only when its `folderAnnotation` is set to this name (it then writes the
 * files into a directory of that name) and `provider.foldersFromFilesStructure` is true (Grafana then makes the
 * directory a folder); kube-prometheus-stack sets neither, and its Grafana shows our dashboards in General.
 */
export const GRAFANA_FOLDER_ANNOTATION = 'grafana_folder';

/** The ConfigMap key, and the file name in Grafana's dashboard directory, of a dashboard. */
export function dashboardFileName(uid: string): string {
  return `${uid}.json`;
}

export interface DashboardConfigMapsProps {
  readonly namespace: string;
  /** `app.kubernetes.io/instance` value and the name prefix. */
  readonly instance: string;
  /** Name prefix of the ConfigMaps. */
  readonly namePrefix: string;
  /** The dashboards; each ConfigMap's one key is `<uid>.json`, so stacks with their own uids never share a file. */
  readonly dashboards: readonly StackDashboard[];
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
 * existing kube-prometheus-stack Grafana. That Grafana's sidecar writes every
 * key of every labelled ConfigMap of the cluster into one directory, by key:
 * the key is the dashboard's uid, unique per stack, so one stack's file never
 * replaces (or, deleted, removes) another's.
 */
export class DashboardConfigMaps extends Construct {
  public readonly configMaps: kplus.ConfigMap[] = [];

  constructor(scope: Construct, id: string, props: DashboardConfigMapsProps) {
    super(scope, id);
    const labels = { ...stackLabels(props.instance, 'dashboards', 'grafana'), [GRAFANA_DASHBOARD_LABEL]: '1' };
    for (const { name, dashboard } of props.dashboards) {
      this.configMaps.push(new kplus.ConfigMap(this, name, {
        metadata: { name: objectName([props.namePrefix, 'dashboard', name]), namespace: props.namespace, labels, annotations: { [GRAFANA_FOLDER_ANNOTATION]: props.folder ?? 'Inference' } },
        data: { [dashboardFileName(dashboard.uid)]: `${JSON.stringify(dashboard, null, 2)}\n` },
      }));
    }
  }
}
