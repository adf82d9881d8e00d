/**
 * A small typed PromQL expression tree and its printer. Dashboards, alerts,
 * recording rules and autoscaling build queries from these nodes, so quoting,
 * matchers and aggregation clauses are spelled in one place.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher { readonly label: string; readonly op: MatchOp; readonly value: string }

export type Expr =
  | { readonly kind: 'selector'; readonly metric?: string; readonly matchers: readonly LabelMatcher[]; readonly range?: string }
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'call'; readonly fn: string; readonly args: readonly Expr[] }
  | { readonly kind: 'aggregate'; readonly op: AggregateOp; readonly by?: readonly string[]; readonly without?: readonly string[]; readonly param?: Expr; readonly expr: Expr }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly lhs: Expr; readonly rhs: Expr; readonly bool?: boolean; readonly on?: readonly string[]; readonly ignoring?: readonly string[]; readonly groupLeft?: readonly string[] }
  | { readonly kind: 'subquery'; readonly expr: Expr; readonly range: string; readonly step?: string };

export type AggregateOp = 'sum' | 'max' | 'min' | 'avg' | 'count' | 'group' | 'topk' | 'bottomk' | 'quantile';
export type BinaryOp = '+' | '-' | '*' | '/' | '>' | '<' | '>=' | '<=' | '==' | '!=' | 'and' | 'or' | 'unless';

const PRECEDENCE: Record<BinaryOp, number> = { or: 1, and: 2, unless: 2, '==': 3, '!=': 3, '<': 3, '>': 3, '<=': 3, '>=': 3, '+': 4, '-': 4, '*': 5, '/': 5 };

export const m = (label: string, op: MatchOp, value: string): LabelMatcher => ({ label, op, value });
export const sel = (metric: string | undefined, matchers: readonly LabelMatcher[] = [], range?: string): Expr => ({ kind: 'selector', metric, matchers, range });
export const num = (value: number): Expr => ({ kind: 'number', value });
export const call = (fn: string, ...args: Expr[]): Expr => ({ kind: 'call', fn, args });
export const rate = (e: Expr): Expr => call('rate', e);
export const increase = (e: Expr): Expr => call('increase', e);
export const agg = (op: AggregateOp, expr: Expr, by?: readonly string[]): Expr => ({ kind: 'aggregate', op, expr, by });
export const aggWithout = (op: AggregateOp, expr: Expr, without: readonly string[]): Expr => ({ kind: 'aggregate', op, expr, without });
export const bin = (op: BinaryOp, lhs: Expr, rhs: Expr, opts: { bool?: boolean; on?: readonly string[]; ignoring?: readonly string[]; groupLeft?: readonly string[] } = {}): Expr => ({ kind: 'binary', op, lhs, rhs, ...opts });
export const histogramQuantile = (q: number, buckets: Expr): Expr => call('histogram_quantile', num(q), buckets);

/** Left-folds `or` over alternatives (e.g. the old and new name of a renamed metric). */
export function orAll(exprs: readonly Expr[]): Expr {
  if (exprs.length === 0) throw new Error('orAll needs at least one expression');
  return exprs.slice(1).reduce((acc, e) => bin('or', acc, e), exprs[0]);
}

/** Label matcher values are double-quoted strings with `\` and `"` escaped. */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Metric names with `:` are valid bare names; anything else outside [a-zA-Z0-9_:] goes into `{__name__=...}`. */
const BARE_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Inf' : '-Inf';
  return String(v);
}

function labelList(labels: readonly string[]): string {
  return `(${labels.join(', ')})`;
}

export function print(e: Expr): string {
  switch (e.kind) {
    case 'selector': {
      const matchers = [...e.matchers];
      let name = '';
      if (e.metric !== undefined) {
        if (BARE_NAME.test(e.metric)) name = e.metric;
        else matchers.unshift(m('__name__', '=', e.metric));
      }
      const inner = matchers.map((x) => `${x.label}${x.op}${quote(x.value)}`).join(', ');
      const braces = inner || !name ? `{${inner}}` : '';
      return `${name}${braces}${e.range ? `[${e.range}]` : ''}`;
    }
    case 'number':
      return formatNumber(e.value);
    case 'call':
      return `${e.fn}(${e.args.map(print).join(', ')})`;
    case 'aggregate': {
      const clause = e.by?.length ? ` by ${labelList(e.by)}` : e.without?.length ? ` without ${labelList(e.without)}` : '';
      const args = e.param ? `${print(e.param)}, ${print(e.expr)}` : print(e.expr);
      return `${e.op}${clause} (${args})`;
    }
    case 'binary': {
      const wrap = (side: Expr, right: boolean) => {
        const s = print(side);
        if (side.kind !== 'binary') return s;
        const p = PRECEDENCE[side.op];
        const parent = PRECEDENCE[e.op];
        return p < parent || (right && p === parent) ? `(${s})` : s;
      };
      let op: string = e.op;
      if (e.bool) op += ' bool';
      if (e.on) op += ` on ${labelList(e.on)}`;
      if (e.ignoring) op += ` ignoring ${labelList(e.ignoring)}`;
      if (e.groupLeft) op += ` group_left ${labelList(e.groupLeft)}`;
      return `${wrap(e.lhs, false)} ${op} ${wrap(e.rhs, true)}`;
    }
    case 'subquery':
      return `(${print(e.expr)})[${e.range}:${e.step ?? ''}]`;
  }
}
