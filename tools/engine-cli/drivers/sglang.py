# package: sglang
# requires: msgspec packaging prometheus_client dill
"""SGLang: the parser of `python3 -m sglang.launch_server` and the HTTP routes a probe or a scraper uses.

Real: every module of the installed `sglang` release except `sglang/__init__.py` (the frontend
language package, which `python -m sglang.launch_server` runs but which adds nothing to the
parser), and the light libraries of the `# requires:` line (msgspec, packaging, dill — a config
module serialises a logit processor with it at import —, prometheus_client). So
`sglang.srt.server_args` (and, from 0.5.1x, `sglang.srt.arg_groups`) run their own code:
`prepare_server_args(argv)` builds the parser as the launcher does (`argparse.ArgumentParser()`,
from 0.5.10 `ArgumentParser(prog="sglang serve")`, `ServerArgs.add_cli_args`, the config-file
check); the driver intercepts its one `parse_args` call, keeps the parser, and stops before
`ServerArgs.from_cli_args` (which would resolve the model, probe GPUs, ...). `sys.argv[0]` is the
release's `sglang/launch_server.py`, as `python3 -m` sets it, so a parser without an explicit prog
says `launch_server.py` as it would. (0.5.2x's launch_server runs `load_plugins()` first; with no
plugin installed it adds nothing.) SGLANG_*/SGL_* environment variables are cleared first.

Stubbed (stubimport.py, listed in provenance.stubbedImports): torch, triton and every other module
the release imports that is not installed here (GPU kernels, transformers, fastapi, pydantic —
with the OpenAI types stubbed it cannot build its schemas —, numpy, zmq, ...). The stubs are
stubimport's, made to survive module-level arithmetic/comparisons and `class X(nn.Module, ABC)`
(see _richer_stubs). torch is given the facts of a CPU-only CUDA build (`torch.version.cuda/hip`
None, `torch.cuda.is_available()` False, no torch.npu/hpu, `torch.__version__` the release's
pin, torch.library.Library without the C++ library), so module-level platform probes answer as on
a host without GPUs. Checks that nothing stubbed reached the parser: a Stub in a default, choice or
type fails the run, and every default is compared with the literal ServerArgs field default in the
source (provenance.notes lists the few that add_cli_args sets differently).

Self-check: the REAL parser's `parse_args` on the command line our profile generates; the outcome
(accepted with the parsed values, or argparse's exact stderr, error line and exit status) goes to
provenance.selfCheck.

Routes: read (not run) with `ast` from the release's sglang/srt/entrypoints/http_server.py
(sglang/srt/server.py in 0.4.0); /metrics is the Mount that add_prometheus_middleware
(sglang/srt/utils*) appends when --enable-metrics is given. The notes on /health and /ready are
composed from facts checked in that source (handler shared with /health_generate,
HEALTH_CHECK_TIMEOUT, the Starting status, the env switch, the scheduler's shortcut for health
requests, TokenizerManager.is_ready), so a release whose code differs fails here instead of
getting a wrong note.
"""
import abc
import argparse
import ast
import contextlib
import glob
import io
import os
import re
import sys
import types

import catalog
import probes
import common  # noqa: E402
import stubimport

# This file's folder is sys.path[0]; its siblings (drivers/transformers.py, drivers/vllm.py, this sglang.py) would
# shadow the packages of the same names that the release imports.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

args = common.arg_parser().parse_args()  # --version, --out, --site (tools/engine-metrics/common.py)
SITE = args.site
# The parser reads envs.SGLANG_* defaults (e.g. --sampling-backend choices); record the release's own defaults.
CLEARED = sorted(k for k in os.environ if k.startswith(('SGLANG_', 'SGL_')))
for k in CLEARED:
    del os.environ[k]
PKG = os.path.join(SITE, 'sglang')
SRT = os.path.join(PKG, 'srt')

SELF_CHECK_ARGV = ['--model-path', 'Qwen/Qwen2.5-7B-Instruct', '--host', '0.0.0.0', '--port', '30000', '--tp-size', '2',
                   '--dp-size', '2', '--enable-metrics', '--enable-trace', '--otlp-traces-endpoint', 'tempo:4317']


def release_modules():
    """Every module name of the installed sglang package (loaded for real when imported), without `sglang` itself."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(PKG):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        rel = os.path.relpath(dirpath, SITE).split(os.sep)
        for f in filenames:
            if f == '__init__.py':
                out.add('.'.join(rel))
            elif f.endswith('.py'):
                out.add('.'.join(rel + [f[:-3]]))
    out.discard('sglang')
    return out


def torch_pin():
    """The torch version the release's wheel pins (Requires-Dist: torch==X), if any."""
    for meta in glob.glob(os.path.join(SITE, f'sglang-{args.version}.dist-info', 'METADATA')):
        m = re.search(r'^Requires-Dist: torch==([0-9.]+)', open(meta).read(), re.M)
        if m:
            return m.group(1)
    return None


