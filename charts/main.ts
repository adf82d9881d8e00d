/**
 * The cdk8s app behind `cdk8s synth` / `npm run synth`: the CRD, and the
 * example stack, written to `dist/` one file per chart.
 */
import { App, ApiObject, Chart, YamlOutputType } from 'cdk8s';
import { Construct } from 'constructs';
import { addStack } from '../src/render';
import { StackChart } from '../src/stack-chart';
import { inferenceMonitoringCrd } from '../src/spec/crd';
import { EXAMPLE_NAME, EXAMPLE_NAMESPACE, EXAMPLE_SPEC } from './example';

/** Cluster-scoped objects live in a chart without a namespace (cdk8s would stamp one on them). */
export class CrdChart extends Chart {
  constructor(scope: Construct, id: string) {
    super(scope, id, { disableResourceNameHashes: true });
    const crd = inferenceMonitoringCrd();
    new ApiObject(this, 'crd', crd as any);
  }
}

export function buildApp(outdir?: string): App {
  const app = new App({ outdir, yamlOutputType: YamlOutputType.FILE_PER_CHART });
  new CrdChart(app, 'crds');
  const example = new StackChart(app, 'example-stack', { namespace: EXAMPLE_NAMESPACE });
  addStack(example, 'stack', { name: EXAMPLE_NAME, namespace: EXAMPLE_NAMESPACE, spec: EXAMPLE_SPEC });
  return app;
}

if (require.main === module) {
  buildApp().synth();
}
