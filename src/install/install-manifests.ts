/**
 * The controller's whole install as manifests, from one place: the CRD, the controller's Namespace and
 * the `ControllerInstall` construct's objects. `cdk8s synth` (charts/main.ts: dist/0, dist/1 and, optional,
 * dist/3), `inference-monitoring install` and the Helm chart (scripts/helm-chart.ts) all draw them from here.
 */
import { App } from 'cdk8s';
import { inferenceMonitoringCrd } from '../api/crd';
import type { Manifest } from '../render';
import { StackChart } from '../stack-chart';
import { PART_OF } from '../names';
import { ControllerInstall, ControllerInstallProps } from './controller-install';

/** The namespace the controller is installed into unless told otherwise. */
export const DEFAULT_CONTROLLER_NAMESPACE = 'inference-monitoring-system';

/** Argo CD syncs these first (wave -1): everything else needs the CRD and the namespaces. */
export const FIRST_SYNC_WAVE: Readonly<Record<string, string>> = { 'argocd.argoproj.io/sync-wave': '-1' };

/** The CRD as the install applies it (the generated CRD, synced first by Argo CD). */
export function installCrd(): Manifest {
  const crd = inferenceMonitoringCrd();
  return { ...crd, metadata: { ...crd.metadata, annotations: { ...FIRST_SYNC_WAVE } } } as Manifest;
}

/** A namespace of the install (synced first by Argo CD). */
export function installNamespace(name: string): Manifest {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'app.kubernetes.io/part-of': PART_OF }, annotations: { ...FIRST_SYNC_WAVE } } };
}

/** What `installManifests` takes: the construct's props, the namespace optional. */
export type InstallManifestsProps = Omit<ControllerInstallProps, 'namespace'> & { readonly namespace?: string };

/**
 * The `ControllerInstall` construct's objects: at the defaults those of dist/1-controller.k8s.yaml followed by
 * the optional ServiceMonitor and PrometheusRule of dist/3-controller-monitoring.k8s.yaml (`monitoring: false`
 * leaves these out).
 */
export function controllerInstallManifests(props: InstallManifestsProps = {}): Manifest[] {
  const chart = new StackChart(new App({ outdir: '/nonexistent' }), 'install');
  new ControllerInstall(chart, 'controller', { ...props, namespace: props.namespace ?? DEFAULT_CONTROLLER_NAMESPACE });
  return chart.toJson() as Manifest[];
}

/**
 * Everything a cluster needs to run the controller, in the order to apply it: the CRD, the
 * controller's Namespace, then the construct's objects. At the defaults these are the objects of
 * dist/0-cluster.k8s.yaml, dist/1-controller.k8s.yaml and dist/3-controller-monitoring.k8s.yaml.
 */
export function installManifests(props: InstallManifestsProps = {}): Manifest[] {
  const namespace = props.namespace ?? DEFAULT_CONTROLLER_NAMESPACE;
  const controller = controllerInstallManifests({ ...props, namespace });
  return [installCrd(), installNamespace(namespace), ...controller];
}
