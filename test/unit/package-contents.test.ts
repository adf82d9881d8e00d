/**
 * What `npm publish` would ship (`npm pack --dry-run --json` after `npm run build`): the compiled library,
 * the CLI and its bundle, the CRD, the runbooks the alerts link to, the metric samples `check-dashboards`
 * is documented with, README and LICENSE, and nothing else (no tests, no TypeScript sources, no
 * node_modules); and the package.json fields a consumer's tools read.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { controllerPackage } from '../../scripts/controller-package';
import { DEFAULT_RUNBOOK_BASE_URL } from '../../src/api/schema';

const REPO = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));

/** The shapes of every file the package may hold. */
const ALLOWED = [
  /^package\.json$/, /^README\.md$/, /^LICENSE$/,
  /^bin\/inference-monitoring\.js$/,
  /^crds\/[a-z.]+\.yaml$/,
  /^docs\/runbooks\/[A-Za-z]+\.md$/,
  /^docs\/[a-z-]+\.md$/,
  // compiled library: JavaScript and declarations only, and the CLI bundle (src/cli/build-bundle.ts)
  /^lib\/src\/([a-z0-9-]+\/)*[a-z0-9.-]+(\.d\.ts|\.js)$/,
  /^lib\/src\/cli\/main\.bundle\.(js|cache|json)$/,
  // check-dashboards samples (README, "Data coverage"; docs/runbooks/README.md)
  /^test\/fixtures\/metrics\/[a-z0-9-]+\.(prom|json)$/,
  /^test\/fixtures\/engines\/SOURCES\.md$/,
  /^test\/fixtures\/engines\/[a-z]+-[0-9.]+\/([a-z0-9-]+(\.before)?\.prom|stats\.json|provenance\.json)$/,
];

