"""Shared by the multi-node drivers (drivers/<engine>_multinode.py, run by `record.py --multinode`).

A multi-node recording is one directory per mode under <out>/multinode/<mode>/:

  layout.json                       the pods of one group (LeaderWorkerSet: pod index = LWS_WORKER_INDEX),
                                    each pod's command line, which ports serve /metrics (and with which
                                    rank label values), which serve only health, where the code says so
  pod<I>-port<P>.prom               the /metrics body of pod I on port P after the fed interval
  pod<I>-port<P>.before.prom        the same at the start of the interval
  stats.json                        the workload fed in (per data-parallel rank, as in the single-node stats.json)

and, for the engine, <out>/multinode/provenance.json and <out>/multinode/rules.json: the engine's own
checks of these layouts, each with the file:line of the installed package where it is made (found by a
distinctive piece of its source, so a release that moves or drops a check fails the recording).
"""
import json
import os
import re

import common

# The workload of up to four data-parallel ranks: ranks 0 and 1 are the single-node recordings' own
# (common.workload()), ranks 2 and 3 differ from them and from each other in every figure, so a query
# that drops or double counts a pod's ranks gives a different number.
_EXTRA_RANKS = [
    {'rank': 2,
     'before': {'running': 2, 'waiting': 1, 'kv_cache_usage': 0.2, 'prefix_cache_hit_rate': 0.2, 'requests': common._requests(5, 50, 60, 0.4, 0.05, 0.6)},
     'after': {'running': 9, 'waiting': 4, 'kv_cache_usage': 0.55, 'prefix_cache_hit_rate': 0.3, 'requests': common._requests(25, 50, 60, 0.4, 0.05, 0.6)}},
    {'rank': 3,
     'before': {'running': 1, 'waiting': 1, 'kv_cache_usage': 0.15, 'prefix_cache_hit_rate': 0.15, 'requests': common._requests(5, 20, 60, 0.9, 0.07, 1.5)},
     'after': {'running': 4, 'waiting': 1, 'kv_cache_usage': 0.33, 'prefix_cache_hit_rate': 0.4, 'requests': common._requests(15, 20, 60, 0.9, 0.07, 1.5)}},
]


def workload(n):
    """The fed stats for n data-parallel ranks (1 <= n <= 4), in the single-node stats.json format."""
    w = common.workload()
    w['ranks'] = (w['ranks'] + [json.loads(json.dumps(r)) for r in _EXTRA_RANKS])[:n]
    return w


def samples(text):
    """(name, labels) of every sample of an exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = common.SAMPLE.match(line)
        if m:
            out.append((m.group(1), dict(common.LABEL.findall(m.group(3) or '')), float(m.group(4))))
    return out


def label_values(text, labels, prefix):
    """Per label name in `labels`: the sorted values found on the engine's series (names starting with `prefix`)."""
    found = {k: set() for k in labels}
    for name, lab, _ in samples(text):
        if not name.startswith(prefix):
            continue
        for k in labels:
            if k in lab:
                found[k].add(lab[k])
    return {k: sorted(v, key=lambda x: (len(x), x)) for k, v in found.items()}


class Source:
    """A place in the installed package, found by a distinctive piece of its text."""

    def __init__(self, site):
        self.site = site
        self._cache = {}

    def lines(self, rel):
        if rel not in self._cache:
            with open(os.path.join(self.site, rel)) as f:
                self._cache[rel] = f.read().splitlines()
        return self._cache[rel]

    def find(self, rel, anchor, after=None):
        """`rel:line` of the first line containing `anchor` (after the first line containing `after`, if given)."""
        lines = self.lines(rel)
        start = 0
        if after is not None:
            start = next((i for i, l in enumerate(lines) if after in l), None)
            if start is None:
                raise SystemExit(f'{rel}: no line contains {after!r}')
        for i in range(start, len(lines)):
            if anchor in lines[i]:
                return f'{rel}:{i + 1}', lines[i].strip()
        raise SystemExit(f'{rel}: no line contains {anchor!r}' + (f' after {after!r}' if after else ''))

    def ref(self, rel, anchor, after=None):
        return self.find(rel, anchor, after)[0]


# Rule expressions: integers, quoted strings, names of layout parameters, + - * / %, comparisons and
# and/or/not; evaluated the same way by this tool and by test/engine-multinode-recordings.test.ts.
_EXPR = re.compile(r"^(?:\s|\d+|'[a-z_]*'|[a-z_][a-z0-9_]*|==|!=|<=|>=|<|>|\(|\)|[-+*/%])*$")


def evaluate(expr, params):
    if not _EXPR.match(expr):
        raise SystemExit(f'rule expression outside the shared subset: {expr}')
    names = set(re.findall(r"(?<!')\b[a-z_][a-z0-9_]*\b(?!')", expr)) - {'and', 'or', 'not'}
    missing = names - set(params)
    if missing:
        raise SystemExit(f'rule {expr!r} reads parameters the layout does not set: {sorted(missing)}')
    return bool(eval(expr, {'__builtins__': {}}, dict(params)))  # noqa: S307 (the tool's own rules)


def pod_params(layout, pod):
    return {**layout['params'], **pod.get('params', {})}


