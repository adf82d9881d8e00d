/**
 * The CLI bundle (`npm run build`, src/cli/build-bundle.ts) renders what lib/ renders: every spec variant
 * and the README example, byte for byte, although the bundle leaves out the generated classes no importer
 * reads (src/cli/trim-module.ts). And trim-module itself: what it counts as a read, and that a trimmed
 * module behaves as the whole one for what is kept.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { Yaml } from 'cdk8s';
import { BUNDLE, bundleFresh } from '../src/cli/bundle-loader';
import { trimModule, usedExports } from '../src/cli/trim-module';
import { SPEC_VARIANTS } from './harness/spec-variants';

const REPO = path.resolve(__dirname, '..');
const BIN = path.join(REPO, 'bin', 'inference-monitoring.js');
// The bundle next to the compiled loader (lib/src/cli), not next to this file's source.
const LIB_BUNDLE = path.join(REPO, 'lib', 'src', 'cli', path.basename(BUNDLE));

describe('the bundle', () => {
  const resources = [
    fs.readFileSync(path.join(REPO, 'examples', 'inference-monitoring.yaml'), 'utf8'),
    ...Object.entries(SPEC_VARIANTS).map(([name, spec], i) => Yaml.stringify({
      apiVersion: 'monitoring.inference.dev/v1alpha1', kind: 'InferenceMonitoring',
      metadata: { name: `v${i}-${name}`.slice(0, 40).toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+$/, ''), namespace: 'llm' }, spec,
    })),
  ];
  const render = (env: NodeJS.ProcessEnv, input: string) => spawnSync(process.execPath, [BIN, 'render', '-f', '-'], { input, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });

  test('is built and fresh (npm test builds it), without the generated classes nobody reads', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect((require(path.join(REPO, 'lib', 'src', 'cli', 'bundle-loader.js')) as typeof import('../src/cli/bundle-loader')).bundleFresh()).toBe(true);
    expect(typeof bundleFresh).toBe('function');
    const text = fs.readFileSync(LIB_BUNDLE, 'utf8');
    // Read through cdk8s-plus (a Deployment) and by our constructs (a PodMonitor): kept.
    expect(text).toContain('function toJson_KubeDeploymentProps(');
    expect(text).toContain('function toJson_PodMonitorSpec(');
    // Neither cdk8s-plus nor our code creates webhook configurations or Prometheus agents.
    expect(text).not.toContain('function toJson_KubeMutatingWebhookConfigurationProps(');
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

describe('usedExports', () => {
  const isM = (s: string) => s === './m';
  const uses = (src: string, member?: string) => {
    const u = usedExports(ts, src, isM, member);
    return u && { names: [...u.names].sort(), reexports: u.reexports };
  };

  test('reads binding.Name, directly or through __importStar', () => {
    expect(uses('const m = require("./m"); m.A.of(x); new m.B(); const other = require("./o"); other.C;')).toEqual({ names: ['A', 'B'], reexports: [] });
    expect(uses('const m = tslib_1.__importStar(require("./m")); m.A; const n = __importStar(require("./m")); n.B;')).toEqual({ names: ['A', 'B'], reexports: [] });
  });

  test('any other use of the module is "anything": passed on, indexed, destructured, required in place', () => {
    for (const src of ['const m = require("./m"); f(m);', 'const m = require("./m"); m[k];', 'const { A } = require("./m");',
      'f(require("./m"));', 'const m = require("./m"); const n = m;', 'const m = __importDefault(require("./m"));']) {
      expect(uses(src)).toBeUndefined();
    }
  });

  test('a re-export, and what importers read of it', () => {
    expect(uses('exports.k8s = require("./m"); exports.Other = 1;')).toEqual({ names: [], reexports: ['k8s'] });
    expect(uses('const p = require("./m"); p.k8s.KubeX; new p.Deployment(); p.k8s.toJson_Y(o);', 'k8s')).toEqual({ names: ['KubeX', 'toJson_Y'], reexports: [] });
    expect(uses('const p = require("./m"); const k = p.k8s;', 'k8s')).toBeUndefined();
  });
});

describe('trimModule', () => {
  // The shape tsc gives the generated imports: classes, toJson functions, enums, RTTI and GVK statics.
  const SOURCE = `"use strict";
var _a, _b;
Object.defineProperty(exports, "__esModule", { value: true });
exports.toJson_BProps = exports.B = exports.toJson_Inner = exports.toJson_AProps = exports.A = exports.Unused = exports.Used = void 0;
const base_1 = { ApiObject: class { constructor(props) { this.props = props; } } };
const JSII_RTTI_SYMBOL_1 = Symbol.for("jsii.rtti");
/** A */
class A extends base_1.ApiObject {
    static manifest(props) { return { ...A.GVK, ...toJson_AProps(props) }; }
    kind() { return Used.ONE; }
}
exports.A = A;
_a = JSII_RTTI_SYMBOL_1;
A[_a] = { fqn: "x.A" };
A.GVK = { kind: "A" };
function toJson_AProps(obj) { return { inner: toJson_Inner(obj.inner) }; }
exports.toJson_AProps = toJson_AProps;
function toJson_Inner(obj) { return { v: obj.v }; }
exports.toJson_Inner = toJson_Inner;
/** B */
class B extends base_1.ApiObject {
    static manifest(props) { return { ...B.GVK, ...toJson_BProps(props) }; }
}
exports.B = B;
_b = JSII_RTTI_SYMBOL_1;
B[_b] = { fqn: "x.B" };
B.GVK = { kind: "B" };
function toJson_BProps(obj) { return { u: Unused.TWO }; }
exports.toJson_BProps = toJson_BProps;
var Used;
(function (Used) {
    Used["ONE"] = "one";
})(Used || (exports.Used = Used = {}));
var Unused;
(function (Unused) {
    Unused["TWO"] = "two";
})(Unused = exports.Unused || (exports.Unused = {}));
`;
  const load = (src: string) => {
    const module = { exports: {} as Record<string, any> };
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('exports', 'module', src)(module.exports, module);
    return module.exports;
  };

  test('keeps what the used exports reach, drops the rest and every statement naming it', () => {
    const t = trimModule(ts, SOURCE, new Set(['A']))!;
    expect(t).toMatchObject({ kept: 3, dropped: 2 });
    const whole = load(SOURCE);
    const trimmed = load(t.source);
    expect(trimmed.A.manifest({ inner: { v: 1 } })).toEqual(whole.A.manifest({ inner: { v: 1 } }));
    expect(new trimmed.A({}).kind()).toBe('one');
    expect(trimmed.A[Symbol.for('jsii.rtti')]).toEqual({ fqn: 'x.A' });
    expect(trimmed.B).toBeUndefined();
    expect(trimmed.Unused).toBeUndefined();
    expect(t.source).not.toMatch(/toJson_BProps\(obj\)|Unused\["TWO"\]|B\[_b\]/);
    // Through B, the other enum and B's functions are reached too.
    expect(load(trimModule(ts, SOURCE, new Set(['B']))!.source).B.manifest({})).toEqual({ kind: 'B', u: 'two' });
    expect(trimModule(ts, SOURCE, new Set(['A', 'B', 'Unused']))).toMatchObject({ dropped: 0 });
  });

  test('refuses names the module does not export (it is not the module the importers were read against)', () => {
    expect(trimModule(ts, SOURCE, new Set(['A', 'Missing']))).toBeUndefined();
  });

  test("cdk8s-plus-28's Kubernetes classes, trimmed to what cdk8s-plus reads, behave as the whole module", () => {
    const file = require.resolve('cdk8s-plus-28/lib/imports/k8s.js');
    const dir = path.dirname(path.dirname(file));
    const used = new Set<string>();
    for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
      if (!f.endsWith('.js') || f.startsWith('imports')) continue;
      const from = path.dirname(path.join(dir, f));
      const u = usedExports(ts, fs.readFileSync(path.join(dir, f), 'utf8'), (s) => path.resolve(from, s) === file.replace(/\.js$/, ''));
      // index.js re-exports it (`exports.k8s = require("./imports/k8s")`); every other importer reads names.
      expect(u).toBeDefined();
      u!.names.forEach((n) => used.add(n));
    }
    expect(used.size).toBeGreaterThan(20);
    const source = fs.readFileSync(file, 'utf8');
    const t = trimModule(ts, source, used)!;
    expect(t.dropped).toBeGreaterThan(t.kept / 2);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const whole = require(file);
    const module = { exports: {} as Record<string, any> };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    new Function('exports', 'module', 'require', t.source)(module.exports, module, (id: string) => require(require.resolve(id, { paths: [path.dirname(file)] })));
    const trimmed = module.exports;
    const props = (k: any) => ({ metadata: { name: 'x', labels: { a: 'b' } }, spec: { selector: { matchLabels: { a: 'b' } }, template: { spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: k.Quantity.fromString('1') } } }] } } } });
    expect(trimmed.KubeDeployment.manifest(props(trimmed))).toEqual(whole.KubeDeployment.manifest(props(whole)));
    expect(trimmed.KubeDeployment.manifest(props(trimmed)).spec.template.spec.containers[0].resources.limits.cpu).toBe('1');
    for (const n of used) expect(typeof trimmed[n]).toBe(typeof whole[n]);
    expect(trimmed.KubeMutatingWebhookConfiguration).toBeUndefined();
  });
});