describe('the npm package', () => {
  let packed: { files: Array<{ path: string; size: number }>; size: number; unpackedSize: number; entryCount: number };
  let files: string[];
  beforeAll(() => {
    // --ignore-scripts: only the listing (a prepack script must not rebuild here)
    packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0];
    files = packed.files.map((f) => f.path).sort();
  });

  test('holds only files of the expected shapes: no tests, no TypeScript sources, no node_modules, no build scripts', () => {
    expect(files.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    expect(files.filter((f) => /(^|\/)node_modules\/|\.test\.|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /^lib\/(test|charts|bench|scripts)\//.test(f))).toEqual([]);
  });

  test('holds the library, its types, the CLI (with its bundle), the CRD, README and LICENSE', () => {
    expect(files).toEqual(expect.arrayContaining([
      'package.json', 'README.md', 'LICENSE', pkg.main, pkg.types, pkg.bin['inference-monitoring'],
      'lib/src/cli/main.js', 'lib/src/cli/main.bundle.js', 'lib/src/cli/main.bundle.json', 'lib/src/api/spec-validator.js',
      'crds/inferencemonitorings.monitoring.inference.dev.yaml',
    ]));
  });

  test('holds every runbook the alerts link to', () => {
    const runbooks = fs.readdirSync(path.join(REPO, 'docs', 'runbooks')).filter((f) => f.endsWith('.md'));
    expect(runbooks.length).toBeGreaterThan(10);
    expect(files).toEqual(expect.arrayContaining(runbooks.map((f) => `docs/runbooks/${f}`)));
  });

  test('holds every page README and the docs link to, so the links work in the installed package', () => {
    const linked = new Set<string>();
    const collect = (file: string) => {
      for (const [, target] of fs.readFileSync(path.join(REPO, file), 'utf8').matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), target));
        if (resolved.startsWith('docs/') && resolved.endsWith('.md')) linked.add(resolved);
      }
    };
    collect('README.md');
    for (const f of fs.readdirSync(path.join(REPO, 'docs')).filter((x) => x.endsWith('.md'))) collect(`docs/${f}`);
    expect(linked.size).toBeGreaterThan(10);
    expect([...linked].filter((f) => !files.includes(f)).sort()).toEqual([]);
  });

  test('holds the metric samples check-dashboards is documented with', () => {
    const samples = fs.readdirSync(path.join(REPO, 'test', 'fixtures', 'metrics')).map((f) => `test/fixtures/metrics/${f}`);
    expect(samples.length).toBeGreaterThan(5);
    // README: `check-dashboards --fixtures test/fixtures/engines/vllm-0.33.0 ...` (recorded: counters grow from *.before.prom)
    expect(files).toEqual(expect.arrayContaining([...samples, 'test/fixtures/engines/vllm-0.33.0/vllm.prom', 'test/fixtures/engines/vllm-0.33.0/vllm.before.prom', 'test/fixtures/engines/vllm-0.33.0/stats.json']));
    // The multi-node recordings (<engine>-<version>/multinode/) are the stand-in's and the tests', not shipped.
    const recorded = fs.readdirSync(path.join(REPO, 'test', 'fixtures', 'engines'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.prom') && !f.split(path.sep).includes('multinode'));
    expect(files).toEqual(expect.arrayContaining(recorded.map((f) => `test/fixtures/engines/${f.split(path.sep).join('/')}`)));
  });

  test('is at most 12 MiB unpacked and 2.5 MiB packed', () => {
    // measured 2026-12-07: 2.06 MB packed, 10.7 MB unpacked (3.1 MiB bundle + 2.6 MiB code cache, 1.7 MB samples), 240 files
    expect(packed.unpackedSize).toBeLessThan(12 * 2 ** 20);
    expect(packed.size).toBeLessThan(2.5 * 2 ** 20);
  });

  test('names its repository (the one the runbook links point to) and its license, with the license text', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: 'git+https://github.com/cdk8s-inference-monitoring/cdk8s-inference-monitoring.git' });
    expect(DEFAULT_RUNBOOK_BASE_URL.startsWith(`${pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '')}/`)).toBe(true);
    expect(pkg.license).toBe('Apache-2.0');
    const license = fs.readFileSync(path.join(REPO, 'LICENSE'), 'utf8');
    // The Apache Software Foundation's text, as the constructs package ships it.
    expect(license).toBe(fs.readFileSync(path.join(REPO, 'node_modules', 'constructs', 'LICENSE'), 'utf8'));
    expect(license).toContain('Apache License\n                           Version 2.0, January 2004');
  });

  test('takes cdk8s, cdk8s-plus-28 and constructs as peer dependencies, and the controller\'s dependencies as optional ones', () => {
    const shared = ['cdk8s', 'cdk8s-plus-28', 'constructs'];
    const controllerOnly = ['@kubernetes/client-node', 'prom-client', 'pg'];
    for (const name of [...shared, ...controllerOnly]) {
      expect([name, pkg.dependencies[name], pkg.optionalDependencies?.[name]]).toEqual([name, undefined, undefined]);
      expect([name, typeof pkg.peerDependencies[name]]).toEqual([name, 'string']);
      // our own build and tests run one exact version
      expect([name, pkg.devDependencies[name]]).toEqual([name, expect.stringMatching(/^[0-9]+\.[0-9]+\.[0-9]+$/)]);
    }
    expect(Object.keys(pkg.peerDependenciesMeta).sort()).toEqual([...controllerOnly].sort());
    for (const name of controllerOnly) expect(pkg.peerDependenciesMeta[name]).toEqual({ optional: true });
  });

  test('`inference-monitoring --version` prints the package version', () => {
    const out = execFileSync(process.execPath, [path.join(REPO, 'bin', 'inference-monitoring.js'), '--version'], { encoding: 'utf8' });
    expect(out).toBe(`${pkg.version}\n`);
    const lib = execFileSync(process.execPath, [path.join(REPO, 'bin', 'inference-monitoring.js'), '-V'], { encoding: 'utf8', env: { ...process.env, CIM_CLI_BUNDLE: '0' } });
    expect(lib).toBe(`${pkg.version}\n`);
  });
});

test('the controller image\'s package.json (Dockerfile, tools/build-images.sh) has the controller\'s peers as dependencies, at the versions the tests run, and not pg', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const image = controllerPackage(pkg);
  for (const name of ['cdk8s', 'cdk8s-plus-28', 'constructs', '@kubernetes/client-node', 'prom-client']) {
    expect({ name, version: image.dependencies![name] }).toEqual({ name, version: pkg.devDependencies[name] });
    expect(image.devDependencies![name]).toBeUndefined();
  }
  expect(image.dependencies!.pg).toBeUndefined();
});
