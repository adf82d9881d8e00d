// Pushes OTLP metrics to a URL with the OpenTelemetry JS SDK, in its own Node
// process (the SDK's protobuf export does not survive jest's module sandbox).
// usage: node otlp-push.js <otlp metrics url>  < {"resource": {...}, "instruments": [{kind, name, unit, value}]}
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const exporter = new OTLPMetricExporter({ url: process.argv[2] });
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60000 });
  const provider = new MeterProvider({ resource: resourceFromAttributes(input.resource), readers: [reader] });
  const meter = provider.getMeter(input.meter || 'test');
  for (const i of input.instruments) {
    if (i.kind === 'histogram') meter.createHistogram(i.name, { unit: i.unit }).record(i.value);
    else if (i.kind === 'counter') meter.createCounter(i.name, { unit: i.unit }).add(i.value);
    else if (i.kind === 'gauge') meter.createGauge(i.name, { unit: i.unit }).record(i.value);
    else throw new Error(`unknown kind ${i.kind}`);
  }
  await reader.forceFlush();
  await provider.shutdown();
}
main().catch((e) => { console.error(e); process.exit(1); });
