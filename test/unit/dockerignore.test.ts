/**
 * The controller image's build context (`docker build .`): `.dockerignore` keeps node_modules (~360 MB after
 * `npm install`), lib/, dist/, .git and the test fixtures out, and keeps in everything the Dockerfile
 * copies and tsc compiles. The context is computed with Docker's matching rules (test/harness/docker-context.ts).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { buildContext, contextCopySources } from '../harness/docker-context';

const REPO = path.resolve(__dirname, '..', '..');

describe('the Docker build context', () => {
  const context = buildContext(REPO);
  const sent = new Set(context.files);

  test('is small: no node_modules, lib/, dist/, .git or test fixtures', () => {
    expect(context.bytes).toBeLessThan(5 * 2 ** 20);
    const stray = context.files.filter((f) => /(^|\/)(node_modules|\.git|coverage|\.test-tmp)(\/|$)/.test(f) || /^(lib|dist|test\/fixtures)\//.test(f));
    expect(stray).toEqual([]);
  });

  test('holds every source the Dockerfile copies from it', () => {
    const sources = contextCopySources(fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', '.']));
    for (const s of sources.filter((x) => x !== '.')) {
      expect([s, sent.has(s) || context.files.some((f) => f.startsWith(`${s.replace(/\/$/, '')}/`))]).toEqual([s, true]);
    }
  });

  test('holds every file `npm run build` compiles and runs (tsc -p tsconfig.json, bin/)', () => {
    const compiled = execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--listFilesOnly'], { cwd: REPO, encoding: 'utf8' })
      .split('\n').filter((f) => f && !f.includes(`${path.sep}node_modules${path.sep}`)).map((f) => path.relative(REPO, f).split(path.sep).join('/'));
    expect(compiled.length).toBeGreaterThan(50);
    const needed = [...compiled, 'tsconfig.json', 'bin/inference-monitoring.js'];
    expect(needed.filter((f) => !sent.has(f))).toEqual([]);
  });
});
