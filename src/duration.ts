/** Milliseconds of a Prometheus duration such as `10s`, `1m` or `1m30s`. */
export function durationMs(d: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  const parts = [...d.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== d) throw new Error(`not a Prometheus duration: ${d}`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]], 0);
}

/**
 * A Prometheus duration as Go's `time.ParseDuration` reads it (no `d`, `w` or `y` units): `15d` becomes `360h`.
 * For configurations of Go programs that are not Prometheus (Tempo's `block_retention`).
 */
export function goDuration(d: string): string {
  let ms = durationMs(d);
  if (ms === 0) return '0s';
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(ms / size);
    if (n > 0) out += `${n}${unit}`;
    ms -= n * size;
  }
  return out;
}
