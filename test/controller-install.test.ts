/** The controller install's memory: the limit a user sets, and V8's heap limit that follows it. */
import { App, Chart } from 'cdk8s';
import { ControllerInstall } from '../src/constructs/controller-install';

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
