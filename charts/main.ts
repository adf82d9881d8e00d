/**
 * The cdk8s app behind `cdk8s synth` / `npm run synth`, one file per chart in
 * `dist/`, named so `kubectl apply -f dist/` applies them in order:
 * cluster-scoped objects (CRD, namespaces), the controller, the example stack.
 */
import { App, ApiObject, Chart, YamlOutputType } from 'cdk8s';
import { Construct } from 'constructs';
import { ControllerInstall } from '../src/install/controller-install';
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
    for (const ns of [CONTROLLER_NAMESPACE, EXAMPLE_NAMESPACE]) new ApiObject(this, `namespace-${ns}`, installNamespace(ns) as any);
  }
}

export function buildApp(outdir?: string): App {
  const app = new App({ outdir, yamlOutputType: YamlOutputType.FILE_PER_CHART });
  new ClusterChart(app, '0-cluster');
  // No chart namespace: the install has cluster-scoped RBAC; namespaced objects name theirs.
  const controller = new StackChart(app, '1-controller');
  new ControllerInstall(controller, 'controller', { namespace: CONTROLLER_NAMESPACE });
  const example = new StackChart(app, '2-example-stack', { namespace: EXAMPLE_NAMESPACE });
  addStack(example, 'stack', { name: EXAMPLE_NAME, namespace: EXAMPLE_NAMESPACE, spec: EXAMPLE_SPEC });
  return app;
}

if (require.main === module) {
  buildApp().synth();
}
