/**
 * How `bin/inference-monitoring.js` loads the CLI: from the bundle `npm run build` writes
 * (`main.bundle.js`, one file instead of ~900 modules, see build-bundle.ts) with V8's code cache
 * (`main.bundle.cache`, bytecode of what a render runs), when the bundle is as fresh as `lib/`;
 * otherwise, or with `CIM_CLI_BUNDLE=0`, from `lib/src/cli/main.js` as tsc wrote it. Both run the
 * same compiled code: the bundle is esbuild's concatenation of these files, so output is byte-identical.
 *
 * The long-running `controller` command always loads from `lib/`: start-up does not matter there, and
 * the bundle would give it a second copy of everything it shares with lib/src/controller.
 */
import * as fs from 'fs';
import Module = require('module');
import * as path from 'path';
import * as vm from 'vm';

export const BUNDLE = path.join(__dirname, 'main.bundle.js');
export const BUNDLE_CACHE = path.join(__dirname, 'main.bundle.cache');
export const BUNDLE_STAMP = path.join(__dirname, 'main.bundle.json');

/** What the bundle was built from: files of lib/ (path from this directory, size) and package versions. */
export interface BundleStamp {
  files: Array<[string, number]>;
  packages: Array<[string, string]>;
}

type Main = typeof import('./main').main;

/**
 * The bundle is fresh when every lib/ file it was built from has its size and is not newer than it
 * (tsc after the bundle makes it stale), and every package it embeds that is still where it was
 * has its version (an `npm install` after the build). An installed tarball has all its files at
 * npm's fixed mtime, so it passes; a dependency hoisted elsewhere in a consumer's tree is skipped:
 * the bundle carries its own copy.
 */
function fresh(stamp: BundleStamp, bundleMtime: number): boolean {
  for (const [rel, size] of stamp.files) {
    const st = fs.statSync(path.join(__dirname, rel), { throwIfNoEntry: false });
    if (!st || st.size !== size || st.mtimeMs > bundleMtime) return false;
  }
  for (const [rel, version] of stamp.packages) {
    let text: string;
    try { text = fs.readFileSync(path.join(__dirname, rel), 'utf8'); } catch { continue; }
    if (!text.includes(`"version": "${version}"`) && JSON.parse(text).version !== version) return false;
  }
  return true;
}

/** Compiles and runs the bundle (with the code cache when V8 accepts it). */
export function runBundle(useCache = true): { main: Main; script: vm.Script } {
  const source = fs.readFileSync(BUNDLE, 'utf8');
  let cachedData: Buffer | undefined;
  if (useCache) {
    try { cachedData = fs.readFileSync(BUNDLE_CACHE); } catch { /* no cache: compile */ }
  }
  const script = new vm.Script(Module.wrap(source), { filename: BUNDLE, cachedData });
  const module = { exports: {} as { main: Main } };
  script.runInThisContext()(module.exports, Module.createRequire(BUNDLE), module, BUNDLE, __dirname);
  return { main: module.exports.main, script };
}

/** The `controller` command runs until it is stopped; every other command is one-shot. */
export function isLongRunning(argv: readonly string[]): boolean {
  return argv.find((a) => !a.startsWith('-')) === 'controller';
}

/**
 * Whether there is a bundle as fresh as lib/ (false without one: tsc only, or a build that skipped it).
 * `bin`: of the copy of bin/ and lib/ that bin script belongs to (the benchmark's check); default: this one.
 */
export function bundleFresh(bin?: string): boolean {
  if (bin) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const other = path.resolve(path.dirname(bin), '..', 'lib', 'src', 'cli', 'bundle-loader.js');
    return fs.existsSync(other) && (other === __filename ? bundleFresh() : (require(other) as typeof import('./bundle-loader')).bundleFresh());
  }
  try {
    return fresh(JSON.parse(fs.readFileSync(BUNDLE_STAMP, 'utf8')) as BundleStamp, fs.statSync(BUNDLE).mtimeMs);
  } catch {
    return false;
  }
}

/** The CLI's `main`, from the bundle when it is usable, otherwise from lib/. */
export function loadMain(argv: readonly string[]): Main {
  if (!isLongRunning(argv) && process.env.CIM_CLI_BUNDLE !== '0' && bundleFresh()) return runBundle().main;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./main') as typeof import('./main')).main;
}
