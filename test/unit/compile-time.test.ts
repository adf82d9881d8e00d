/**
 * The library's types, checked by the TypeScript compiler as a user's project would check them: README's
 * examples compile under `--strict` against the package's entry point, and each file in test/compile-time/
 * fails to compile exactly where its `// expect-error TSxxxx: message` comment says (the line below it), with
 * that message: a wrong engine, an unknown field, a misspelt mode.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

const REPO = path.resolve(__dirname, '..', '..');
const CASES = path.join(__dirname, '..', 'compile-time');

/** The ```ts blocks of README.md that import the package. */
function readmeExamples(): string[] {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes("from 'cdk8s-inference-monitoring'"));
}

interface Found { file: string; line: number; code: number; message: string }

function compile(files: string[]): Found[] {
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10, esModuleInterop: true, skipLibCheck: true,
    // What `import ... from 'cdk8s-inference-monitoring'` resolves to in a user's project: the package's entry point
    // (README's examples are compiled outside the repository: its dependencies resolve from node_modules).
    baseUrl: REPO, paths: { 'cdk8s-inference-monitoring': ['src/index.ts'], '*': ['node_modules/*'] },
  };
  const program = ts.createProgram(files, options);
  return ts.getPreEmitDiagnostics(program).filter((d) => d.file && files.includes(path.resolve(d.file.fileName))).map((d) => ({
    file: path.resolve(d.file!.fileName),
    line: d.file!.getLineAndCharacterOfPosition(d.start!).line + 1,
    code: d.code,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

let found: Found[];
let readmeFiles: string[];
const cases = fs.readdirSync(CASES).filter((f) => f.endsWith('.ts')).map((f) => path.join(CASES, f));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-compile-time-'));

beforeAll(() => {
  readmeFiles = readmeExamples().map((code, i) => {
    const file = path.join(tmp, `readme-example-${i}.ts`);
    fs.writeFileSync(file, code);
    return file;
  });
  found = compile([...readmeFiles, ...cases]);
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('README\'s examples compile under --strict against the package\'s types', () => {
  expect(readmeFiles.length).toBeGreaterThan(0);
  expect(found.filter((f) => readmeFiles.includes(f.file))).toEqual([]);
});

test.each(cases.map((c) => path.basename(c)))('%s fails to compile exactly where and how its expect-error says', (name) => {
  const file = path.join(CASES, name);
  const expected = fs.readFileSync(file, 'utf8').split('\n').flatMap((text, i) => {
    const m = /\/\/ expect-error TS(\d+): (.*)$/.exec(text);
    return m ? [{ file, line: i + 2, code: Number(m[1]), message: m[2] }] : [];
  });
  const actual = found.filter((f) => f.file === file);
  // A file without expect-error must compile; one with them fails only there, with those messages.
  expect(actual).toEqual(expected);
});
