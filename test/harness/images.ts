/**
 * The images the test node runs, built without Docker by tools/build-images.sh
 * (cached by the hash of their inputs) and named as the manifests reference
 * them, so committed manifests apply unchanged: the controller under the
 * Dockerfile's name, Prometheus under the managed Prometheus' default image.
 */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { DEFAULT_PROMETHEUS_IMAGE } from '../../src/constructs/managed-prometheus';
import { DEFAULT_ALERTMANAGER_IMAGE } from '../../src/constructs/alertmanager';
import { REPO, versions } from './binaries';
import { NodeImage } from './node';

/** The engine stand-in (tools/images/standin): recorded /metrics per rank port; not an engine. */
export const ENGINE_STANDIN_IMAGE = 'localhost/engine-standin:1';
export const PAUSE_IMAGE = 'localhost/pause:1';
/** containerd's full name of the Dockerfile's `inference-monitoring-controller:0.1.0`. */
export const CONTROLLER_IMAGE = 'docker.io/library/inference-monitoring-controller:0.1.0';
/** The config-reloader image prometheus-operator puts into every Prometheus pod by default. */
export const CONFIG_RELOADER_IMAGE = `quay.io/prometheus-operator/prometheus-config-reloader:${versions().PROMETHEUS_OPERATOR_VERSION}`;

export function buildNodeImages(): NodeImage[] {
  const out = execFileSync('bash', [path.join(REPO, 'tools', 'build-images.sh')], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = out.trim().split('\n').pop()!;
  const prom = DEFAULT_PROMETHEUS_IMAGE.startsWith('quay.io/') ? DEFAULT_PROMETHEUS_IMAGE : `docker.io/${DEFAULT_PROMETHEUS_IMAGE}`;
  return [
    { archive: path.join(dir, 'pause.tar'), name: PAUSE_IMAGE },
    { archive: path.join(dir, 'controller.tar'), name: CONTROLLER_IMAGE },
    { archive: path.join(dir, 'prometheus.tar'), name: prom },
    { archive: path.join(dir, 'engine-standin.tar'), name: ENGINE_STANDIN_IMAGE },
    { archive: path.join(dir, 'config-reloader.tar'), name: CONFIG_RELOADER_IMAGE },
    { archive: path.join(dir, 'alertmanager.tar'), name: DEFAULT_ALERTMANAGER_IMAGE },
  ];
}
