"""transformers: the continuous-batching instruments of transformers/utils/metrics.py
(ContinuousBatchProcessorMetrics), run with the OpenTelemetry SDK (an in-memory reader in
place of the OTLP exporter that `opentelemetry-instrument` installs).

No /metrics: transformers pushes OTLP, and Prometheus' OTLP receiver names the series
(UnderscoreEscapingWithSuffixes: the unit is appended unless the name already has it as a
word, monotonic sums get `_total`). The catalog lists those names, translated here by that
rule (tools/engine-metrics/drivers/transformers.py prometheus_name), with the instrument kind,
unit and bucket bounds the SDK reports.

Not run: a real `transformers serve` generation. PyPI's torch wheels need the CUDA runtime
packages (several GB); the CPU-only wheels are not on PyPI. record_batch_metrics is fed states
whose status is metrics.RequestStatus, the class it compares with; in a real run the states
carry transformers.generation's own RequestStatus, so prefill/decode counters and the
decode/prefill ratio are never recorded (the defect the issue describes).
From 5.9.0 the module does not exist: the driver says so and records nothing.
"""
import json
import os
import sys
import time
import types

import stubimport
import common

args = common.arg_parser().parse_args()
path = os.path.join(args.site, 'transformers', 'utils', 'metrics.py')
if not os.path.exists(path):
    raise SystemExit(f'transformers {args.version} has no transformers/utils/metrics.py: it exports no metrics')
REAL = ['transformers.utils.metrics']
stubimport.install(REAL, ['transformers', 'torch'], args.site)
stubimport.override('transformers.utils.import_utils', is_opentelemetry_available=lambda: True)

from opentelemetry import metrics as otel_metrics  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402

reader = InMemoryMetricReader()
otel_metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
from transformers.utils import metrics  # noqa: E402

MAX_BATCH_TOKENS = 256
m = metrics.ContinuousBatchProcessorMetrics(MAX_BATCH_TOKENS)
work = {'max_batch_tokens': MAX_BATCH_TOKENS, 'queue': {'active': 3, 'waiting': 2}, 'requests': 4, 'batches': []}
m.record_queue_metrics(work['queue']['active'], work['queue']['waiting'])
for i in range(work['requests']):
    m.record_ttft_metric(time.time() - 0.12, f'r{i}')
    m.record_request_completion(time.time() - 1.5, f'r{i}')


def State(status, prompt):
    # 4.57 passes request states, 5.x future states with a `.state`: one object serves both.
    s = types.SimpleNamespace(status=status, prompt_ids=list(range(prompt)))
    s.state = s
    return s


# First a batch as `transformers serve` passes it: its states carry transformers.generation's own
# RequestStatus (an IntEnum, executed here from the release's requests.py), not metrics.RequestStatus.
requests_py = os.path.join(args.site, 'transformers', 'generation', 'continuous_batching', 'requests.py')
if os.path.exists(requests_py):
    import enum
    ServeStatus = stubimport.definition_from_source(requests_py, 'RequestStatus', {'IntEnum': enum.IntEnum, 'Enum': enum.Enum, 'auto': enum.auto})

    def points():
        out = {}
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    p = list(metric.data.data_points)
                    out[metric.name] = [getattr(x, 'value', None) if hasattr(x, 'value') else {'count': x.count, 'sum': x.sum} for x in p]
        return out
    seen = points()
    m.record_batch_metrics([State(ServeStatus.DECODING, 10), State(ServeStatus.DECODING, 10), State(ServeStatus.PREFILLING, 40)])
    after_serve = points()
    work['serve_status_batch'] = {
        'fed': {'decoding': 2, 'prefilling_prompt_tokens': [40]},
        'instruments_with_data_after': sorted(k for k in after_serve if after_serve[k] != seen.get(k)),
        'batch_fill_percentage': after_serve.get('batch_fill_percentage'),
        'note': 'fed with transformers.generation RequestStatus as transformers serve does: prefill/decode counters and the ratio record nothing, batch fill records 0',
    }
batch = [State(metrics.RequestStatus.DECODING, 10), State(metrics.RequestStatus.DECODING, 10), State(metrics.RequestStatus.PREFILLING, 40)]
work['batches'].append({'decoding': 2, 'prefilling_prompt_tokens': [40]})
m.record_batch_metrics(batch)
cache = types.SimpleNamespace(head_dim=64, num_key_value_heads=4, dtype=types.SimpleNamespace(itemsize=2), key_cache=[0] * 2, block_size=32,
                              num_blocks=100, get_num_free_blocks=lambda: 60)
work['kv_cache'] = {'num_blocks': 100, 'free_blocks': 60, 'block_bytes': 2 * 2 * 32 * 64 * 4 * 2}
m.record_kv_cache_memory_metrics(cache)

UNITS = {'ms': 'milliseconds', 's': 'seconds', 'By': 'bytes', '%': 'percent', '1': ''}


def prometheus_name(name, unit, monotonic_sum):
    """Prometheus' OTLP translation (UnderscoreEscapingWithSuffixes) of an instrument name."""
    words = name.split('_')
    suffix = UNITS.get(unit, unit)
    out = name if not suffix or suffix in words else f'{name}_{suffix}'
    return out + ('_total' if monotonic_sum else '')


