/**
 * The library as another cdk8s project uses it: `npm pack`, install the tarball into a fresh project beside
 * the project's own cdk8s, cdk8s-plus-28 and constructs (peer dependencies: one copy of each, the
 * project's), compile README's example with `tsc --strict`, synth, and run the packaged CLI.
 *
 * The peer ranges in package.json are the widest that work, found by installing candidates from the
 * registry (2026-12-07): cdk8s 2.68.12 (the oldest release that cdk8s-plus-28's own peer range,
 * ^2.68.11, admits), constructs 10.3.0 (cdk8s-plus-28's floor) and cdk8s-plus-28 2.5.6 (2.0.3, 2.3.4 and
 * 2.3.17 lack `Capability` or `SeccompProfileType`: `TypeError` at synth) synthesize byte for byte what our
 * build does. Each range is tested at its oldest version and at the newest the registry has.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as semver from 'semver';

const REPO = path.resolve(__dirname, '..', '..');
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
/** The peer ranges (package.json) this test proves, at their oldest and newest versions. */
const RANGES: Record<string, string> = { 'cdk8s': '^2.68.12', 'cdk8s-plus-28': '^2.5.6', 'constructs': '^10.3.0' };
const SHARED = Object.keys(RANGES);
const CONTROLLER_ONLY = ['@kubernetes/client-node', 'prom-client', 'pg'];

/** README's library example, as written there. */
function readmeExample(): string {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it as a library'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README: no ```ts example under "Use it as a library"');
  return m[1];
}

/** README's example synthesized with this repository's build and its devDependencies (what the consumers must reproduce). */
function expectedSynth(dir: string): string {
  const outdir = path.join(dir, 'expected');
  const code = readmeExample()
    .replace('new App()', `new App({ outdir: ${JSON.stringify(outdir)} })`)
    .replace(/^import \{([^}]*)\} from '([^']*)';$/gm, (_m, names: string, from: string) =>
      `const {${names}} = require(${JSON.stringify(from === 'cdk8s-inference-monitoring' ? path.join(REPO, 'lib', 'src', 'index.js') : require.resolve(from, { paths: [REPO] }))});`);
  fs.writeFileSync(path.join(dir, 'expected.js'), code);
  execFileSync(process.execPath, [path.join(dir, 'expected.js')], { cwd: REPO, stdio: 'pipe' });
  return fs.readFileSync(path.join(outdir, 'llm.k8s.yaml'), 'utf8');
}

const npm = (args: string[], cwd: string) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, stdio: 'pipe', encoding: 'utf8' });
const installedVersion = (app: string, name: string) => JSON.parse(fs.readFileSync(path.join(app, 'node_modules', name, 'package.json'), 'utf8')).version as string;

