/**
 * The tests themselves type-check, under the same strict options as src/ (tsconfig.test.json): jest runs them
 * through a transpiler that drops types, so a spec fixture with a misspelt field, a helper called without a
 * dependency it needs (the reconciler's `namespace`, missed for months) or an object that may be absent would
 * otherwise pass unnoticed. test/compile-time/ is left out: its files fail on purpose (compile-time.test.ts).
 */
import * as path from 'path';
import * as ts from 'typescript';

const REPO = path.resolve(__dirname, '..', '..');

test('every file under test/ compiles under tsconfig.test.json', () => {
  const configFile = path.join(REPO, 'tsconfig.test.json');
  const { config, error } = ts.readConfigFile(configFile, ts.sys.readFile);
  expect(error).toBeUndefined();
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, REPO, undefined, configFile);
  expect(parsed.errors).toEqual([]);
  expect(parsed.fileNames.some((f) => f.endsWith('test/unit/test-types.test.ts'))).toBe(true);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${path.relative(REPO, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start!).line + 1}` : '';
    return `${where} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
  expect(problems).toEqual([]);
}, 180_000);
