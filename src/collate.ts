/**
 * `a.localeCompare(b)` (and with `{ numeric: true }` for versions) without ICU: the first
 * `localeCompare` of a process builds a collator, 18 ms of a one-model `render`. For the strings
 * the sorts here see (label keys, file names, versions) the order is ICU's root collation by
 * character, which these functions apply; any other string is left to `localeCompare`, so the
 * order never differs (test/unit/collate.test.ts compares both).
 */

/** The characters of the fast path, in ICU root collation order (punctuation, digits, letters). */
const ORDER = '_-,;:!?.\'"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz';
const RANK = new Map([...ORDER].map((c, i) => [c, i]));
const FAST = /^[a-z0-9_\-,;:!?.'"()[\]{}@*/\\&#%`^+<=>|~$]*$/;

/** The same sign as `a.localeCompare(b)`. */
export function compareLikeLocale(a: string, b: string): number {
  if (!FAST.test(a) || !FAST.test(b)) return a.localeCompare(b);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = RANK.get(a[i])! - RANK.get(b[i])!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

const VERSION = /^(?:0|[1-9][0-9]{0,14})(?:\.(?:0|[1-9][0-9]{0,14}))*$/;

/** The same sign as `a.localeCompare(b, undefined, { numeric: true })`. */
export function compareVersionsLikeLocale(a: string, b: string): number {
  if (!VERSION.test(a) || !VERSION.test(b)) return a.localeCompare(b, undefined, { numeric: true });
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}
