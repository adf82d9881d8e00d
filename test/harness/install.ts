import { controllerInstallManifests } from '../../src/install/install-manifests';

/** The controller's install manifests, as `npm run synth` writes them to dist/1-controller.k8s.yaml. */
export function renderInstall(): any[] {
  return controllerInstallManifests();
}
