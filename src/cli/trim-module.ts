/**
 * Dead-export removal for the CLI bundle (build-bundle.ts): the generated Kubernetes and CRD classes
 * (cdk8s-plus-28's `imports/k8s.js`, 2.6 MiB, and our `src/imports/*.js`) are CommonJS, which esbuild
 * cannot tree-shake, so the bundle carried, parsed and held the code cache of every one of their
 * classes and `toJson_*` functions although `render` reaches a fraction of them.
 *
 * Both steps are conservative; where they cannot be sure they give up and the module is bundled whole:
 * - `usedExports` reads an importer: the module must be bound once as `const x = require("…")` and
 *   `x` only ever used as `x.Name`; any other use (passed on, `x[k]`, spread) gives `undefined`.
 * - `trimModule` keeps every top-level statement that declares a needed name or could be needed:
 *   a class or function declaration only when its name is reachable from the used exports through
 *   identifiers (over-approximated: any identifier with the name counts), an expression statement
 *   (`exports.X = X`, `X.GVK = …`, an enum's initializer) unless it names a declaration that was
 *   dropped, and everything else (imports, constants, `var` lists).
 * Module behaviour for the kept exports is unchanged: the kept statements run in the same order.
 */
import type * as TS from 'typescript';

type Ts = typeof TS;

/** The identifiers `node` reads: not property names after a dot (`exports.X` does not read `X`), nor declared variables. */
function identifiers(ts: Ts, node: TS.Node, out: Set<string>): Set<string> {
  const visit = (n: TS.Node): void => {
    if (ts.isIdentifier(n)) out.add(n.text);
    else if (ts.isPropertyAccessExpression(n)) visit(n.expression);
    // `var X;` declares X, it does not read it (an enum's `var` would otherwise keep the enum).
    else if (ts.isVariableDeclaration(n)) { if (n.initializer) visit(n.initializer); if (!ts.isIdentifier(n.name)) visit(n.name); }
    else ts.forEachChild(n, visit);
  };
  visit(node);
  return out;
}

const isRequireOf = (ts: Ts, e: TS.Expression | undefined, accept: (specifier: string) => boolean): boolean =>
  !!e && ts.isCallExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === 'require'
  && e.arguments.length === 1 && ts.isStringLiteral(e.arguments[0]) && accept(e.arguments[0].text);

/** `__importStar(…)` or `tslib.__importStar(…)`: tsc's namespace import, an object with the module's properties. */
const isImportStar = (ts: Ts, e: TS.Node): e is TS.CallExpression => ts.isCallExpression(e) && e.arguments.length === 1
  && ((ts.isIdentifier(e.expression) && e.expression.text === '__importStar')
    || (ts.isPropertyAccessExpression(e.expression) && e.expression.name.text === '__importStar'));

/** What an importer reads of a module: the names, and under which of its own exports it passes the module on. */
export interface Uses { names: Set<string>; reexports: string[] }

/**
 * What an importer reads of the module it requires with a specifier `accept` matches, or `undefined`
 * when it uses the module in any other way than `binding.Name` (so every export may be read).
 * With `member`, what it reads of that export of the module (`binding.member.Name`) instead.
 * A binding is `const b = require(…)` or `const b = __importStar(require(…))`; a re-export is
 * `exports.N = require(…)`.
 */
