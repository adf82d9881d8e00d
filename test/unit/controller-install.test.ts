/** The controller install's memory: the limit a user sets, and V8's heap limit that follows it. */
import { spawnSync } from 'child_process';
import { App, Chart } from 'cdk8s';
import { ControllerInstall, controllerNodeOptions } from '../../src/install/controller-install';

const controllerContainer = (props: Partial<ConstructorParameters<typeof ControllerInstall>[2]> = {}) => {
  const chart = new Chart(new App(), 'c');
  new ControllerInstall(chart, 'controller', { namespace: 'inference-monitoring-system', ...props });
  const deployment = chart.toJson().find((o: any) => o.kind === 'Deployment');
  const c = deployment.spec.template.spec.containers[0];
  return { limit: c.resources.limits.memory, nodeOptions: c.env.find((e: any) => e.name === 'NODE_OPTIONS').value };
};

test('the default limit is 256Mi with a 192 MiB old space', () => {
  expect(controllerContainer()).toEqual({ limit: '256Mi', nodeOptions: '--max-old-space-size=192 --max-semi-space-size=2' });
});

test('a larger limit for more resources raises the old space with it', () => {
  expect(controllerContainer({ memoryLimit: '1Gi' })).toEqual({ limit: '1Gi', nodeOptions: '--max-old-space-size=768 --max-semi-space-size=2' });
  expect(controllerContainer({ memoryLimit: '512M' }).nodeOptions).toBe('--max-old-space-size=366 --max-semi-space-size=2');
});

test('a limit below 128Mi or not a quantity is refused with the field and the reason', () => {
  expect(() => controllerContainer({ memoryLimit: '64Mi' })).toThrow('ControllerInstall memoryLimit: Invalid value: "64Mi": must be a quantity of at least 128Mi');
  expect(() => controllerContainer({ memoryLimit: 'lots' })).toThrow(/memoryLimit: Invalid value: "lots"/);
});

test('a limit above 64Gi (1e30, 1Pi) is refused before it becomes Node flags Node refuses', () => {
  expect(() => controllerContainer({ memoryLimit: '1e30' })).toThrow('ControllerInstall memoryLimit: Invalid value: "1e30": must be a quantity of at most 64Gi');
  expect(() => controllerContainer({ memoryLimit: '1Pi' })).toThrow('ControllerInstall memoryLimit: Invalid value: "1Pi": must be a quantity of at most 64Gi');
  expect(() => controllerNodeOptions('1e30')).toThrow(/at most 64Gi/);
});

test.each(['128Mi', '134217728', '0.125Gi', '1.34217728e8', '131072Ki', '300M', '1000.5Mi', '64Gi', '68719476736', '0.0625Ti', '6.8719476736e10'])('memoryLimit %s: Node starts with the flags it derives', (memoryLimit) => {
  const { nodeOptions } = controllerContainer({ memoryLimit });
  expect(nodeOptions).toMatch(/^--max-old-space-size=[0-9]+ --max-semi-space-size=2$/);
  const r = spawnSync(process.execPath, [...nodeOptions.split(' '), '-e', 'console.log(require("v8").getHeapStatistics().heap_size_limit)'], { encoding: 'utf8' });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  // V8 took the limit: its heap limit grows with the old space asked for.
  expect(Number(r.stdout)).toBeGreaterThanOrEqual(Number(/=([0-9]+)/.exec(nodeOptions)![1]) * 2 ** 20);
});

test('what 1e30 would have given (7.152557373046875e+23) is a flag Node refuses: the reason for the bound', () => {
  const r = spawnSync(process.execPath, ['--max-old-space-size=7.152557373046875e+23', '-e', '0'], { encoding: 'utf8' });
  expect(r.status).not.toBe(0);
});

test('the package root exports ControllerInstall and the install manifests', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const root = require('../../src/index') as typeof import('../../src/index');
  expect(root.ControllerInstall).toBe(ControllerInstall);
  expect(root.installManifests().map((o) => o.kind).slice(0, 3)).toEqual(['CustomResourceDefinition', 'Namespace', 'ServiceAccount']);
});

test.each(['inference-monitoring-controller:0.1.0', 'localhost:5000/a/b:v1', 'registry.example.com/team/imc@sha256:0123456789abcdef0123456789abcdef'])('image %s is accepted', (image) => {
  const chart = new Chart(new App(), 'c');
  new ControllerInstall(chart, 'controller', { namespace: 'ns', image });
  expect(chart.toJson().find((o: any) => o.kind === 'Deployment').spec.template.spec.containers[0].image).toBe(image);
});

test.each(['imc', 'IMC:1', 'registry.example.com/imc:', 'imc:bad tag', 'imc@sha256:short'])('image %s is refused naming the prop, the value and the rule', (image) => {
  expect(() => new ControllerInstall(new Chart(new App(), 'c'), 'controller', { namespace: 'ns', image }))
    .toThrow(`ControllerInstall image: Invalid value: ${JSON.stringify(image)}: must be an image reference with a tag or digest, [registry[:port]/]name:tag or name@sha256:<digest>, lower-case name`);
});

test('a namespace that is not a DNS-1123 label and a negative or fractional replica count are refused', () => {
  expect(() => new ControllerInstall(new Chart(new App(), 'c'), 'controller', { namespace: 'Team_X' }))
    .toThrow('ControllerInstall namespace: Invalid value: "Team_X": must be a DNS-1123 label (lower-case letters, digits and \'-\', at most 63 characters)');
  expect(() => new ControllerInstall(new Chart(new App(), 'c'), 'controller', { namespace: 'ns', replicas: 1.5 })).toThrow('ControllerInstall replicas: Invalid value: 1.5: must be a non-negative integer');
});
