/**
 * Manifests as YAML, byte for byte what cdk8s' `Yaml.stringify` writes (the
 * `yaml` package, YAML 1.1, `lineWidth: 0`), in a fraction of its time: it was
 * the largest per-model cost of `render` (BENCHMARKS.md, "CLI start-up").
 *
 * A document is written here only when every value in it is of a kind whose
 * output is certain: maps and sequences, null, booleans, integers and plain
 * decimals, and strings of a conservative character set, printed plain, or
 * double-quoted where YAML 1.1 would read them as another type (the `yaml`
 * package's own 1.1 schema says which), or empty. Any other value (a multi-line string, a
 * string with `:` or `#`, an exponent, undefined) sends the whole document
 * to `Yaml.stringify`. test/unit/manifest-yaml.test.ts compares both on every
 * rendered manifest and on generated values.
 */
import { Yaml } from 'cdk8s';
import { Schema } from 'yaml';

/** Not a value this writer prints (the caller falls back to the `yaml` package). */
const BAIL = Symbol('bail');

/**
 * A string YAML 1.1 would read as something else (null, a boolean, a number, a timestamp, `<<`) is
 * printed double-quoted: the implicit tags of the `yaml` package's own 1.1 schema decide.
 */
const IMPLICIT: RegExp[] = (new Schema({ schema: 'yaml-1.1' }).tags as Array<{ default?: unknown; test?: RegExp }>)
  .filter((t) => t.default && t.test instanceof RegExp).map((t) => t.test!);
/**
 * Printed plain (or, when IMPLICIT reads it as another type, double-quoted): a letter, digit, `_` or `/`
 * (or `-` or `--` and a letter, digit or `_`, as in `--host`), then letters, digits, spaces and
 * `_./()=,+%$-`, or `:` not before a space; not ending in a space or `:`.
 */
const SAFE = /^(?:[A-Za-z0-9_/]|--?[A-Za-z0-9_])(?:[A-Za-z0-9_./()=,+%$: -]*[A-Za-z0-9_./()=,+%$-])?$/;
const DECIMAL = /^-?[0-9]+\.[0-9]+$/;

function scalar(v: unknown): string | typeof BAIL {
  switch (typeof v) {
    case 'string':
      if (v === '') return '""';
      if (!SAFE.test(v) || v.includes(': ')) return BAIL;
      return IMPLICIT.some((re) => re.test(v)) ? `"${v}"` : v;
    case 'number': {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) return String(v);
      const s = String(v);
      return DECIMAL.test(s) ? s : BAIL;
    }
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      return v === null ? 'null' : BAIL;
    default:
      return BAIL;
  }
}

/** An array, or a plain object (a Date, a Map or a class instance is the `yaml` package's to print). */
const isCollection = (v: unknown): v is Record<string, unknown> | unknown[] => {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};
const isEmpty = (v: Record<string, unknown> | unknown[]) => (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);

/** A value on the line it starts: a scalar, `{}` or `[]`; BAIL for a non-empty collection. */
function inline(v: unknown): string | typeof BAIL {
  if (!isCollection(v)) return scalar(v);
  if (!isEmpty(v)) return BAIL;
  return Array.isArray(v) ? '[]' : '{}';
}

/** A non-empty collection in block style, every line indented by `pad`; false when a value is not one this writer prints. */
function block(v: Record<string, unknown> | unknown[], pad: string, out: string[]): boolean {
  if (Array.isArray(v)) {
    for (const item of v) {
      const one = inline(item);
      if (one !== BAIL) { out.push(`${pad}- ${one}\n`); continue; }
      if (!isCollection(item)) return false;
      // The item's first line goes after "- ", the rest indented to match it.
      const start = out.length;
      if (!block(item, `${pad}  `, out)) return false;
      out[start] = `${pad}- ${out[start].slice(pad.length + 2)}`;
    }
    return true;
  }
  for (const [k, value] of Object.entries(v)) {
    if (value === undefined) return false;
    const key = scalar(k);
    if (key === BAIL) return false;
    const one = inline(value);
    if (one !== BAIL) { out.push(`${pad}${key}: ${one}\n`); continue; }
    if (!isCollection(value)) return false;
    out.push(`${pad}${key}:\n`);
    if (!block(value, `${pad}  `, out)) return false;
  }
  return true;
}

/** One document as this writer prints it, or undefined when it leaves it to the `yaml` package. */
export function fastDocument(doc: unknown): string | undefined {
  if (!isCollection(doc) || isEmpty(doc)) return undefined;
  const out: string[] = [];
  return block(doc, '', out) ? out.join('') : undefined;
}

/** The same text as `Yaml.stringify(...docs)`. */
export function manifestsYaml(docs: readonly unknown[]): string {
  return docs.map((d) => fastDocument(d) ?? Yaml.stringify(d)).join('---\n');
}
