/**
 * The cdk8s app behind `cdk8s synth` / `npm run synth`, one file per chart in `dist/`, in the order to apply them:
 *
 * - `0-cluster`: the CRD and the controller's own Namespace (Argo CD sync wave -1). No team namespace: the
 *   namespaces InferenceMonitoring resources live in belong to their teams (Argo CD's `CreateNamespace=true` or
 *   `kubectl create namespace`), so deleting the install never deletes them.
 * - `1-controller`: the controller, only built-in kinds. With `0-cluster` the required install: it applies on any
 *   cluster (gitops/argocd/application.yaml syncs these two).
 * - `2-example-stack`: the example's stack (namespace `llm`, which it does not create).
 * - `3-controller-monitoring`: optional, the controller's ServiceMonitor and PrometheusRule. They need the
 *   prometheus-operator CRDs, which a cluster without kube-prometheus-stack lacks; apply it (or sync
 *   gitops/argocd/controller-monitoring-application.yaml) only where they are installed.
 */
import { App, ApiObject, Chart, YamlOutputType } from 'cdk8s';
import { Construct } from 'constructs';
import { ControllerInstall } from '../src/install/controller-install';
import { ControllerMonitoring } from '../src/install/controller-monitoring';
import { DEFAULT_CONTROLLER_NAMESPACE, installCrd, installNamespace } from '../src/install/install-manifests';
import { addStack } from '../src/render';
import { StackChart } from '../src/stack-chart';
import { EXAMPLE_NAME, EXAMPLE_NAMESPACE, EXAMPLE_SPEC } from './example';

export const CONTROLLER_NAMESPACE = DEFAULT_CONTROLLER_NAMESPACE;

/** Cluster-scoped objects live in a chart without a namespace (cdk8s would stamp one on them). */
export class ClusterChart extends Chart {
  constructor(scope: Construct, id: string) {
    super(scope, id, { disableResourceNameHashes: true });
    // The same CRD and Namespace objects `inference-monitoring install` prints (src/install/install-manifests.ts).
    new ApiObject(this, 'crd', installCrd() as any);
    new ApiObject(this, `namespace-${CONTROLLER_NAMESPACE}`, installNamespace(CONTROLLER_NAMESPACE) as any);
  }
}

export function buildApp(outdir?: string): App {
  const app = new App({ outdir, yamlOutputType: YamlOutputType.FILE_PER_CHART });
  new ClusterChart(app, '0-cluster');
  // No chart namespace: the install has cluster-scoped RBAC; namespaced objects name theirs.
  const controller = new StackChart(app, '1-controller');
  new ControllerInstall(controller, 'controller', { namespace: CONTROLLER_NAMESPACE, monitoring: false });
  const example = new StackChart(app, '2-example-stack', { namespace: EXAMPLE_NAMESPACE });
  addStack(example, 'stack', { name: EXAMPLE_NAME, namespace: EXAMPLE_NAMESPACE, spec: EXAMPLE_SPEC });
  const monitoring = new StackChart(app, '3-controller-monitoring');
  new ControllerMonitoring(monitoring, 'controller', { namespace: CONTROLLER_NAMESPACE });
  return app;
}

if (require.main === module) {
  buildApp().synth();
}