export function usedExports(ts: Ts, source: string, accept: (specifier: string) => boolean, member?: string): Uses | undefined {
  const file = ts.createSourceFile('importer.js', source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const bindings = new Set<string>();
  const reexports: string[] = [];
  let unusual = false;
  const find = (n: TS.Node): void => {
    if (ts.isCallExpression(n) && isRequireOf(ts, n, accept)) {
      const d = isImportStar(ts, n.parent) ? n.parent.parent : n.parent;
      const value = d === n.parent ? n : n.parent;
      if (ts.isVariableDeclaration(d) && d.initializer === value && ts.isIdentifier(d.name)) bindings.add(d.name.text);
      else if (value === n && ts.isBinaryExpression(d) && d.right === n && d.operatorToken.kind === ts.SyntaxKind.EqualsToken
        && ts.isPropertyAccessExpression(d.left) && ts.isIdentifier(d.left.expression) && d.left.expression.text === 'exports') reexports.push(d.left.name.text);
      else unusual = true; // used in place, or through another helper
    }
    ts.forEachChild(n, find);
  };
  find(file);
  if (unusual) return undefined;
  const names = new Set<string>();
  const visit = (n: TS.Node): void => {
    if (ts.isIdentifier(n) && bindings.has(n.text)) {
      const p = n.parent;
      if (ts.isVariableDeclaration(p) && p.name === n) { /* the binding itself */ } else if (ts.isPropertyAccessExpression(p) && p.expression === n) {
        if (member === undefined) names.add(p.name.text);
        else if (p.name.text === member) {
          if (ts.isPropertyAccessExpression(p.parent) && p.parent.expression === p) names.add(p.parent.name.text);
          else unusual = true;
        }
      } else unusual = true;
    }
    ts.forEachChild(n, visit);
  };
  visit(file);
  return unusual ? undefined : { names, reexports };
}

/** What `trimModule` did: the source to bundle, and how many declarations it kept and dropped. */
export interface Trimmed { source: string; kept: number; dropped: number }

/**
 * `source` (a CommonJS module as tsc writes it) without the top-level classes and functions that no
 * export in `used` reaches, nor the statements that name them; `undefined` when `used` names
 * something the module does not declare (then it is not the module the importers were read against).
 */
export function trimModule(ts: Ts, source: string, used: ReadonlySet<string>): Trimmed | undefined {
  const file = ts.createSourceFile('module.js', source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const stmts = [...file.statements];
  // Droppable: class and function declarations, and enums (`var X;` whose object an expression statement creates).
  const decl = new Set<string>();
  stmts.forEach((s) => {
    if ((ts.isClassDeclaration(s) || ts.isFunctionDeclaration(s)) && s.name) decl.add(s.name.text);
  });
  // An enum: `var X;` then `(function (X) { … })(X … exports.X …);`.
  const bare = new Set(stmts.flatMap((s) => ts.isVariableStatement(s) && s.declarationList.declarations.length === 1
    && !s.declarationList.declarations[0].initializer && ts.isIdentifier(s.declarationList.declarations[0].name)
    ? [s.declarationList.declarations[0].name.text] : []));
  for (const s of stmts) {
    const name = enumName(ts, s);
    if (name && bare.has(name) && !decl.has(name)) decl.add(name);
  }
  const refs = stmts.map((s) => identifiers(ts, s, new Set()));
  for (const name of used) if (!source.includes(`exports.${name} = `)) return undefined;
  const needed = new Set<string>();
  const need = (names: Iterable<string>) => { for (const n of names) if (decl.has(n)) needed.add(n); };
  need(used);
  const keep = (i: number): boolean => {
    const s = stmts[i];
    if ((ts.isClassDeclaration(s) || ts.isFunctionDeclaration(s)) && s.name) return needed.has(s.name.text);
    if (ts.isExpressionStatement(s)) return [...refs[i]].every((n) => !decl.has(n) || needed.has(n));
    return true;
  };
  // Reachability: what a kept statement names is needed; to a fixed point.
  for (let size = -1; size !== needed.size;) {
    size = needed.size;
    stmts.forEach((_, i) => { if (keep(i)) need(refs[i]); });
  }
  let out = '';
  let pos = 0;
  let kept = 0;
  let dropped = 0;
  stmts.forEach((s, i) => {
    const droppable = isDroppable(ts, s);
    if (keep(i)) { if (droppable) kept++; return; }
    if (droppable) dropped++;
    out += source.slice(pos, s.getFullStart());
    pos = s.getEnd();
  });
  out += source.slice(pos);
  return { source: out, kept, dropped };
}

const isDroppable = (ts: Ts, s: TS.Statement): boolean => (ts.isClassDeclaration(s) || ts.isFunctionDeclaration(s)) && !!s.name;

/** `X` of an enum initializer `(function (X) { … })(…)`. */
function enumName(ts: Ts, s: TS.Statement): string | undefined {
  if (!ts.isExpressionStatement(s) || !ts.isCallExpression(s.expression)) return undefined;
  let callee: TS.Expression = s.expression.expression;
  while (ts.isParenthesizedExpression(callee)) callee = callee.expression;
  if (!ts.isFunctionExpression(callee) || callee.parameters.length !== 1) return undefined;
  const p = callee.parameters[0].name;
  return ts.isIdentifier(p) ? p.text : undefined;
}