TORCH_VERSION = torch_pin()


def _richer_stubs():
    """Stubs that also survive module-level arithmetic and comparisons on torch values
    (`FP8_E4M3_MIN = -torch.finfo(...).max`, `x < torch.float16.itemsize`, ...): each operation gives the stub back,
    comparisons give False. Installed by replacing stubimport's class factory for this run only."""
    def same(self, *a):
        return self

    def false(self, *a):
        return False

    ops = {n: same for n in ('__neg__', '__pos__', '__abs__', '__invert__', '__add__', '__radd__', '__sub__', '__rsub__',
                             '__mul__', '__rmul__', '__truediv__', '__rtruediv__', '__floordiv__', '__rfloordiv__',
                             '__mod__', '__rmod__', '__pow__', '__rpow__', '__and__', '__rand__', '__xor__', '__rxor__',
                             '__lshift__', '__rshift__', '__matmul__')}
    ops.update({n: false for n in ('__lt__', '__le__', '__gt__', '__ge__')})
    ops.update(__int__=lambda self: 0, __index__=lambda self: 0, __float__=lambda self: 0.0, __len__=lambda self: 0,
               __hash__=lambda self: id(self), __eq__=lambda self, o: self is o, __ne__=lambda self, o: self is not o,
               __contains__=false)
    # ABCMeta too: the release subclasses stubbed bases together with ABC (`class BaseFusedOp(nn.Module, ABC)`).
    # ABCMeta.register would shadow a stubbed class's own `register` (transformers' AutoConfig.register(name, cls)).
    Meta = type('_RichStubMeta', (stubimport._StubMeta, abc.ABCMeta), dict(ops, register=lambda cls, *a, **k: a[-1] if a else cls))
    Base = Meta('Stub', (stubimport.Stub,), dict(ops, __module__='stub'))

    def make(name):
        return Meta(name.rsplit('.', 1)[-1], (Base,), {'__module__': 'stub'})
    stubimport._make = make


_richer_stubs()
stubimport.install(release_modules(), ['sglang', 'torch', 'triton', 'torchvision', 'torchaudio'], SITE)
# A CPU-only torch: module-level probes (is_cuda(), is_hip(), ...) answer as on a host without GPUs.
import torch  # noqa: E402  (the stub)
stubimport.override('torch', __version__=TORCH_VERSION or '2.5.1',
                    version=types.SimpleNamespace(cuda=None, hip=None, git_version='stub', __version__=TORCH_VERSION or '2.5.1'))
stubimport.override('torch.cuda', is_available=lambda: False, device_count=lambda: 0)


class _CpuTorch(stubimport.StubModule):
    """What a CUDA build of torch on Linux lacks: the out-of-tree device modules (hasattr(torch, 'npu') is False)."""
    ABSENT = {'npu', 'hpu', 'musa', 'sdaa'}

    def __getattr__(self, name):
        if name in self.ABSENT:
            raise AttributeError(name)
        return stubimport.StubModule.__getattr__(self, name)


torch.__class__ = _CpuTorch


class _Library:
    """torch.library.Library without the C++ library: sglang's custom-op registration then skips, as for an op already there."""

    def __init__(self, ns, kind, dispatch_key=''):
        self.ns, self.m = ns, None

    def define(self, *a, **k):
        pass

    def impl(self, *a, **k):
        pass


stubimport.override('torch.library', Library=_Library)
stubimport.override('torch', xpu=types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0),
                    mps=types.SimpleNamespace(is_available=lambda: False),
                    cpu=types.SimpleNamespace(is_available=lambda: True))

NOTES = [f'environment variables cleared before the import: {", ".join(CLEARED)}'] if CLEARED else []
if not TORCH_VERSION:
    NOTES.append('the release pins no torch version; the torch stub reports 2.5.1')

# python3 -m sglang.launch_server: argparse's default prog is basename(sys.argv[0]).
sys.argv = [os.path.join(PKG, 'launch_server.py')] + SELF_CHECK_ARGV

import importlib  # noqa: E402

server_args = importlib.import_module('sglang.srt.server_args')


class _Captured(Exception):
    pass