data = reader.get_metrics_data()
instruments, catalog = [], []
for rm in data.resource_metrics:
    for sm in rm.scope_metrics:
        for metric in sm.metrics:
            kind = type(metric.data).__name__
            points = list(metric.data.data_points)
            entry = {'otel_name': metric.name, 'unit': metric.unit, 'kind': kind, 'scope': sm.scope.name,
                     'points': [{'attributes': dict(p.attributes or {}), **({'value': p.value} if hasattr(p, 'value') else {'count': p.count, 'sum': p.sum, 'bounds': list(p.explicit_bounds)})} for p in points]}
            instruments.append(entry)
            monotonic = kind == 'Sum' and getattr(metric.data, 'is_monotonic', False)
            prom_type = 'histogram' if kind == 'Histogram' else 'counter' if monotonic else 'gauge'
            item = {'name': prometheus_name(metric.name, metric.unit, monotonic), 'type': prom_type, 'labels': sorted({k for p in points for k in (p.attributes or {})})}
            if kind == 'Histogram':
                item['buckets'] = [float(b) for b in points[0].explicit_bounds]
            catalog.append(item)

declared = []
import ast  # noqa: E402
with open(path) as f:
    for node in ast.walk(ast.parse(f.read())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith('create_'):
            kw = {k.arg: k.value for k in node.keywords}
            if 'name' in kw and isinstance(kw['name'], ast.Constant):
                declared.append({'otel_name': kw['name'].value, 'instrument': node.func.attr[len('create_'):]})
recorded = {i['otel_name'] for i in instruments}
work['never_recorded_here'] = sorted(d['otel_name'] for d in declared if d['otel_name'] not in recorded)

os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, 'catalog.json'), 'w') as f:
    json.dump(sorted(catalog, key=lambda x: x['name']), f, indent=1)
    f.write('\n')
with open(os.path.join(args.out, 'otel-instruments.json'), 'w') as f:
    json.dump({'declared': declared, 'recorded': instruments}, f, indent=1, sort_keys=True)
    f.write('\n')
with open(os.path.join(args.out, 'stats.json'), 'w') as f:
    json.dump(work, f, indent=1, sort_keys=True)
    f.write('\n')
with open(os.path.join(args.out, 'provenance.json'), 'w') as f:
    from importlib.metadata import version as v
    json.dump({'engine': 'transformers', 'version': args.version, 'tool': 'tools/engine-metrics/record.py',
               'method': 'imported transformers.utils.metrics.ContinuousBatchProcessorMetrics and fed it through the OpenTelemetry SDK (in-memory reader); Prometheus names by the OTLP receiver\'s translation rule',
               'opentelemetry_sdk': v('opentelemetry-sdk'), 'python': sys.version.split()[0], 'real_modules': REAL,
               'stubbed_imports': stubimport.stubbed(), 'notes': [f'overridden in stubs: {k}: {", ".join(a)}' for k, a in stubimport.OVERRIDDEN.items()] + [
                   'no generation was run: torch from PyPI needs the CUDA runtime wheels (GBs); CPU-only wheels are not on PyPI',
                   'record_batch_metrics was fed states with metrics.RequestStatus; in transformers serve the states carry transformers.generation RequestStatus and the prefill/decode counters and decode/prefill ratio never record']},
              f, indent=1, sort_keys=True)
    f.write('\n')

# Timing as `transformers serve` records it: the continuous-batching loop passes each request's
# state.created_time (the default factory of RequestState.created_time in the release's requests.py)
# to record_ttft_metric / record_request_completion, which subtract it from time.time(). Observed
# after the recording above is written, so it does not change it: one TTFT and one completion
# 0.12 s / 1.5 s after a creation time taken from the release's own factory.
if os.path.exists(requests_py):
    factory = None
    with open(requests_py) as f:
        for cls in (n for n in ast.parse(f.read()).body if isinstance(n, ast.ClassDef) and n.name == 'RequestState'):
            for stmt in cls.body:
                if isinstance(stmt, ast.AnnAssign) and getattr(stmt.target, 'id', None) == 'created_time' and isinstance(stmt.value, ast.Call):
                    for kw in stmt.value.keywords:
                        if kw.arg == 'default_factory':
                            factory = ast.unparse(kw.value)
    clocks = {'time.time': time.time, 'time.perf_counter': time.perf_counter}

    def sums():
        return {mt.name: p.sum for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                for mt in sm.metrics for p in mt.data.data_points if hasattr(p, 'sum')}
    before = sums()
    created = clocks[factory]() - 0.12
    m.record_ttft_metric(created, 'serve-timing')
    m.record_request_completion(created - 1.38, 'serve-timing')
    after = sums()
    timing = {'created_time_default_factory': factory, 'true_ttft_ms': 120.0, 'true_latency_ms': 1500.0,
              'recorded_ttft_ms': after['ttft_milliseconds'] - before.get('ttft_milliseconds', 0.0),
              'recorded_latency_ms': after['request_latency_milliseconds'] - before.get('request_latency_milliseconds', 0.0),
              'source': 'generation/continuous_batching/requests.py RequestState.created_time; utils/metrics.py record_ttft_metric, record_request_completion'}
    with open(os.path.join(args.out, 'serve-timing.json'), 'w') as f:
        json.dump(timing, f, indent=1, sort_keys=True)
        f.write('\n')
print(f'transformers {args.version}: {len(catalog)} instruments in {args.out}; stubbed: {", ".join(stubimport.stubbed())}')
