/**
 * `inference-monitoring render` as users and Argo CD run it: the README
 * example renders to the same manifests the controller applies, byte-identical
 * across runs and Node processes, with no timestamps, random names or absolute
 * paths; a bad file fails with field paths and writes nothing.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { Yaml } from 'cdk8s';
import { renderManifests } from '../../src/render';
import { RENDER_RECORD } from '../../src/cli/main';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'inference-monitoring.js');
const EXAMPLE = path.join(REPO, 'examples', 'inference-monitoring.yaml');
const render = (...args: string[]) => spawnSync(process.execPath, [BIN, 'render', ...args], { encoding: 'utf8' });

describe('render', () => {
  const first = render('-f', EXAMPLE);

  test('prints the manifests the controller would apply for the README example', () => {
    expect(first.status).toBe(0);
    const docs = parseAllDocuments(first.stdout).map((d) => d.toJSON());
    const resource = parseAllDocuments(fs.readFileSync(EXAMPLE, 'utf8'))[0].toJSON();
    expect(docs).toEqual(renderManifests({ name: resource.metadata.name, namespace: resource.metadata.namespace, spec: resource.spec }));
  });

  test('is byte-identical across two Node processes and from stdin', () => {
    expect(render('-f', EXAMPLE).stdout).toBe(first.stdout);
    const fromStdin = spawnSync(process.execPath, [BIN, 'render', '-f', '-'], { input: fs.readFileSync(EXAMPLE), encoding: 'utf8' });
    expect(fromStdin.stdout).toBe(first.stdout);
  });

  test('contains no timestamps, absolute paths or random names', () => {
    expect(first.stdout).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
    // (`/tmp` itself is a legitimate mount path in the pods; the build's own directories are not.)
    for (const p of [REPO, path.join(os.tmpdir(), 'cim-'), os.homedir()]) expect(first.stdout).not.toContain(p);
    expect(first.stdout).not.toMatch(/generateName|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  });

  test('dashboard ConfigMaps stay far below the 1 MiB object limit (and the 256 KiB client-side apply annotation)', () => {
    const sizes = parseAllDocuments(first.stdout).map((d) => d.toJSON()).filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, Buffer.byteLength(Yaml.stringify(o))] as const);
    console.log(`ConfigMap sizes (bytes): ${sizes.map(([n, b]) => `${n}=${b}`).join(', ')}`);
    for (const [, bytes] of sizes) expect(bytes).toBeLessThan(256 * 1024);
  });

  test('--output-dir writes one file per object in apply order, identically every time', () => {
    const a = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-render-'));
    const b = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-render-'));
    try {
      expect(render('-f', EXAMPLE, '--output-dir', a).status).toBe(0);
      expect(render('-f', EXAMPLE, '-o', b).status).toBe(0);
      const files = fs.readdirSync(a).filter((f) => f.endsWith('.yaml')).sort();
      expect(files.length).toBe(parseAllDocuments(first.stdout).length);
      expect(files[0]).toMatch(/^00-[a-z]+-llm-demo-[a-z0-9-]+\.yaml$/);
      for (const f of files) expect(fs.readFileSync(path.join(b, f), 'utf8')).toBe(fs.readFileSync(path.join(a, f), 'utf8'));
      expect(files.map((f) => fs.readFileSync(path.join(a, f), 'utf8')).join('---\n')).toBe(first.stdout);
    } finally {
      fs.rmSync(a, { recursive: true, force: true });
      fs.rmSync(b, { recursive: true, force: true });
    }
  });

  test('a bad file: exit code 1, every field path with its reason, nothing written', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-render-'));
    fs.rmSync(out, { recursive: true });
    const r = render('-f', path.join(REPO, 'examples', 'invalid.yaml'), '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: invalid ${path.join(REPO, 'examples', 'invalid.yaml')}:\n  - spec.models[0].engine: Unsupported value: "llamacpp": supported values: "vllm", "lmdeploy", "sglang", "tgi", "transformers"\n`);
    expect(fs.existsSync(out)).toBe(false);
    const cross = spawnSync(process.execPath, [BIN, 'render', '-f', '-'], { input: 'apiVersion: monitoring.inference.dev/v1alpha1\nkind: InferenceMonitoring\nmetadata: {name: x}\nspec: {models: [{name: b, model: m, engine: vllm, gpu: {count: 2}, parallelism: {tensor: 2, data: 2}}]}\n---\nkind: Deployment\n', encoding: 'utf8' });
    expect(cross.status).toBe(1);
    expect(cross.stderr).toContain('document 0: spec.models[0].parallelism: Invalid value: parallelism.tensor × parallelism.pipeline × parallelism.data must not exceed gpu.count');
    expect(cross.stderr).toContain('document 1: apiVersion: Unsupported value: undefined');
    expect(cross.stdout).toBe('');
  });

  test('--help documents every flag', () => {
    const help = execFileSync(process.execPath, [BIN, 'render', '--help'], { encoding: 'utf8' });
    for (const flag of ['--file', '--output-dir', '--help']) expect(help).toContain(flag);
  });
});

describe('the command line behaves', () => {
  test('a reader that stops early (| head -1) ends the output quietly: no EPIPE stack trace', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" render -f "${EXAMPLE}" | head -1 >/dev/null`], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('an empty file is an error, not an empty success', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cim-empty-')), 'empty.yaml');
    fs.writeFileSync(f, '\n---\n');
    const r = render('-f', f);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no InferenceMonitoring document');
    expect(r.stdout).toBe('');
  });

  test('--output-dir removes the files of objects no longer rendered, and only files named as it names them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-out-'));
    expect(render('-f', EXAMPLE, '-o', dir).status).toBe(0);
    const before = fs.readdirSync(dir);
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: []\n');
    // The same resource without Grafana: its Deployment's file must go.
    const doc = parseAllDocuments(fs.readFileSync(EXAMPLE, 'utf8'))[0].toJSON();
    doc.spec.grafana = { enabled: false };
    const f = path.join(dir, '..', `${path.basename(dir)}.yaml`);
    fs.writeFileSync(f, Yaml.stringify(doc));
    expect(render('-f', f, '-o', dir).status).toBe(0);
    const after = fs.readdirSync(dir);
    expect(before.some((n) => /-deployment-llm-demo-grafana\.yaml$/.test(n))).toBe(true);
    expect(after.some((n) => /grafana/.test(n) && /-deployment-/.test(n))).toBe(false);
    expect(after).toContain('kustomization.yaml');
    const fromFiles = after.filter((n) => n !== 'kustomization.yaml' && n.endsWith('.yaml')).sort().map((n) => parseAllDocuments(fs.readFileSync(path.join(dir, n), 'utf8'))[0].toJSON());
    expect(fromFiles).toEqual(renderManifests({ name: doc.metadata.name, namespace: doc.metadata.namespace, spec: doc.spec }));
  });

  test('--output-dir removes only the files it wrote itself, as its record lists them: a user\'s own 00-namespace-setup.yaml survives', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-out-'));
    try {
      // Named as render names its files (<index>-<kind>-<rest>.yaml), but the user's.
      const own = { '00-namespace-setup.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: setup}\n', '99-configmap-extra.yaml': 'kind: ConfigMap\n' };
      for (const [f, text] of Object.entries(own)) fs.writeFileSync(path.join(dir, f), text);
      expect(render('-f', EXAMPLE, '-o', dir).status).toBe(0);
      const record = fs.readFileSync(path.join(dir, RENDER_RECORD), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
      const rendered = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml') && !(f in own)).sort();
      expect(record.sort()).toEqual(rendered);
      // A smaller render into the same directory: its own stale files go, the user's stay, unchanged.
      const doc = parseAllDocuments(fs.readFileSync(EXAMPLE, 'utf8'))[0].toJSON();
      doc.spec.grafana = { enabled: false };
      const f = `${dir}.yaml`;
      fs.writeFileSync(f, Yaml.stringify(doc));
      expect(render('-f', f, '-o', dir).status).toBe(0);
      for (const [name, text] of Object.entries(own)) expect(fs.readFileSync(path.join(dir, name), 'utf8')).toBe(text);
      const now = fs.readdirSync(dir).filter((n) => n.endsWith('.yaml') && !(n in own)).sort();
      expect(now.length).toBe(renderManifests({ name: doc.metadata.name, namespace: doc.metadata.namespace, spec: doc.spec }).length);
      expect(fs.readFileSync(path.join(dir, RENDER_RECORD), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).sort()).toEqual(now);
      // A record edited to name a file outside the directory, or one not named as render names its files, removes nothing.
      fs.writeFileSync(path.join(dir, RENDER_RECORD), `../${path.basename(f)}\nkustomization.yaml\n`);
      fs.writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: []\n');
      expect(render('-f', f, '-o', dir).status).toBe(0);
      expect(fs.existsSync(f)).toBe(true);
      expect(fs.existsSync(path.join(dir, 'kustomization.yaml'))).toBe(true);
      fs.rmSync(f);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([['a file', ['-f', '/dev/zero']], ['stdin', ['-f', '-']]])('input beyond 8 MiB from %s ends at once with one line', (_name, args) => {
    const start = Date.now();
    const r = args[1] === '-'
      ? spawnSync('sh', ['-c', `head -c ${9 * 1024 * 1024} /dev/zero | "${process.execPath}" "${BIN}" render -f -`], { encoding: 'utf8', timeout: 20_000 })
      : spawnSync(process.execPath, [BIN, 'render', ...args], { encoding: 'utf8', timeout: 20_000 });
    const seconds = (Date.now() - start) / 1000;
    console.log(`render ${args.join(' ')}: exit ${r.status} after ${seconds.toFixed(2)} s`);
    expect({ status: r.status, stderr: r.stderr, stdout: r.stdout }).toEqual({ status: 1, stderr: `error: ${args[1] === '-' ? 'input' : '/dev/zero'}: larger than 8 MiB; InferenceMonitoring documents are far smaller\n`, stdout: '' });
    expect(seconds).toBeLessThan(10);
  });

  test.each([
    ['render', ['render', '-f', EXAMPLE]],
    ['alertmanager-config', ['alertmanager-config', '--webhook-url', 'https://hooks.example.com/x']],
  ])('a write error (> /dev/full) from %s is one line on stderr and exit code 1, no stack trace', (_name, args) => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" ${args.map((a) => `'${a}'`).join(' ')} > /dev/full`], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: 'error: writing the output: ENOSPC: no space left on device, write\n' });
  });

  test('an output directory that cannot be written is one line and exit code 1', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cim-out-')), 'a-file');
    fs.writeFileSync(file, '');
    const r = render('-f', EXAMPLE, '-o', path.join(file, 'sub'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: ENOTDIR: not a directory, mkdir '.*sub'\n$/);
  });

  test.each([['localhost'], ['127.0.0.1:70000'], ['[::1:8080'], ['a b:80']])('controller --metrics-bind-address %s is refused before it starts', (value) => {
    const r = spawnSync(process.execPath, [BIN, 'controller', `--metrics-bind-address=${value}`, '--kubeconfig=/nonexistent'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("'--metrics-bind-address <host:port>'");
    expect(r.stderr).toMatch(/expected <host>:<port>/);
  });

  test.each([['--metrics-port', 'abc'], ['--metrics-port', '70000'], ['--workers', '0'], ['--resync-seconds', '-1']])('controller %s %s is refused before it starts', (flag, value) => {
    const r = spawnSync(process.execPath, [BIN, 'controller', `${flag}=${value}`, '--kubeconfig=/nonexistent'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`'${flag}`);
    expect(r.stderr).toMatch(/expected an integer from/);
  });
});

describe('render refuses resources of one file that would render the same object', () => {
  const doc = (name: string, model: string, namespace = 'llm') => `apiVersion: monitoring.inference.dev/v1alpha1
kind: InferenceMonitoring
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  models: [{ name: ${model}, model: x/y, engine: vllm }]
`;
  const renderText = (text: string) => spawnSync(process.execPath, [BIN, 'render', '-f', '-'], { input: text, encoding: 'utf8' });
  test.each([
    ['demo.x next to demo-x', [doc('demo.x', 'm'), doc('demo-x', 'm')], /document 1: metadata\.name: Invalid value: "demo-x": renders objects another resource renders: .*Deployment llm\/demo-x-m \(also llm\/demo\.x's\)/],
    ['1abc next to im-1abc', [doc('1abc', 'm'), doc('im-1abc', 'm')], /document 1: metadata\.name: Invalid value: "im-1abc": renders objects another resource renders/],
    ['demo-a with model b next to demo with model a-b', [doc('demo-a', 'b'), doc('demo', 'a-b')], /document 1: metadata\.name: .*Deployment llm\/demo-a-b/],
    ['the same resource twice', [doc('demo', 'm'), doc('demo', 'n')], /document 1: metadata\.name: Duplicate value: "demo": document 0: is the same InferenceMonitoring llm\/demo/],
  ])('%s: an error naming the field, nothing printed', (_name, docs, message) => {
    const r = renderText(docs.join('---\n'));
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  test('the same names in different namespaces are fine', () => {
    const r = renderText([doc('demo', 'm', 'a'), doc('demo', 'm', 'b')].join('---\n'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