def release_parser():
    """The parser prepare_server_args builds, taken at its parse_args call."""
    captured = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        captured['parser'], captured['argv'] = self, args
        raise _Captured

    argparse.ArgumentParser.parse_args = capture
    try:
        server_args.prepare_server_args(list(SELF_CHECK_ARGV))
    except _Captured:
        pass
    finally:
        argparse.ArgumentParser.parse_args = original
    if 'parser' not in captured:
        raise SystemExit('prepare_server_args never called parse_args')
    return captured['parser'], captured['argv']


def self_check(parser):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            ns = parser.parse_args(list(SELF_CHECK_ARGV))
    except SystemExit as e:
        lines = [l for l in err.getvalue().splitlines() if l.strip()]
        return {'argv': SELF_CHECK_ARGV, 'accepted': False, 'exitCode': e.code,
                'error': lines[-1] if lines else '', 'stderr': err.getvalue()}
    parsed = {k: catalog._jsonable(getattr(ns, k, None)) for k in
              ('model_path', 'host', 'port', 'tp_size', 'dp_size', 'enable_metrics', 'enable_trace', 'otlp_traces_endpoint')}
    return {'argv': SELF_CHECK_ARGV, 'accepted': True, 'parsed': parsed}


def _check_no_stubs(program):
    bad = [o['flags'] for o in program['options'] if 'stub' in repr(o['default']) or 'Stub' in repr(o['choices']) or 'stub' in repr(o['type'])]
    if bad:
        raise SystemExit(f'stubs leaked into the parser: {bad}')


parser, argv_seen = release_parser()
if argv_seen != SELF_CHECK_ARGV:
    NOTES.append(f'prepare_server_args rewrote argv before parse_args: {argv_seen!r}')
program = catalog.argparse_program(parser, ['python3', '-m', 'sglang.launch_server'])
# Choices given as a set (e.g. --sampling-backend from 0.5.2x) have no order; sorted, so a re-run gives the same file.
_opts = iter(program['options'])
for a in parser._actions:
    if a.option_strings:
        entry = next(_opts)
        if isinstance(a.choices, (set, frozenset)):
            entry['choices'] = sorted(entry['choices'])
            NOTES.append(f'{a.option_strings[0]}: choices are a set in the release; recorded sorted')
_check_no_stubs(program)
check = self_check(parser)


def literal_field_defaults():
    """Literal defaults of the ServerArgs fields (server_args.py, arg_groups/**), read with ast: a cross-check that
    nothing stubbed reached a default."""
    out = {}
    for path in [os.path.join(SRT, 'server_args.py')] + sorted(glob.glob(os.path.join(SRT, 'arg_groups', '**', '*.py'), recursive=True)):
        for cls in (n for n in ast.parse(open(path).read()).body if isinstance(n, ast.ClassDef)):
            for n in cls.body:
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value is not None:
                    value = n.value
                    if isinstance(value, ast.Call) and getattr(value.func, 'id', '') == 'field':
                        value = next((k.value for k in value.keywords if k.arg == 'default'), None)
                    try:
                        out.setdefault(n.target.id, ast.literal_eval(value))
                    except (ValueError, TypeError, SyntaxError):
                        pass
    return out


_literals = literal_field_defaults()
_compared = [o for o in program['options'] if o['dest'] in _literals and o['action'] != 'help']
_differ = [(o['flags'][0], o['default'], _literals[o['dest']]) for o in _compared
           if catalog._jsonable(_literals[o['dest']]) != o['default']]
NOTES.append(f'{len(_compared)} option defaults equal the literal ServerArgs field defaults in the source'
             + (f'; {len(_differ)} differ (set by add_cli_args itself): ' + '; '.join(f'{f} {d!r} (field {l!r})' for f, d, l in _differ)
                if _differ else ''))


# ---------------------------------------------------------------- routes (read from source)

def rel(path):
    return os.path.relpath(path, SITE).replace(os.sep, '/')


HTTP = os.path.join(SRT, 'entrypoints', 'http_server.py')
if not os.path.exists(HTTP):
    HTTP = os.path.join(SRT, 'server.py')
HTTP_TEXT = open(HTTP).read()
TREE = ast.parse(HTTP_TEXT)
WANTED = ['/health', '/health_generate', '/ready', '/get_model_info', '/v1/models']


def decorated_routes():
    """path -> (methods, function node) for @app.get/post/put/api_route(...) decorators at module level."""
    out = {}
    for node in TREE.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for d in node.decorator_list:
            if not (isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and getattr(d.func.value, 'id', '') == 'app'):
                continue
            if not d.args or not isinstance(d.args[0], ast.Constant):
                continue
            path, kind = d.args[0].value, d.func.attr
            if kind == 'api_route':
                methods = next((ast.literal_eval(k.value) for k in d.keywords if k.arg == 'methods'), ['GET'])
            else:
                methods = [kind.upper()]
            prev = out.get(path)
            out[path] = ((prev[0] if prev else []) + [m for m in methods if not prev or m not in prev[0]], node)
    return out