def check_rules(rules, layout, program):
    """Every pod running `program` has parameters that satisfy every rule that applies (`when`), as the engine checks them."""
    for pod in layout['pods']:
        if pod.get('program') != program:
            continue
        params = pod_params(layout, pod)
        for r in rules:
            if evaluate(r['when'], params) and not evaluate(r['require'], params):
                raise SystemExit(f"{layout['mode']} pod {pod['index']}: the engine refuses it: {r['id']} ({r['require']}; {r['source']})")


def write_mode(out_dir, mode, files, layout, stats):
    d = os.path.join(out_dir, mode)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for name, text in files.items():
        with open(os.path.join(d, name), 'w') as f:
            f.write(text)
    for name, doc in (('layout.json', layout), ('stats.json', stats)):
        with open(os.path.join(d, name), 'w') as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write('\n')


def write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write('\n')


def arg_parser():
    ap = common.arg_parser()
    ap.add_argument('--cli-catalog', required=True, help="the release's command-line catalog (test/fixtures/engine-cli/<engine>-<version>.json)")
    return ap


class Catalog:
    """The release's recorded command-line catalog: option defaults and flag -> dest, to read a mode's command line
    the way the release's argparse parser would (every flag of the modes is spelled in full or as the release's
    own unique prefix; the stand-in's parser, tools/images/standin/cli.go, is what refuses anything else)."""

    def __init__(self, path, program):
        with open(path) as f:
            doc = json.load(f)
        self.program = doc['programs'][program]
        self.routes = doc['routes']

    def option(self, flag):
        exact = [o for o in self.program['options'] if flag in o['flags']]
        if exact:
            return exact[0]
        pref = [o for o in self.program['options'] if any(f.startswith(flag) for f in o['flags'] if f.startswith('--'))]
        if len(pref) == 1 and self.program.get('allowAbbrev'):
            return pref[0]
        raise SystemExit(f'{flag}: not an option of {self.program["argv"]} in the recorded catalog')

    def parse(self, argv):
        """argv after the program's words: a namespace dest -> value (catalog defaults for what is not given)."""
        import types
        ns = {o['dest']: o.get('default') for o in self.program['options']}
        i, positional = 0, []
        while i < len(argv):
            tok = argv[i]
            if not tok.startswith('--'):
                positional.append(tok)
                i += 1
                continue
            name, _, inline = tok.partition('=')
            o = self.option(name)
            if o['nargs'] == 0:
                ns[o['dest']] = not o['action'].startswith('storefalse')
                i += 1
                continue
            value = inline if inline else argv[i + 1]
            i += 1 if inline else 2
            ns[o['dest']] = int(value) if o['type'] == 'int' else value
        ns['_positional'] = positional
        return types.SimpleNamespace(**ns)


def processes(workers, phases, scrape=None):
    """The processes of one pod, each alive for the whole interval (a pid-labelled gauge then has one series per
    process, as in the engine): worker(phase) runs in its own forked process for every phase in turn; once every
    process has done a phase, scrape(phase) runs here (the /metrics request). Returns per phase the scrape and the
    workers' return values (JSON)."""
    import tempfile
    import traceback
    kids = []
    for w in workers:
        done_r, done_w = os.pipe()
        go_r, go_w = os.pipe()
        fd, path = tempfile.mkstemp(prefix='mn-proc-')
        os.close(fd)
        pid = os.fork()
        if pid == 0:
            os.close(done_r)
            os.close(go_w)
            try:
                results = {}
                for ph in phases:
                    results[ph] = w(ph)
                    with open(path, 'w') as f:
                        json.dump(results, f)
                    os.write(done_w, b'1')
                    if os.read(go_r, 1) != b'1':
                        os._exit(1)
                os._exit(0)
            except BaseException:
                traceback.print_exc()
                os.write(done_w, b'0')
                os._exit(1)
        os.close(done_w)
        os.close(go_r)
        kids.append((pid, done_r, go_w, path))
    out = {}
    try:
        for ph in phases:
            for _, r, _, _ in kids:
                if os.read(r, 1) != b'1':
                    raise SystemExit('a process of the pod failed')
            results = []
            for _, _, _, path in kids:
                with open(path) as f:
                    results.append(json.load(f)[ph])
            out[ph] = {'scrape': scrape(ph) if scrape else None, 'results': results}
            for _, _, w, _ in kids:
                os.write(w, b'1')
    finally:
        for pid, r, w, path in kids:
            os.close(r)
            os.close(w)
            _, status = os.waitpid(pid, 0)
            os.remove(path)
            if status != 0:
                raise SystemExit(f'process {pid} of the pod exited with {status}')
    return out


def multiproc_scrape(d):
    """A MultiProcessCollector merge of the directory d (what the engines' /metrics handlers return in multiprocess mode)."""
    import prometheus_client
    from prometheus_client import multiprocess
    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=d)
    return prometheus_client.generate_latest(registry).decode('utf-8')


def use_multiproc_dir(d):
    """In a forked process: prometheus_client in multiprocess mode over d (as if the variable had been set before its import)."""
    from prometheus_client import values
    os.environ['PROMETHEUS_MULTIPROC_DIR'] = d
    values.ValueClass = values.get_value_class()
