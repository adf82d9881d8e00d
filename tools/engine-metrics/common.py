"""Shared by the drivers: the exposition as prometheus_client serves it, the catalog, the stats file, the provenance."""
import json
import os
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def exposition(registry=None):
    """What the engine's `/metrics` handler returns: prometheus_client's text format of the registry."""
    import prometheus_client
    return prometheus_client.generate_latest(registry or prometheus_client.REGISTRY).decode('utf-8')


def catalog_from_text(texts):
    """name (as Prometheus stores it), type, label names, bucket bounds, from one or more expositions."""
    out = {}
    for text in texts:
        types = {}
        for line in text.splitlines():
            if line.startswith('# TYPE '):
                _, _, name, kind = line.split(None, 3)
                types[name] = kind.strip()
                continue
            if not line or line.startswith('#'):
                continue
            m = SAMPLE.match(line)
            if not m:
                continue
            sample, labels = m.group(1), dict(LABEL.findall(m.group(3) or ''))
            family, kind = sample, types.get(sample)
            for suffix in ('_bucket', '_sum', '_count', '_total', '_created', '_info'):
                if kind is None and sample.endswith(suffix) and sample[: -len(suffix)] in types:
                    family, kind = sample[: -len(suffix)], types[sample[: -len(suffix)]]
            if kind is None or sample.endswith('_created'):
                continue
            stored = sample if kind in ('counter', 'gauge', 'untyped', 'info', 'unknown') else family
            entry = out.setdefault(stored, {'name': stored, 'type': kind, 'labels': set(), 'buckets': set()})
            for k, v in labels.items():
                if kind == 'histogram' and k == 'le':
                    if v != '+Inf':
                        entry['buckets'].add(float(v))
                else:
                    entry['labels'].add(k)
    result = []
    for name in sorted(out):
        e = out[name]
        item = {'name': name, 'type': e['type'], 'labels': sorted(e['labels'])}
        if e['type'] == 'histogram':
            item['buckets'] = sorted(e['buckets'])
        result.append(item)
    return result


def write_outputs(out_dir, files, stats, provenance):
    """`files`: {'vllm.prom': text, 'vllm.before.prom': text, ...}; the catalog is taken from the files served last."""
    os.makedirs(out_dir, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(out_dir, name), 'w') as f:
            f.write(text)
    served = [t for n, t in sorted(files.items()) if not n.endswith('.before.prom')]
    with open(os.path.join(out_dir, 'catalog.json'), 'w') as f:
        json.dump(catalog_from_text(served), f, indent=1)
        f.write('\n')
    with open(os.path.join(out_dir, 'stats.json'), 'w') as f:
        json.dump(stats, f, indent=1, sort_keys=True)
        f.write('\n')
    with open(os.path.join(out_dir, 'provenance.json'), 'w') as f:
        json.dump(provenance, f, indent=1, sort_keys=True)
        f.write('\n')


def provenance(engine, version, method, real_modules, stubbed, notes=()):
    import prometheus_client  # noqa: F401
    from importlib.metadata import version as pkg_version
    return {
        'engine': engine,
        'version': version,
        'method': method,
        'python': sys.version.split()[0],
        'prometheus_client': pkg_version('prometheus_client'),
        'real_modules': sorted(real_modules),
        'stubbed_imports': stubbed,
        'notes': list(notes),
        'tool': 'tools/engine-metrics/record.py',
    }


# The synthetic workload every driver feeds: per data-parallel rank, the scheduler gauges at the
# end and the requests finished before the interval (warm-up) and during it. Rank 0 and rank 1
# differ in every figure so a query that drops or double counts a rank gives a different number.
INTERVAL_SECONDS = 60


def _requests(n, prompt, gen, ttft, itl, queue, reason='stop'):
    return [{'prompt_tokens': prompt, 'generation_tokens': gen, 'ttft': ttft, 'itl': itl, 'queue_time': queue,
             'e2e': round(ttft + itl * (gen - 1), 6), 'finish_reason': reason} for _ in range(n)]


def workload():
    return {
        'interval_seconds': INTERVAL_SECONDS,
        'ranks': [
            {'rank': 0,
             'before': {'running': 1, 'waiting': 0, 'kv_cache_usage': 0.1, 'prefix_cache_hit_rate': 0.1, 'requests': _requests(5, 40, 60, 0.3, 0.04, 0.5)},
             'after': {'running': 7, 'waiting': 3, 'kv_cache_usage': 0.42, 'prefix_cache_hit_rate': 0.25, 'requests': _requests(30, 40, 60, 0.3, 0.04, 0.5)}},
            {'rank': 1,
             'before': {'running': 1, 'waiting': 0, 'kv_cache_usage': 0.1, 'prefix_cache_hit_rate': 0.1, 'requests': _requests(5, 30, 60, 0.7, 0.06, 1.2)},
             'after': {'running': 5, 'waiting': 2, 'kv_cache_usage': 0.61, 'prefix_cache_hit_rate': 0.5, 'requests': _requests(20, 30, 60, 0.7, 0.06, 1.2)}},
        ],
    }


def arg_parser():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--version', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--site', required=True)
    return ap