def module_int(name, env):
    """A module-level `NAME = int(os.getenv("ENV", N))` of http_server.py: its default."""
    m = re.search(rf'^{name}\s*=\s*int\(os\.getenv\("{env}",\s*(\d+)\)\)', HTTP_TEXT, re.M)
    return int(m.group(1)) if m else None


def env_bool_default(name):
    path = os.path.join(SRT, 'environ.py')
    if not os.path.exists(path):
        return None
    m = re.search(rf'^\s*{name}\s*=\s*EnvBool\((True|False)\)', open(path).read(), re.M)
    return m.group(1) == 'True' if m else None


def method_source(path, cls, method):
    tree = ast.parse(open(path).read())
    for c in tree.body:
        if isinstance(c, ast.ClassDef) and c.name == cls:
            for f in c.body:
                if isinstance(f, ast.FunctionDef) and f.name == method:
                    return ast.get_source_segment(open(path).read(), f)
    return None


routes_found = decorated_routes()
routes = []
health_note = ready_note = None
if '/health' in routes_found:
    _, fn = routes_found['/health']
    src = ast.get_source_segment(HTTP_TEXT, fn)
    shared = routes_found.get('/health_generate', (None, None))[1] is fn
    launch = next((n for n in TREE.body if isinstance(n, ast.FunctionDef) and n.name == 'launch_server'), None)
    lsrc = ast.get_source_segment(HTTP_TEXT, launch) if launch else ''
    starts = [lsrc.find(s) for s in ('_launch_subprocesses(', 'launch_engine(') if s in lsrc]
    serves = [lsrc.find(s) for s in ('uvicorn.run(', '_setup_and_run_http_server(') if s in lsrc]
    if not (starts and serves and min(starts) < min(serves)):
        raise SystemExit('launch_server: cannot tell that the engine starts before the HTTP server listens')
    listen = ('The port listens only after launch_server has started the engine (the scheduler processes load the '
              'weights first), so while the model loads every probe gets connection refused.')
    if not shared:
        if src.strip().splitlines()[-1].strip() != 'return Response(status_code=200)' or 'generate' in src:
            raise SystemExit('/health: a separate handler that is not a plain 200; note it by hand')
        health_note = (f'{fn.name}() returns 200 with an empty body at once, with no generation and no status check '
                       f'(liveness of the HTTP process only). /health_generate generates one token and waits for it, without a '
                       f'time limit of its own (200, or 503 if the request raises). {listen}')
    else:
        timeout = module_int('HEALTH_CHECK_TIMEOUT', 'SGLANG_HEALTH_CHECK_TIMEOUT')
        if timeout is None or 'await asyncio.sleep(1)' not in src or 'last_receive_tstamp > tic' not in src:
            raise SystemExit('/health: the generation loop differs from the one noted; note it by hand')
        parts = [f'/health and /health_generate are one handler, {fn.name}().']
        if 'gracefully_exit' in src:
            parts.append('503 at once while the server shuts down.')
        if 'ServerStatus.Starting' in src:
            parts.append('503 at once while the server status is Starting, i.e. after the port opens and until the warmup '
                         'request (or --skip-server-warmup) sets it Up.')
        gate = 'SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION' in src
        if gate:
            d = env_bool_default('SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION')
            parts.append(f'With SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION=false, /health (only) then returns 200 at once; '
                         f'the default is {"true" if d else "false" if d is not None else "not found"}, so by default:')
        sched = open(os.path.join(SRT, 'managers', 'scheduler.py')).read()
        if 'is_health_check_generate_req(recv_req) and' not in sched:
            raise SystemExit('scheduler.py: the busy-scheduler shortcut for health requests is not there; note it by hand')
        parts.append(f'it submits a 1-token generation (input_ids [0], temperature 0) and polls once a second: the first '
                     f'check is after 1 s, so even a healthy server answers after about 1 s; it returns 200 as soon as the '
                     f'tokenizer manager received anything from the scheduler/detokenizer since the check began (a busy '
                     f'scheduler answers a health request at once without running it; an idle one runs it), else 503 after '
                     f'HEALTH_CHECK_TIMEOUT = {timeout} s (env SGLANG_HEALTH_CHECK_TIMEOUT) and marks the server UnHealthy. '
                     f'A probe needs timeoutSeconds above 1 (>= 2), and above {timeout} + 1 to see the 503 instead of its '
                     f'own timeout.')
        if 'SGLANG_DIAG_BYPASS_HEALTH_GENERATE' in src:
            parts.append('SGLANG_DIAG_BYPASS_HEALTH_GENERATE (a test switch) answers 200 without generating.')
        parts.append(listen)
        health_note = ' '.join(parts)
