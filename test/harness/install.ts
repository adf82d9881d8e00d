import { App } from 'cdk8s';
import { ControllerInstall } from '../../src/install/controller-install';
import { StackChart } from '../../src/stack-chart';

/** The controller's install manifests, as `npm run synth` writes them to dist/1-controller.k8s.yaml. */
export function renderInstall(): any[] {
  const app = new App({ outdir: '/nonexistent' });
  const chart = new StackChart(app, 'install');
  new ControllerInstall(chart, 'controller', { namespace: 'inference-monitoring-system' });
  return chart.toJson();
}
