/** `inference-monitoring install`: the CRD, the controller's Namespace and the ControllerInstall construct's objects. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { installManifests } from '../../src/install/install-manifests';
import { REPO } from '../harness/binaries';

const BIN = path.join(REPO, 'bin', 'inference-monitoring.js');
const install = (...args: string[]) => spawnSync(process.execPath, [BIN, 'install', ...args], { encoding: 'utf8', timeout: 30_000 });
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJSON()).filter((o) => o);

test('at the defaults it prints the committed CRD and controller Namespace of dist/0, every object of dist/1, then the optional ones of dist/3, in that order', () => {
  const r = install('--image', 'inference-monitoring-controller:0.1.0');
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  const cluster = docs(fs.readFileSync(path.join(REPO, 'dist', '0-cluster.k8s.yaml'), 'utf8'));
  const controller = docs(fs.readFileSync(path.join(REPO, 'dist', '1-controller.k8s.yaml'), 'utf8'));
  const monitoring = docs(fs.readFileSync(path.join(REPO, 'dist', '3-controller-monitoring.k8s.yaml'), 'utf8'));
  expect(docs(r.stdout)).toEqual([
    cluster.find((o) => o.kind === 'CustomResourceDefinition'),
    cluster.find((o) => o.kind === 'Namespace' && o.metadata.name === 'inference-monitoring-system'),
    ...controller,
    ...monitoring,
  ]);
});

test('--no-monitoring prints exactly the required install: the CRD and controller Namespace of dist/0 and every object of dist/1', () => {
  const r = install('--image', 'inference-monitoring-controller:0.1.0', '--no-monitoring');
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  const cluster = docs(fs.readFileSync(path.join(REPO, 'dist', '0-cluster.k8s.yaml'), 'utf8'));
  const controller = docs(fs.readFileSync(path.join(REPO, 'dist', '1-controller.k8s.yaml'), 'utf8'));
  expect(docs(r.stdout)).toEqual([...cluster, ...controller]);
  expect(docs(r.stdout).filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
});

test('--image sets every container\'s image; --namespace and --replicas move and scale the install', () => {
  const image = 'registry.example.com:5000/team/imc@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
  const r = install('--image', image, '--namespace', 'team-x', '--replicas', '3', '--memory-limit', '1Gi');
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  const objects = docs(r.stdout);
  expect(objects).toEqual(JSON.parse(JSON.stringify(installManifests({ image, namespace: 'team-x', replicas: 3, memoryLimit: '1Gi' }))));
  const containers = objects.flatMap((o) => [...(o.spec?.template?.spec?.containers ?? []), ...(o.spec?.template?.spec?.initContainers ?? [])]);
  expect(containers.map((c: any) => c.image)).toEqual([image]);
  const deployment = objects.find((o) => o.kind === 'Deployment');
  expect(deployment.spec.replicas).toBe(3);
  expect(objects.filter((o) => o.metadata.namespace).every((o) => o.metadata.namespace === 'team-x')).toBe(true);
  expect(objects.find((o) => o.kind === 'Namespace').metadata.name).toBe('team-x');
});

test.each([
  [['--image', 'Registry.example.com/Team/IMC:1'], 'error: --image: Invalid value: "Registry.example.com/Team/IMC:1": must be an image reference with a tag or digest, [registry[:port]/]name:tag or name@sha256:<digest>, lower-case name'],
  [['--image', 'registry.example.com/imc'], 'error: --image: Invalid value: "registry.example.com/imc": must be an image reference with a tag or digest, [registry[:port]/]name:tag or name@sha256:<digest>, lower-case name'],
  [['--image', 'imc:1', '--namespace', 'Team_X'], 'error: --namespace: Invalid value: "Team_X": must be a DNS-1123 label (lower-case letters, digits and \'-\', at most 63 characters)'],
  [['--image', 'imc:1', '--memory-limit', '64Mi'], 'error: --memory-limit: Invalid value: "64Mi": must be a quantity of at least 128Mi'],
  [['--image', 'imc:1', '--replicas', '0'], "error: option '--replicas <n>' argument '0' is invalid. expected an integer from 1 to 100"],
  [[], "error: required option '--image <image>' not specified"],
])('refused with one line and nothing printed: %j', (args, line) => {
  const r = install(...args);
  expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 1, stdout: '', stderr: `${line}\n` });
});