describe('a consumer project', () => {
  let dir: string;
  let tarball: string;
  let expected: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-consumer-'));
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0];
    tarball = path.join(dir, packed.filename);
    expected = expectedSynth(dir);
    expect(expected).toContain('name: prod-qwen');
  }, 60_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A fresh project with the tarball and `specs` (name@version or name@range), README's example compiled and synthesized; made once per name. */
  const made = new Map<string, { app: string; synth: string }>();
  const consumer = (name: string, specs: string[]) => {
    if (made.has(name)) return made.get(name)!;
    const app = path.join(dir, name);
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '0.0.0' }));
    npm(['install', tarball, ...specs], app);
    fs.writeFileSync(path.join(app, 'main.ts'), readmeExample());
    const tsc = spawnSync(process.execPath, [TSC, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'ES2022', '--strict', 'main.ts'], { cwd: app, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    const run = spawnSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    made.set(name, { app, synth: fs.readFileSync(path.join(app, 'dist', 'llm.k8s.yaml'), 'utf8') });
    return made.get(name)!;
  };
  const newest = () => SHARED.map((n) => `${n}@${RANGES[n]}`);

  test('takes cdk8s, cdk8s-plus-28 and constructs as peer dependencies with the ranges tested here', () => {
    expect(pkg.peerDependencies).toEqual(expect.objectContaining(RANGES));
    for (const n of SHARED) expect([n, pkg.dependencies[n]]).toEqual([n, undefined]);
  });

  test.each([
    ['the oldest', (range: string) => semver.minVersion(range)!.version],
    ['the newest', (range: string) => range], // npm installs the newest version of the range
  ])('with %s cdk8s, cdk8s-plus-28 and constructs of the peer ranges compiles README\'s example (tsc --strict) and synthesizes what our build does', (which, version) => {
    const specs = SHARED.map((n) => `${n}@${version(RANGES[n])}`);
    const { app, synth } = consumer(which.replace(' ', '-'), specs);
    const versions = Object.fromEntries(SHARED.map((n) => [n, installedVersion(app, n)]));
    for (const n of SHARED) expect([n, semver.satisfies(versions[n], RANGES[n])]).toEqual([n, true]);
    if (which === 'the oldest') for (const n of SHARED) expect(versions[n]).toBe(semver.minVersion(RANGES[n])!.version);
    // one copy of each: the library's constructs are the project's (no nested cdk8s/constructs)
    expect(fs.existsSync(path.join(app, 'node_modules', 'cdk8s-inference-monitoring', 'node_modules', 'constructs'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'node_modules', 'cdk8s-inference-monitoring', 'node_modules', 'cdk8s'))).toBe(false);
    process.stdout.write(`${which}: ${JSON.stringify(versions)}\n`);
    expect(synth).toBe(expected);
  }, 180_000);

  test('gets no controller dependencies, and the packaged CLI renders, prints its version and says what the controller needs', () => {
    // the project of the newest versions (made here if that test did not run)
    const { app } = consumer('the-newest', newest());
    const tree = npm(['ls', '--all', '--parseable'], app);
    for (const name of CONTROLLER_ONLY) {
      expect([name, fs.existsSync(path.join(app, 'node_modules', name))]).toEqual([name, false]);
      expect([name, tree.includes(`node_modules/${name}\n`)]).toEqual([name, false]);
    }
    const bin = path.join(app, 'node_modules', '.bin', 'inference-monitoring');
    const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, ...env } });
    const example = path.join(REPO, 'examples', 'inference-monitoring.yaml');
    const rendered = cli(['render', '-f', example]);
    expect(rendered.stderr).toBe('');
    expect(rendered.status).toBe(0);
    expect(rendered.stdout).toContain('kind: Deployment');
    // from lib/ (the project's cdk8s) as from the bundle (its own copy)
    expect(cli(['render', '-f', example], { CIM_CLI_BUNDLE: '0' }).stdout).toBe(rendered.stdout);
    expect(cli(['--version']).stdout).toBe(`${pkg.version}\n`);
    const help = cli(['controller', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--leader-election-namespace');
    const controller = cli(['controller', '--kubeconfig', path.join(dir, 'no-such-kubeconfig')]);
    expect(controller.status).toBe(1);
    expect(controller.stderr).toBe(`error: the controller command needs @kubernetes/client-node and prom-client, which installing cdk8s-inference-monitoring as a library leaves out (optional peer dependencies): npm install @kubernetes/client-node@'${pkg.peerDependencies['@kubernetes/client-node']}' prom-client@'${pkg.peerDependencies['prom-client']}'\n`);
    // with them installed, the controller command gets past the check and loads the controller
    npm(['install', ...['@kubernetes/client-node', 'prom-client'].map((n) => `${n}@${pkg.peerDependencies[n]}`)], app);
    const loaded = cli(['controller', '--kubeconfig', path.join(dir, 'no-such-kubeconfig')]);
    expect(loaded.status).toBe(1);
    expect(loaded.stderr).toContain('no-such-kubeconfig');
    expect(loaded.stderr).not.toContain('optional peer dependencies');
  }, 180_000);
});
