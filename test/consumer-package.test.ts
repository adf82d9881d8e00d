/**
 * The library as another cdk8s project uses it: `npm pack`, install the
 * tarball into a fresh project, import the constructs from TypeScript, synth,
 * and run the packaged CLI.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const REPO = path.resolve(__dirname, '..');
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

test('a consumer project installs the packed tarball, synthesizes a stack from TypeScript and runs the CLI', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-consumer-'));
  try {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: REPO, encoding: 'utf8' }))[0];
    const tarball = path.join(dir, packed.filename);
    expect(packed.files.map((f: any) => f.path)).toEqual(expect.arrayContaining(['lib/src/index.js', 'lib/src/index.d.ts', 'bin/inference-monitoring.js', 'crds/inferencemonitorings.monitoring.inference.dev.yaml']));
    const app = path.join(dir, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '0.0.0' }));
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `cdk8s@${pkg.dependencies.cdk8s}`, `constructs@${pkg.dependencies.constructs}`], { cwd: app, stdio: 'pipe' });
    fs.writeFileSync(path.join(app, 'main.ts'), [
      "import { App } from 'cdk8s';",
      "import { StackChart, addStack, validateSpec } from 'cdk8s-inference-monitoring';",
      "const spec = { models: [{ name: 'qwen', model: 'Qwen/Qwen2.5-7B-Instruct', engine: 'vllm' as const, gpu: { count: 2 }, parallelism: { tensor: 2 } }] };",
      "if (!validateSpec(spec).ok) throw new Error('invalid');",
      "const app = new App({ outdir: 'out' });",
      "addStack(new StackChart(app, 'llm', { namespace: 'llm' }), 'stack', { name: 'prod', namespace: 'llm', spec });",
      'app.synth();',
    ].join('\n'));
    execFileSync(process.execPath, [TSC, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'ES2022', '--strict', '--skipLibCheck', 'main.ts'], { cwd: app, stdio: 'pipe' });
    execFileSync(process.execPath, ['main.js'], { cwd: app });
    const out = fs.readFileSync(path.join(app, 'out', 'llm.k8s.yaml'), 'utf8');
    expect(out).toContain('name: prod-qwen');
    expect(out).toContain('nvidia.com/gpu: "2"');
    const cli = spawnSync(path.join(app, 'node_modules', '.bin', 'inference-monitoring'), ['render', '-f', path.join(REPO, 'examples', 'inference-monitoring.yaml')], { encoding: 'utf8' });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain('kind: Deployment');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);
