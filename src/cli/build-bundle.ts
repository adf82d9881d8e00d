/**
 * Run after tsc (`npm run build` runs it as `postbuild`): bundles lib/src/cli/main.js with esbuild into
 * one file, records what it was built from, and writes V8's code cache of a warm-up render, so that
 * `inference-monitoring render` reads one file and skips most parsing and compiling
 * (bundle-loader.ts; BENCHMARKS.md, "CLI start-up"). Not needed at run time: without it the CLI loads lib/.
 *
 *   node lib/src/cli/build-bundle.js          bundle + stamp + code cache
 *   node lib/src/cli/build-bundle.js --warm   (child) warm-up render, then write the code cache
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { BUNDLE, BUNDLE_CACHE, BUNDLE_STAMP, BundleStamp, runBundle } from './bundle-loader';

/** A small vLLM resource: what the Argo CD plugin and CI render most. */
const WARM_UP = `apiVersion: monitoring.inference.dev/v1alpha1
kind: InferenceMonitoring
metadata: { name: warm-up, namespace: llm }
spec:
  models:
    - { name: llama, model: meta-llama/Llama-3.1-8B-Instruct, engine: vllm }
`;

const nullStream = () => new Writable({ write: (_chunk, _encoding, done) => done() });

async function warm(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cim-bundle-'));
  try {
    const file = path.join(dir, 'warm-up.yaml');
    fs.writeFileSync(file, WARM_UP);
    const { main, script } = runBundle(false);
    const code = await main(['render', '-f', file], nullStream(), nullStream());
    if (code !== 0) throw new Error(`warm-up render exited ${code}`);
    // After the run: the cache then holds the bytecode of every function the render compiled.
    fs.writeFileSync(BUNDLE_CACHE, script.createCachedData());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The Grafana Foundation SDK's `dist/<kind>/index.js` files only re-export (tslib `__exportStar`) every
 * builder of their kind, so requiring one index runs hundreds of modules we do not use (252 modules,
 * the largest share of start-up). In the bundle such an index defines the same exports, in the same order
 * and as getters as `__exportStar` does, but loads each module on the first read of one of its exports.
 * The package declares `"sideEffects": false`. An index with anything else in it is bundled as it is.
 */
const lazySdkIndexes = {
  name: 'lazy-grafana-sdk-indexes',
  setup(b: import('esbuild').PluginBuild) {
    const REEXPORT = /^tslib_1\.__exportStar\(require\("(\.\/[^"]+)"\), exports\);$/;
    const BOILERPLATE = /^("use strict";|\/\/.*|Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);|const tslib_1 = require\("tslib"\);|)$/;
    b.onLoad({ filter: /[\\/]@grafana[\\/]grafana-foundation-sdk[\\/]dist[\\/][^\\/]+[\\/]index\.js$/ }, (args) => {
      const lines = fs.readFileSync(args.path, 'utf8').split('\n');
      const modules: string[] = [];
      for (const line of lines) {
        const m = REEXPORT.exec(line);
        if (m) modules.push(m[1]);
        else if (!BOILERPLATE.test(line)) return undefined;
      }
      const dir = path.dirname(args.path);
      const out = ['"use strict";', 'Object.defineProperty(exports, "__esModule", { value: true });'];
      const seen = new Set<string>();
      modules.forEach((m, i) => {
        out.push(`let m${i}; const l${i} = () => (m${i} ??= require(${JSON.stringify(m)}));`);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        for (const k of Object.keys(require(path.join(dir, m)))) {
          if (k === 'default' || seen.has(k)) continue;
          seen.add(k);
          out.push(`Object.defineProperty(exports, ${JSON.stringify(k)}, { enumerable: true, get: () => l${i}()[${JSON.stringify(k)}] });`);
        }
      });
      return { contents: `${out.join('\n')}\n`, loader: 'js' as const, resolveDir: dir };
    });
  },
};

async function build(): Promise<void> {
  for (const f of [BUNDLE, BUNDLE_CACHE, BUNDLE_STAMP]) fs.rmSync(f, { force: true });
  let esbuild: typeof import('esbuild');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    esbuild = require('esbuild');
  } catch {
    process.stderr.write('build-bundle: esbuild is not installed; the CLI loads lib/ (slower start-up)\n');
    return;
  }
  const start = Date.now();
  const result = await esbuild.build({
    entryPoints: [path.join(__dirname, 'main.js')],
    outfile: BUNDLE,
    bundle: true, platform: 'node', format: 'cjs', target: 'node20',
    // Loaded by the controller command (from lib/) and only there; ajv's compiler only without the
    // prebuilt spec validator (scripts/build-validator.ts), which the bundle embeds.
    external: ['../controller/*', '@kubernetes/client-node', 'pg', 'ajv'],
    // Whitespace only: names stay as they are (nothing renamed or rewritten).
    minifyWhitespace: true,
    plugins: [lazySdkIndexes],
    metafile: true, logLevel: 'warning',
  });
  const libRoot = path.resolve(__dirname, '..', '..');
  const files: BundleStamp['files'] = [];
  const packages = new Map<string, string>();
  for (const input of Object.keys(result.metafile!.inputs)) {
    const abs = path.resolve(input);
    const nm = abs.lastIndexOf(`${path.sep}node_modules${path.sep}`);
    if (nm >= 0) {
      const parts = abs.slice(nm + 14).split(path.sep);
      const pkgDir = abs.slice(0, nm + 14) + parts.slice(0, parts[0].startsWith('@') ? 2 : 1).join(path.sep);
      const pj = path.join(pkgDir, 'package.json');
      if (!packages.has(pj)) packages.set(pj, JSON.parse(fs.readFileSync(pj, 'utf8')).version);
    } else if (abs.startsWith(libRoot + path.sep)) {
      files.push([path.relative(__dirname, abs), fs.statSync(abs).size]);
    }
  }
  const stamp: BundleStamp = { files, packages: [...packages].map(([pj, v]) => [path.relative(__dirname, pj), v]) };
  const warmUp = spawnSync(process.execPath, [__filename, '--warm'], { stdio: 'inherit' });
  if (warmUp.status !== 0) {
    // The bundle still loads without the cache (V8 compiles it): a warning, not a failed build.
    fs.rmSync(BUNDLE_CACHE, { force: true });
    process.stderr.write('build-bundle: warning: the warm-up render failed; no code cache\n');
  }
  // The stamp last: without it the loader does not use the bundle.
  fs.writeFileSync(BUNDLE_STAMP, `${JSON.stringify(stamp)}\n`);
  process.stderr.write(`build-bundle: ${path.relative(process.cwd(), BUNDLE)} (${(fs.statSync(BUNDLE).size / 2 ** 20).toFixed(1)} MiB, ${files.length} lib files, ${packages.size} packages), code cache ${fs.existsSync(BUNDLE_CACHE) ? `${(fs.statSync(BUNDLE_CACHE).size / 2 ** 20).toFixed(1)} MiB` : 'none'}, ${Date.now() - start} ms\n`);
}

(process.argv[2] === '--warm' ? warm() : build()).catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
