/**
 * manifestsYaml writes what cdk8s' Yaml.stringify writes, byte for byte: on
 * every manifest the examples and spec variants render, and on generated
 * values full of the strings YAML treats specially. It must also write most
 * manifests itself (otherwise it is only the `yaml` package with extra steps).
 */
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { Yaml } from 'cdk8s';
import { fastDocument, manifestsYaml } from '../../src/manifest-yaml';
import { renderManifests } from '../../src/render';
import { SPEC_VARIANTS, variantResourceName } from '../harness/spec-variants';

const rendered = Object.entries(SPEC_VARIANTS).flatMap(([name, spec], i) => renderManifests({ name: variantResourceName(name, i), namespace: 'llm', spec }));

test('every rendered manifest is written as Yaml.stringify writes it', () => {
  expect(rendered.length).toBeGreaterThan(80);
  for (const m of rendered) expect(manifestsYaml([m])).toBe(Yaml.stringify(m));
  expect(manifestsYaml(rendered)).toBe(Yaml.stringify(...rendered));
});

test('the committed dist/ files read back and written again are unchanged', () => {
  const dist = path.join(__dirname, '..', '..', 'dist');
  for (const f of fs.readdirSync(dist).filter((x) => x.endsWith('.yaml'))) {
    const text = fs.readFileSync(path.join(dist, f), 'utf8');
    const docs = Yaml.load(path.join(dist, f));
    expect(manifestsYaml(docs)).toBe(text);
  }
});

test('most manifests are written without the yaml package (all but those with multi-line or special strings)', () => {
  const fast = rendered.filter((m) => fastDocument(m) !== undefined);
  const kinds = new Set(fast.map((m: any) => m.kind));
  expect(fast.length / rendered.length).toBeGreaterThan(0.6);
  for (const k of ['Deployment', 'Service', 'ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy']) expect(kinds).toContain(k);
});

// Strings YAML 1.1 reads as something else, or that need quoting or a block scalar.
const tricky = fc.constantFrom(
  '', ' ', 'a ', ' a', 'yes', 'No', 'ON', 'off', 'y', 'N', 'null', 'NULL', '~', 'true', 'False', '0', '007', '12', '1.5', '-1', '0x1F', '0o17', '1e3', '.inf', '-.inf', '.NaN',
  '1:20', '190:20:30', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '=', '<<', '-', '- a', 'a: b', 'a:b', 'a #b', '#a', 'a#b', '@a', '`a', '!a', '&a', '*a', '|', '>', '%a',
  '0b101', '0o7', '1d', '12e', '1e', '1e5', '1_000', '31205d18c52abea5', 'deadbeef', '1a2b', '0x1a', '25%', '%a', '--host', '-a', '--', '-1a', '- x', '-x y', ':9400', 'a:', 'a:b:c', 'http://x:9090/y', 'a :b',
  '0.0.0.0', '1.2.3', '1.2.3.', '1..2', '25%', '100%%', '%', '/ready', '/-/healthy', '/', '//a', '/a: b', '/a #b',
  '64Gi', '1E5', '0X1', '0B1', '1Ki', '5E', 'E5', '$(A)', 'a=$(B),c', 'a$', '$a',
  "'a'", '"a"', 'a\nb', 'a\n', '\n', 'a\tb', 'ä', 'a,b', '[a]', '{a}', 'a]', 'a}', '?', '? a', 'a?', 'a  b', 'A_b-c.d/e', 'Inference serving (vLLM)', '_x', 'x=1', 'a+b',
);
const str = fc.oneof(tricky, fc.string({ maxLength: 8 }), fc.stringMatching(/^[A-Za-z_-][A-Za-z0-9_./ :%=-]{0,10}$/), fc.stringMatching(/^[0-9][0-9a-z_.:-]{0,8}$/));
const num = fc.oneof(fc.integer(), fc.double({ noNaN: false }), fc.constantFrom(0.5, -0, 1e21, 1.5e-7, 2 ** 53, -3.25));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, str, num, fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(str, tie('v'), { maxKeys: 4 })),
})).v;

test('generated values: the same text as Yaml.stringify, whichever writer prints them', () => {
  fc.assert(fc.property(fc.array(fc.dictionary(str, value, { minKeys: 1, maxKeys: 5 }), { minLength: 1, maxLength: 3 }), (docs) => {
    expect(manifestsYaml(docs)).toBe(Yaml.stringify(...docs));
  }), { numRuns: 3000 });
});

test('values that are not plain JSON data (a Date, a Map, undefined) are left to the yaml package', () => {
  const docs = [{ a: new Date(Date.UTC(2026, 11, 2)) }, { m: new Map([['k', 1]]) }, { u: undefined, v: 1 }, { s: [new Date(0)] }];
  for (const d of docs) {
    expect(fastDocument(d)).toBeUndefined();
    expect(manifestsYaml([d])).toBe(Yaml.stringify(d));
  }
});
