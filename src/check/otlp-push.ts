/**
 * Pushes a Prometheus exposition sample to a Prometheus OTLP receiver the way
 * an OTLP-pushing engine does (transformers under `opentelemetry-instrument`):
 * cumulative OTLP metrics (opentelemetry-proto `metrics/v1`, its JSON mapping),
 * with the resource attributes the stack's engine env sets, every push
 * interval. What Prometheus then stores is what a pushing engine gives it: no
 * `up` series, a sample per push (not per scrape), labels from promoted
 * resource attributes and names from Prometheus' own OTLP translation.
 */

/** opentelemetry-proto `common.v1.KeyValue` with a string value: all we send. */
interface KeyValue { readonly key: string; readonly value: { readonly stringValue: string } }

interface NumberDataPoint {
  readonly attributes: KeyValue[];
  readonly startTimeUnixNano: string;
  readonly timeUnixNano: string;
  readonly asDouble: number;
}

interface HistogramDataPoint {
  readonly attributes: KeyValue[];
  readonly startTimeUnixNano: string;
  readonly timeUnixNano: string;
  /** uint64 fields are strings in OTLP/JSON. */
  readonly count: string;
  readonly sum: number;
  readonly bucketCounts: string[];
  readonly explicitBounds: number[];
}

/** `AGGREGATION_TEMPORALITY_CUMULATIVE`: what the OpenTelemetry SDKs push by default. */
const CUMULATIVE = 2;

export type OtlpMetric =
  | { readonly name: string; readonly gauge: { readonly dataPoints: NumberDataPoint[] } }
  | { readonly name: string; readonly sum: { readonly dataPoints: NumberDataPoint[]; readonly aggregationTemporality: number; readonly isMonotonic: boolean } }
  | { readonly name: string; readonly histogram: { readonly dataPoints: HistogramDataPoint[]; readonly aggregationTemporality: number } };

/** opentelemetry-proto `collector.metrics.v1.ExportMetricsServiceRequest`. */
export interface ExportMetricsServiceRequest {
  readonly resourceMetrics: Array<{
    readonly resource: { readonly attributes: KeyValue[] };
    readonly scopeMetrics: Array<{ readonly scope: { readonly name: string }; readonly metrics: OtlpMetric[] }>;
  }>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseLabels(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (text ?? '').matchAll(LABEL)) out[m[1]] = m[2].replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
  return out;
}

const attributes = (labels: Record<string, string>): KeyValue[] =>
  Object.keys(labels).sort().map((key) => ({ key, value: { stringValue: labels[key] } }));

const nanos = (ms: number): string => (BigInt(Math.round(ms)) * 1_000_000n).toString();

/**
 * One export request holding every family of `exposition` (gauges, counters
 * and histograms; a counter's `_total` is left to Prometheus' translation to
 * add back, as it does for an OTLP monotonic sum), stamped `timeMs`, counted
 * from `startMs`.
 */
export function exportRequest(exposition: string, resource: Record<string, string>, scope: string, timeMs: number, startMs: number): ExportMetricsServiceRequest {
  const types = new Map<string, string>();
  for (const line of exposition.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) types.set(t[1], t[2]);
  }
  const familyOf = (sample: string): { family: string; part: string } | undefined => {
    for (const part of ['', '_total', '_bucket', '_sum', '_count']) {
      if (part && !sample.endsWith(part)) continue;
      const family = part ? sample.slice(0, -part.length) : sample;
      if (types.has(family)) return { family, part };
    }
    return undefined;
  };
  const time = { startTimeUnixNano: nanos(startMs), timeUnixNano: nanos(timeMs) };
  const numbers = new Map<string, NumberDataPoint[]>();
  const histograms = new Map<string, Map<string, { labels: Record<string, string>; buckets: Array<[number, number]>; sum: number; count: number }>>();
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    const f = m && familyOf(m[1]);
    if (!m || !f) continue;
    const labels = parseLabels(m[2]);
    const value = Number(m[3]);
    const type = types.get(f.family);
    if (type === 'histogram') {
      const { le, ...rest } = labels;
      const key = JSON.stringify(attributes(rest));
      const series = histograms.get(f.family) ?? new Map();
      histograms.set(f.family, series);
      const point = series.get(key) ?? { labels: rest, buckets: [], sum: 0, count: 0 };
      series.set(key, point);
      if (f.part === '_bucket') point.buckets.push([le === '+Inf' ? Infinity : Number(le), value]);
      else if (f.part === '_sum') point.sum = value;
      else if (f.part === '_count') point.count = value;
    } else if (type === 'gauge' || type === 'counter') {
      const points = numbers.get(f.family) ?? [];
      numbers.set(f.family, points);
      points.push({ attributes: attributes(labels), ...time, asDouble: value });
    }
  }
  const metrics: OtlpMetric[] = [];
  for (const [family, dataPoints] of numbers) {
    if (types.get(family) === 'gauge') metrics.push({ name: family, gauge: { dataPoints } });
    else metrics.push({ name: family.replace(/_total$/, ''), sum: { dataPoints, aggregationTemporality: CUMULATIVE, isMonotonic: true } });
  }
  for (const [family, series] of histograms) {
    const dataPoints = [...series.values()].map((p): HistogramDataPoint => {
      const sorted = [...p.buckets].sort((a, b) => a[0] - b[0]);
      const finite = sorted.filter(([le]) => Number.isFinite(le));
      // Exposition buckets are cumulative; OTLP's are per bucket, with the +Inf bucket last.
      const cumulative = [...finite.map(([, c]) => c), p.count];
      const bucketCounts = cumulative.map((c, i) => String(Math.max(0, Math.round(c - (i ? cumulative[i - 1] : 0)))));
      return { attributes: attributes(p.labels), ...time, count: String(Math.round(p.count)), sum: p.sum, bucketCounts, explicitBounds: finite.map(([le]) => le) };
    });
    metrics.push({ name: family, histogram: { dataPoints, aggregationTemporality: CUMULATIVE } });
  }
  return { resourceMetrics: [{ resource: { attributes: attributes(resource) }, scopeMetrics: [{ scope: { name: scope }, metrics }] }] };
}

/** POSTs one export request as OTLP/JSON; throws with Prometheus' answer when it is refused. */
export async function pushOtlp(url: string, request: ExportMetricsServiceRequest, signal?: AbortSignal): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request), signal });
  if (!res.ok) throw new Error(`OTLP push to ${url} answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
}
