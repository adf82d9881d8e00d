/**
 * The CLI bundle (`npm run build`, src/cli/build-bundle.ts: esbuild's one file, the Grafana SDK's indexes
 * made lazy, V8's code cache) renders what lib/ renders: every spec variant and the README example, byte
 * for byte, one resource a run and all in one file.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { SPEC_VARIANTS, variantResourceName } from '../harness/spec-variants';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'inference-monitoring.js');

describe('the bundle', () => {
  const resources = [
    fs.readFileSync(path.join(REPO, 'examples', 'inference-monitoring.yaml'), 'utf8'),
    ...Object.entries(SPEC_VARIANTS).map(([name, spec], i) => Yaml.stringify({
      apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring',
      metadata: { name: variantResourceName(name, i), namespace: 'llm' }, spec,
    })),
  ];
  const render = (env: NodeJS.ProcessEnv, input: string) => spawnSync(process.execPath, [BIN, 'render', '-f', '-'], { input, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });

  test('is built and fresh (npm test builds it), so bin/ renders through it', () => {
    // The compiled loader: the bundle sits next to it in lib/src/cli, not next to the source.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect((require(path.join(REPO, 'lib', 'src', 'cli', 'bundle-loader.js')) as typeof import('../../src/cli/bundle-loader')).bundleFresh()).toBe(true);
  });

  test.each([['the README example and every spec variant, one resource a run', false], ['all of them in one file', true]])('renders %s as lib/ does, byte for byte', (_name, together) => {
    const inputs = together ? [resources.join('\n---\n')] : resources;
    for (const input of inputs) {
      const bundled = render({}, input);
      const lib = render({ CIM_CLI_BUNDLE: '0' }, input);
      expect(lib.stderr).toBe('');
      expect(lib.status).toBe(0);
      expect(bundled.stderr).toBe('');
      expect(bundled.status).toBe(0);
      expect(bundled.stdout.length).toBeGreaterThan(10_000);
      expect(bundled.stdout).toBe(lib.stdout);
    }
  });
});
