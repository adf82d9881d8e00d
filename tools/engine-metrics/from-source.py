#!/usr/bin/env python3
"""Catalog of metrics from an engine's released source, for engines that cannot be run here.

    python3 tools/engine-metrics/from-source.py --engine tgi --git-dir <clone of huggingface/text-generation-inference> --tag v3.3.6 --out test/fixtures/engines/tgi-3.3.6/

TGI (Rust; not on PyPI, its router needs the Rust toolchain and its Python server torch/CUDA):
every `metrics::counter!/gauge!/histogram!("name", "label" => ...)` call in the tag's tree, with
the names metrics-exporter-prometheus serves (no `_total` added), their label keys, and the
duration histograms' bucket bounds computed as router/src/server.rs computes them
(`value = <start>; n times: value *= <factor>; push`). Writes catalog.json and provenance.json.
"""
import argparse
import json
import os
import re
import subprocess

MACRO = re.compile(r'metrics::(counter|gauge|histogram)!\(\s*"([a-z_:0-9]+)"((?:\s*,\s*"[a-z_]+"\s*=>\s*[^,)]+)*)')
LABEL = re.compile(r'"([a-z_]+)"\s*=>')


def git(d, *a):
    return subprocess.check_output(['git', '--git-dir', d, *a], text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--engine', required=True, choices=['tgi'])
    ap.add_argument('--git-dir', required=True)
    ap.add_argument('--tag', required=True)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    commit = git(a.git_dir, 'rev-list', '-n1', a.tag).strip()
    files = [f for f in git(a.git_dir, 'ls-tree', '-r', '--name-only', a.tag).split('\n') if f.endswith('.rs') and (f.startswith('router/') or f.startswith('backends/v3/'))]
    found = {}
    for f in files:
        text = git(a.git_dir, 'show', f'{a.tag}:{f}')
        for m in MACRO.finditer(text):
            kind, name, labels = m.group(1), m.group(2), LABEL.findall(m.group(3) or '')
            e = found.setdefault(name, {'name': name, 'type': kind, 'labels': set(), 'sources': set()})
            e['labels'].update(labels)
            e['sources'].add(f)
    server = git(a.git_dir, 'show', f'{a.tag}:router/src/server.rs')
    n = int(re.search(r'let n_duration_buckets = (\d+);', server).group(1))
    start = float(re.search(r'let mut value = ([0-9.e-]+);', server).group(1))
    factor = float(re.search(r'value \*= ([0-9.]+);', server).group(1))
    suffix = re.search(r'let duration_matcher = Matcher::Suffix\(String::from\("([a-z_]+)"\)\)', server).group(1)
    buckets, value = [], start
    for _ in range(n):
        value *= factor
        buckets.append(value)
    catalog = []
    for name in sorted(found):
        e = found[name]
        item = {'name': name, 'type': e['type'], 'labels': sorted(e['labels']), 'sources': sorted(e['sources'])}
        if e['type'] == 'histogram' and name.endswith(suffix):
            item['buckets'] = buckets
        catalog.append(item)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, 'catalog.json'), 'w') as f:
        json.dump(catalog, f, indent=1)
        f.write('\n')
    with open(os.path.join(a.out, 'provenance.json'), 'w') as f:
        json.dump({'engine': a.engine, 'version': a.tag.lstrip('v'), 'method': 'read from source (not run)', 'repository': 'huggingface/text-generation-inference',
                   'tag': a.tag, 'commit': commit, 'tool': 'tools/engine-metrics/from-source.py',
                   'notes': ['metric names from metrics::counter!/gauge!/histogram! calls under router/ and backends/v3/',
                             f'histograms whose name ends in "{suffix}": {n} bounds, {start} x {factor}^k (router/src/server.rs); other histograms depend on --max-input-tokens/--max-total-tokens',
                             'counters and histograms are registered at their first increment/record: absent on a fresh server (e.g. tgi_request_failure until a request fails)',
                             'not built or run: the router needs the Rust toolchain and the launcher a Python server with torch/CUDA']}, f, indent=1, sort_keys=True)
        f.write('\n')
    print(f'{a.engine} {a.tag}: {len(catalog)} metrics from {len(files)} files at {commit[:12]}')


if __name__ == '__main__':
    main()