if '/ready' in routes_found:
    _, fn = routes_found['/ready']
    src = ast.get_source_segment(HTTP_TEXT, fn)
    tm = os.path.join(SRT, 'managers', 'tokenizer_manager.py')
    is_ready = method_source(tm, 'TokenizerManager', 'is_ready') or ''
    is_healthy = method_source(tm, 'TokenizerManager', 'is_healthy') or ''
    # 0.5.20-0.5.22 spell the three conditions in is_ready(); 0.5.23 moves two of them into is_healthy().
    conditions = is_ready + (is_healthy if 'self.is_healthy()' in is_ready else '')
    if ('is_ready()' not in src or 'return Response(status_code=status_code)' not in src
            or not all(c in conditions for c in ('not self.is_pause', 'not self.gracefully_exit', 'self.server_status == ServerStatus.Up'))):
        raise SystemExit('/ready differs from the one noted; note it by hand')
    ready_note = (f'{fn.name}(): 200 (empty body) when TokenizerManager.is_ready(): not paused (/pause_generation), not '
                  f'shutting down, and server status Up (set by the warmup request, or by a passing /health); 503 otherwise: while Starting, after a failed /health (UnHealthy), while paused. It runs no '
                  f'generation and answers at once (timeoutSeconds 1 suffices).')

for path in WANTED:
    if path not in routes_found:
        continue
    methods, fn = routes_found[path]
    entry = {'path': path, 'methods': methods, 'source': f'{rel(HTTP)}:{fn.lineno}', 'handler': fn.name}
    if path in ('/health', '/health_generate') and health_note:
        entry['note'] = health_note
    if path == '/ready' and ready_note:
        entry['note'] = ready_note
    routes.append(entry)

metrics_src = None
for p in sorted(glob.glob(os.path.join(SRT, 'utils.py')) + glob.glob(os.path.join(SRT, 'utils', '*.py'))):
    t = open(p).read()
    m = re.search(r'^def add_prometheus_middleware\(app\):(?:\n(?:[ \t].*|))*', t, re.M)
    if m and 'Mount("/metrics"' in m.group(0):
        metrics_src = f'{rel(p)}:{t[:m.start()].count(chr(10)) + 1}'
        break
if metrics_src is None:
    raise SystemExit('no add_prometheus_middleware mounting /metrics found')
if 'add_prometheus_middleware(app)' not in HTTP_TEXT or 'enable_metrics' not in HTTP_TEXT:
    raise SystemExit('/metrics: not mounted under --enable-metrics in this http_server; note it by hand')
routes.append({'path': '/metrics', 'methods': ['GET'], 'source': metrics_src, 'handler': 'add_prometheus_middleware',
               'note': 'mounted only with --enable-metrics (prometheus_client multiprocess registry, every process merged); '
                       '/metrics and /metrics/ both answer (path_regex workaround, no 307); without the flag it is 404.'})
auth = os.path.join(SRT, 'utils', 'auth.py')
if os.path.exists(auth) and 'path.startswith("/health")' in open(auth).read():
    NOTES.append('sglang/srt/utils/auth.py: /health*, /ready and /metrics are exempt from --api-key / --admin-api-key')

programs = {'launch_server': program}
catalog.write(args.out, 'sglang', 'sglang', args.version, programs, routes, {
    'recordedBy': 'tools/engine-cli/drivers/sglang.py',
    'how': 'imported sglang.srt.server_args from the installed release (every sglang module real except sglang/__init__.py) '
           'and ran prepare_server_args, taking the parser at its parse_args call; routes read with ast from '
           + rel(HTTP),
    'launcher': rel(os.path.join(PKG, 'launch_server.py')),
    'stubbedImports': stubimport.stubbed(),
    'overriddenStubs': {m: a for m, a in stubimport.OVERRIDDEN.items()},
    'selfCheck': [check] + probes.verdicts(program, lambda w: probes.argparse_verdict(parser, w)),
    'notes': NOTES,
})
print(f'sglang {args.version}: {len(program["options"])} options, prog {program["prog"]!r}, self-check '
      f'{"accepted" if check["accepted"] else check["error"]}; routes {", ".join(r["path"] for r in routes)}; '
      f'stubbed {len(stubimport.stubbed())} modules')
