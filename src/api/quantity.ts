/**
 * The numeric value of a Kubernetes quantity (`500m`, `64Gi`, `1e3`), to
 * compare requests with limits as the apiserver does. A float is exact
 * enough here: equal spellings compare equal, and sizes differ by far more
 * than rounding.
 */
const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

export function quantityValue(q: string): number {
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))|([KMGTPE]i|[numkMGTPE])?)$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  return m[2] ? Number(`${m[1]}${m[2]}`) : Number(m[1]) * SUFFIX[m[3] ?? ''];
}
