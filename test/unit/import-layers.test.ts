/**
 * The house reads from the top: every module of src/ belongs to a layer, and imports only from its own
 * layer or a lower one; no module imports itself back through others (no cycle). Imports are read with the
 * TypeScript compiler's pre-processor: `import`, `export … from`, `import type`, `require('…')` and
 * `import('…')` (also in type positions) all count, so a lazy require or a type-only import is a
 * dependency too.
 *
 * To see what it finds in another revision: `IMPORT_LAYERS_REF=<commit> npx jest test/unit/import-layers.test.ts`
 * reads src/ of that commit from git instead of the working tree.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const REPO = path.resolve(__dirname, '..', '..');
/** Modules `npm run build` writes into lib/ (no source in src/): ajv's standalone validator of the schema. */
const BUILT = new Set(['api/spec-validator']);

/**
 * Layers, lowest first. A module is in the layer of its longest matching prefix (a directory ends in `/`).
 * What each holds:
 */
export const LAYERS: ReadonlyArray<{ readonly name: string; readonly modules: readonly string[] }> = [
  // Generated bindings and helpers with no knowledge of the API.
  { name: 'base', modules: ['imports/', 'collate', 'duration', 'names', 'monitoring-labels', 'config-yaml', 'normalize', 'manifest-yaml'] },
  // Engine profiles as recorded data (the schema lists the engines, so they sit below it).
  { name: 'engines', modules: ['engines/'] },
  // The API: schema, validation, CRD, the generated input type.
  { name: 'api', modules: ['api/'] },
  // Typed PromQL and signals.
  { name: 'promql', modules: ['promql/'] },
  // The only place that decides.
  { name: 'plan', modules: ['plan/'] },
  // Configuration and content from a plan, without cdk8s: prometheus.yml, Grafana provisioning, dashboards, alerts.
  { name: 'content', modules: ['prometheus/', 'grafana/', 'dashboards/', 'alerts/'] },
  // cdk8s constructs that draw a plan.
  { name: 'constructs', modules: ['constructs/', 'stack-chart'] },
  // renderPlan(plan) -> manifests, addStack.
  { name: 'render', modules: ['render'] },
  // The controller: it renders, nothing below knows it.
  { name: 'controller', modules: ['controller/'] },
  // The controller's own install, dashboard and alerts: above it, never imported by it.
  { name: 'install', modules: ['install/'] },
  // Commands and the package root.
  { name: 'commands', modules: ['check/', 'benchmarks/', 'cli/', 'index'] },
];

function layerOf(module: string): number {
  let best = -1, bestLength = -1;
  LAYERS.forEach((l, i) => {
    for (const prefix of l.modules) {
      const match = prefix.endsWith('/') ? module.startsWith(prefix) : module === prefix;
      if (match && prefix.length > bestLength) { best = i; bestLength = prefix.length; }
    }
  });
  return best;
}

/** src/ files (path under src/ → text), from the working tree or a git revision. */
function sources(ref = process.env.IMPORT_LAYERS_REF): Map<string, string> {
  const out = new Map<string, string>();
  const keep = (p: string) => p.endsWith('.ts') && !p.endsWith('.d.ts');
  if (ref) {
    const files = execFileSync('git', ['ls-tree', '-r', '--name-only', ref, 'src'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(keep);
    for (const f of files) {
      const rel = f.slice('src/'.length);
      out.set(rel, rel.startsWith('imports/') ? '' : execFileSync('git', ['show', `${ref}:${f}`], { cwd: REPO, encoding: 'utf8', maxBuffer: 64 << 20 }));
    }
    return out;
  }
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(REPO, 'src', dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      // Generated bindings import only packages; their 36,000 lines need not be read.
      else if (keep(rel)) out.set(rel, rel.startsWith('imports/') ? '' : fs.readFileSync(path.join(REPO, 'src', rel), 'utf8'));
    }
  };
  walk('');
  return out;
}

/** Module id (path under src/ without `.ts`, `index` dropped for a directory's index) → the modules it imports. */
export function importGraph(files: ReadonlyMap<string, string>): Map<string, Set<string>> {
  const ids = new Set([...files.keys()].map((f) => f.replace(/\.ts$/, '')));
  const resolve = (from: string, spec: string): string | undefined => {
    if (!spec.startsWith('.')) return undefined; // a package
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '');
    if (ids.has(target)) return target;
    if (ids.has(`${target}/index`)) return `${target}/index`;
    if (BUILT.has(target)) return target;
    return target.startsWith('..') ? undefined : `${target} (unresolved)`;
  };
  const graph = new Map<string, Set<string>>();
  for (const [file, text] of files) {
    const id = file.replace(/\.ts$/, '');
    const deps = new Set<string>();
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      const target = resolve(id, ref.fileName);
      if (target && target !== id) deps.add(target);
    }
    graph.set(id, deps);
  }
  return graph;
}

/** Imports from a lower layer to a higher one, as `from -> to (layer -> layer)`. */
export function upwardImports(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const out: string[] = [];
  for (const [from, deps] of graph) {
    for (const to of deps) {
      const a = layerOf(from), b = layerOf(to);
      if (b > a) out.push(`${from} -> ${to} (${LAYERS[a]?.name} imports ${LAYERS[b]?.name})`);
    }
  }
  return out.sort();
}

/** Modules with no layer. */
export function unlayered(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  return [...graph.keys()].filter((m) => layerOf(m) < 0).sort();
}

/** Every cycle, as one strongly connected component each (Tarjan), members sorted. */
export function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>(), stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** Layers that import each other (a cycle between directories, even without a module cycle). */
export function layerCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const dir = (m: string) => (m.includes('/') ? `${m.split('/')[0]}/` : m);
  const dirs = new Map<string, Set<string>>();
  for (const [from, deps] of graph) for (const to of deps) if (dir(from) !== dir(to)) dirs.set(dir(from), (dirs.get(dir(from)) ?? new Set()).add(dir(to)));
  return cycles(dirs).map((c) => c.join(' <-> '));
}

describe(`the import graph of src/${process.env.IMPORT_LAYERS_REF ? ` at ${process.env.IMPORT_LAYERS_REF}` : ''}`, () => {
  const graph = importGraph(sources());

  test('reads the whole of src/ and resolves every relative import', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect([...graph.values()].flatMap((d) => [...d]).filter((d) => d.endsWith('(unresolved)'))).toEqual([]);
  });

  test('every module is in a layer', () => {
    expect(unlayered(graph)).toEqual([]);
  });

  test('no import runs back up a layer', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  test('no module imports itself back through others', () => {
    expect(cycles(graph)).toEqual([]);
  });

  test('no two directories import each other', () => {
    expect(layerCycles(graph)).toEqual([]);
  });
});

describe('the checks themselves', () => {
  const g = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([k, v]) => [k, new Set(v)]));

  test('an import from the constructs up to the controller is found', () => {
    expect(upwardImports(g({ 'constructs/x': ['controller/rbac'], 'controller/rbac': [] }))).toEqual(['constructs/x -> controller/rbac (constructs imports controller)']);
  });

  test('a cycle of modules is found, and so is one of directories', () => {
    const graph = g({ 'render': ['constructs/a'], 'constructs/a': ['controller/b'], 'controller/b': ['render'] });
    expect(cycles(graph)).toEqual([['constructs/a', 'controller/b', 'render']]);
    expect(layerCycles(g({ 'a/x': ['b/y'], 'b/y': [], 'b/z': ['a/w'], 'a/w': [] }))).toEqual(['a/ <-> b/']);
  });
});
