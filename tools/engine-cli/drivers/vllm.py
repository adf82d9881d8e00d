# package: vllm
# requires: nvidia-ml-py pydantic fastapi uvicorn prometheus_client prometheus-fastapi-instrumentator pyyaml transformers huggingface_hub tokenizers numpy typing_extensions msgspec pyzmq uvloop cloudpickle psutil requests openai regex cachetools filelock partial-json-parser jinja2 pillow aiohttp tqdm py-cpuinfo blake3 einops cbor2 pybase64 setproctitle protobuf watchfiles python-json-logger
"""vLLM: the `vllm serve` argument parser and the probe/scrape HTTP routes of one release.

What is real: every module of the installed `vllm` package that the CLI imports is loaded from
the wheel and executed (vllm/entrypoints/cli/main.py, cli/serve.py, make_arg_parser in
openai/cli_args.py or entrypoints/common/cli_args.py, EngineArgs.add_cli_args in
engine/arg_utils.py, vllm/config*, FlexibleArgumentParser, the tool/reasoning parser
registries, ...). The parser is the one the release's own `main()` builds: main() runs with
sys.argv = ["vllm", "serve", ...] and is stopped when it calls parse_args, and that parser
object is catalogued (catalog.argparse_program, subcommand "serve"). pydantic, fastapi,
transformers (without torch), prometheus_client, ... are the real packages of the `# requires:`
line (their newest releases, not necessarily the ones the vLLM release pinned).

What is stubbed: modules that are not installed (torch, triton, ray, xgrammar, compiled
extensions vllm._C ...) become permissive stubs when vLLM's code imports them
(stubimport._LastFinder). A vLLM module whose execution raises (because a stub is not
good enough, e.g. a torch call at import time) is kept as far as it executed and the rest
of its names become stubs; such modules are listed in provenance.partialModules. The
driver refuses to write a catalog if an option's default, type or choices is a stub.
The torch stub reports the version the release pins (its METADATA), and the platform is
resolved as CUDA (vllm.platforms.resolve_current_platform_cls_qualname is answered with
vllm.platforms.cuda.CudaPlatform): the probes would otherwise find every platform in the stubs,
and without an accelerator 0.9.x cannot even build its parser ("Failed to infer device type").

Checks run on the real parser and stored in provenance: selfCheck (the argv our manifests
generate, parsed by the release's parser, then the serve subcommand's validate()),
underscoreCheck (--tensor_parallel_size) and abbrevCheck (--tensor-parallel).

Routes are read from the release's source (AST, nothing is started): route decorators
(@router.get("/health"), api_route, add_route, ...), Mount("/metrics", make_asgi_app(...))
and prometheus_fastapi_instrumentator's .expose(app) under vllm/entrypoints/, except the
legacy demo server vllm/entrypoints/api_server.py and other CLI commands' own apps.
"""
import argparse
import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import re
import sys
import types

# The drivers' directory is sys.path[0]: its other drivers (transformers.py, ...) would shadow the packages.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != _here]

import catalog
import probes  # noqa: E402
import common  # noqa: E402
import stubimport  # noqa: E402

args = common.arg_parser().parse_args()  # --version, --out, --site (tools/engine-metrics/common.py)
SITE = args.site
VLLM_DIR = os.path.join(SITE, 'vllm')

MODEL = 'meta-llama/Llama-3.1-8B-Instruct'
# What the cdk8s library generates for `vllm serve` (model positional, then our flags).
SELF_ARGV = ['serve', MODEL, '--host', '0.0.0.0', '--port', '8000', '--tensor-parallel-size', '2',
             '--data-parallel-size', '2', '--otlp-traces-endpoint', 'http://tempo:4317']
OUR_FLAGS = ['--host', '--port', '--tensor-parallel-size', '--data-parallel-size', '--otlp-traces-endpoint']

# Import the real third-party packages before any stub exists, so that their own optional-import
# probes (transformers' is_torch_available, ...) see the environment as it is: no torch.
for name in ('pydantic', 'fastapi', 'starlette', 'transformers', 'huggingface_hub', 'prometheus_client', 'yaml', 'numpy'):
    try:
        importlib.import_module(name)
    except Exception:
        pass

PARTIAL = {}  # vLLM module -> the exception that stopped its execution
AFTER_EXEC = {}  # vLLM module -> a function run on it right after it executed


class PartialModule(stubimport.StubModule):
    """A real module whose execution stopped on an exception: names it did not define are stubs."""


class PartialPackage(stubimport.PackageModule):
    """The same for a package: submodule files still import for real."""


class TolerantLoader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module):
        try:
            super().exec_module(module)
        except Exception as e:  # noqa: BLE001 - the module stays, as far as it ran
            PARTIAL[module.__name__] = f'{type(e).__name__}: {str(e)[:300]}'
            module.__class__ = PartialPackage if hasattr(module, '__path__') else PartialModule
        if module.__name__ in AFTER_EXEC:
            AFTER_EXEC[module.__name__](module)


class VllmFinder(importlib.abc.MetaPathFinder):
    """Every `vllm.*` module from the installed wheel, run for real by a TolerantLoader; files that
    are not Python source (vllm._C, ...) or do not exist become stubs."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != 'vllm' and not fullname.startswith('vllm.'):
            return None
        base = os.path.join(SITE, *fullname.split('.'))
        if os.path.isfile(os.path.join(base, '__init__.py')):
            init = os.path.join(base, '__init__.py')
            return importlib.util.spec_from_file_location(fullname, init, loader=TolerantLoader(fullname, init),
                                                          submodule_search_locations=[base])
        if os.path.isdir(base) and fullname != 'vllm':
            # A namespace directory: submodules load, other names are stubs.
            return importlib.machinery.ModuleSpec(fullname, stubimport._PackageLoader(base), is_package=True)
        if os.path.isfile(base + '.py'):
            return importlib.util.spec_from_file_location(fullname, base + '.py', loader=TolerantLoader(fullname, base + '.py'))
        return importlib.machinery.ModuleSpec(fullname, stubimport._StubLoader(), is_package=True)


def pinned(dist):
    """The version of `dist` the release pins (Requires-Dist: torch==2.6.0), from its METADATA."""
    import glob
    for meta in glob.glob(os.path.join(SITE, 'vllm-*.dist-info', 'METADATA')):
        m = re.search(r'^Requires-Dist: %s\s*==\s*([^\s;,]+)' % re.escape(dist), open(meta).read(), re.M)
        if m:
            return m.group(1)
    return None


sys.meta_path.insert(0, VllmFinder())
sys.meta_path.append(stubimport._LastFinder(['vllm']))

# torch is a stub (it is not installed); it reports the version the release pins, since vLLM compares it.
TORCH_VERSION = pinned('torch') or '2.6.0'
_torch = importlib.machinery.ModuleSpec('torch', stubimport._StubLoader(), is_package=True)
sys.modules['torch'] = importlib.util.module_from_spec(_torch)
sys.modules['torch'].__version__ = TORCH_VERSION

PLATFORM_NOTE = None


def preset_platform(module):
    """The platform of the GPU nodes the Deployments run on: CUDA. vLLM's plugin probes would question
    the torch stub (whose every answer is truthy) and find every platform; resolved instead as the
    CUDA plugin resolves on an NVIDIA machine, lazily, when something first asks for current_platform.
    (Without any accelerator, some releases cannot even build the parser: 0.9's DeviceConfig raises
    "Failed to infer device type" under UnspecifiedPlatform.)"""
    global PLATFORM_NOTE
    if hasattr(module, 'resolve_current_platform_cls_qualname'):
        module.resolve_current_platform_cls_qualname = lambda: 'vllm.platforms.cuda.CudaPlatform'
        PLATFORM_NOTE = ('vllm.platforms.resolve_current_platform_cls_qualname() answers vllm.platforms.cuda.CudaPlatform '
                         '(the GPU nodes the Deployments target); its device queries answer from the torch stub')
    else:
        PLATFORM_NOTE = 'vllm.platforms has no resolve_current_platform_cls_qualname: left as the release resolves it'


AFTER_EXEC['vllm.platforms'] = preset_platform


class Captured(Exception):
    pass


def capture_parser():
    """Run the release's `vllm` entry point until it parses: its own top-level parser."""
    main_mod = importlib.import_module('vllm.entrypoints.cli.main')
    real_parse_args = argparse.ArgumentParser.parse_args
    box = {}

    def grab(self, *a, **k):
        box['parser'] = self
        raise Captured()

    argparse.ArgumentParser.parse_args = grab
    old_argv = sys.argv
    sys.argv = ['vllm'] + list(SELF_ARGV)
    try:
        main_mod.main()
    except Captured:
        pass
    finally:
        argparse.ArgumentParser.parse_args = real_parse_args
        sys.argv = old_argv
    if 'parser' not in box:
        raise SystemExit('vllm.entrypoints.cli.main.main() returned without parsing')
    return box['parser']


def sub_parser(top, word):
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[word]


def try_parse(top, argv):
    """The release's parser on argv: the namespace, or the error argparse prints and the exit status."""
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            ns = top.parse_args(list(argv))
        return {'accepted': True, 'namespace': ns}
    except SystemExit as e:
        lines = [l for l in err.getvalue().splitlines() if l.strip()]
        msg = next((l for l in reversed(lines) if ': error: ' in l), lines[-1] if lines else '')
        return {'accepted': False, 'exitCode': e.code, 'error': msg}
    except Exception as e:  # noqa: BLE001 - FlexibleArgumentParser raises ValueError on some inputs
        return {'accepted': False, 'exception': f'{type(e).__name__}: {e}'}


def is_stub(value):
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(is_stub(v) for v in value)
    if isinstance(value, dict):
        return any(is_stub(k) or is_stub(v) for k, v in value.items())
    t = value if isinstance(value, type) else type(value)
    return isinstance(t, stubimport._StubMeta) or isinstance(value, stubimport.StubModule) or getattr(t, '__module__', '') == 'stub'


# ---- the parser -------------------------------------------------------------------------------
top = capture_parser()
serve = sub_parser(top, 'serve')
program = catalog.argparse_program(top, ['vllm', 'serve'], subcommands=('serve',))

leaks = []
for a in serve._actions:
    for what, value in (('default', a.default), ('type', a.type), ('choices', a.choices)):
        if is_stub(value) or (what == 'choices' and value is not None and any(is_stub(c) for c in value)):
            leaks.append(f'{"/".join(a.option_strings) or a.dest}: {what} {value!r}')
if leaks:
    raise SystemExit('stubs leaked into the parser: ' + '; '.join(leaks))


def present(flag):
    return any(flag in a.option_strings for a in serve._actions)


def summary(result, dests=('model_tag', 'model', 'host', 'port', 'tensor_parallel_size', 'data_parallel_size', 'otlp_traces_endpoint')):
    out = {k: v for k, v in result.items() if k != 'namespace'}
    if result.get('accepted'):
        ns = result['namespace']
        out['values'] = {d: catalog._jsonable(getattr(ns, d)) for d in dests if hasattr(ns, d)}
    return out


self_check = summary(try_parse(top, SELF_ARGV))
self_check['argv'] = ['vllm'] + SELF_ARGV
if self_check.get('accepted'):
    # What main() does next: the serve subcommand's validate(args).
    serve_mod = importlib.import_module('vllm.entrypoints.cli.serve')
    cmd = next(c for c in serve_mod.cmd_init() if c.name == 'serve')
    ns = try_parse(top, SELF_ARGV)['namespace']
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            cmd.validate(ns)
        self_check['validate'] = 'passed'
    except SystemExit as e:
        self_check['validate'] = f'SystemExit {e.code}'
    except Exception as e:  # noqa: BLE001
        self_check['validate'] = f'{type(e).__name__}: {e}'

underscore = summary(try_parse(top, ['serve', MODEL, '--tensor_parallel_size', '2']), dests=('tensor_parallel_size',))
underscore['argv'] = ['vllm', 'serve', MODEL, '--tensor_parallel_size', '2']
underscores_as_dashes = bool(underscore.get('accepted')) and underscore['values'].get('tensor_parallel_size') == 2
program['underscoresAsDashes'] = underscores_as_dashes
abbrev = summary(try_parse(top, ['serve', MODEL, '--tensor-parallel', '2']), dests=('tensor_parallel_size',))
abbrev['argv'] = ['vllm', 'serve', MODEL, '--tensor-parallel', '2']


# ---- routes -----------------------------------------------------------------------------------
ROUTE = re.compile(r'^/(health|healthz|ping|metrics|version|v1/models|load|ready|readyz|live|livez|startup|health/.*)$')
# Apps that are not the `vllm serve` API server.
NOT_SERVE = {'vllm/entrypoints/api_server.py': 'the legacy demo server (python -m vllm.entrypoints.api_server)',
             'vllm/entrypoints/cli/preload.py': 'the app of `vllm preload`'}
_serve_src = open(os.path.join(SITE, 'vllm', 'entrypoints', 'cli', 'serve.py')).read()
KNOWN = {'dp_supervisor.py': ('served by the DP supervisor process, which `vllm serve` runs only with --data-parallel-multi-port-external-lb'
                              if re.search(r'if is_multi_port:\s*run_dp_supervisor\(args\)', _serve_src)
                              else 'served by the DP supervisor process (see vllm/entrypoints/cli/serve.py for when it runs), not by the API server'),
         'sagemaker': 'SageMaker-compatible route'}


def scan_routes():
    routes = []
    base = os.path.join(SITE, 'vllm', 'entrypoints')
    for root, _, files in os.walk(base):
        for fn in sorted(files):
            if not fn.endswith('.py'):
                continue
            path = os.path.join(root, fn)
            rel = os.path.relpath(path, SITE).replace(os.sep, '/')
            if rel in NOT_SERVE:
                continue
            try:
                tree = ast.parse(open(path).read(), path)
            except SyntaxError:
                continue
            parents = {}
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    parents[child] = node

            def context(node):
                funcs, conds = [], []
                n = node
                while n in parents:
                    p = parents[n]
                    if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)) and n not in p.decorator_list:
                        funcs.append(p.name)
                    if isinstance(p, ast.If) and n in p.body:
                        conds.append(ast.unparse(p.test))
                    if isinstance(p, ast.If) and n in p.orelse:
                        conds.append('not (' + ast.unparse(p.test) + ')')
                    n = p
                return list(reversed(funcs)), list(reversed(conds))

            def add(path_, methods, node, how):
                funcs, conds = context(node)
                note = [how]
                if funcs:
                    note.append('registered in ' + '.'.join(funcs) + '()')
                if conds:
                    note.append('only if ' + ' and '.join(conds))
                entry = {'path': path_, 'methods': methods, 'source': rel, 'line': node.lineno}
                for key, text in KNOWN.items():
                    if key in rel:
                        note.append(text)
                        # The DP supervisor's routes: the catalog's readers (the stand-in) serve them only with its flag.
                        if key == 'dp_supervisor.py' and '--data-parallel-multi-port-external-lb' in text:
                            entry['onlyWith'] = ['--data-parallel-multi-port-external-lb']
                        elif key == 'dp_supervisor.py':
                            entry['process'] = 'dp-supervisor'
                routes.append(dict(entry, note='; '.join(note)))

            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else '')
                first = node.args[0] if node.args else None
                lit = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
                kw = {k.arg: k.value for k in node.keywords if k.arg}
                if name in ('get', 'post', 'put', 'delete', 'head') and isinstance(f, ast.Attribute) and lit and ROUTE.match(lit):
                    add(lit, [name.upper()], node, f'@{ast.unparse(f)}')
                elif name in ('api_route', 'route', 'add_route', 'add_api_route') and lit and ROUTE.match(lit):
                    methods = kw.get('methods')
                    ms = [e.value for e in methods.elts] if isinstance(methods, (ast.List, ast.Tuple)) else ['GET']
                    add(lit, ms, node, ast.unparse(f))
                elif name == 'Mount' and lit and ROUTE.match(lit):
                    inner = ast.unparse(node.args[1]) if len(node.args) > 1 else ''
                    add(lit, ['GET'], node, f'Mount({lit!r}, {inner}) (prometheus_client ASGI app; any method and sub-path reach it)')
                elif name == 'expose' and isinstance(f, ast.Attribute) and 'Instrumentator' in ast.unparse(f.value):
                    ep = kw.get('endpoint')
                    p = ep.value if isinstance(ep, ast.Constant) else '/metrics'
                    add(p, ['GET'], node, 'prometheus_fastapi_instrumentator Instrumentator().expose(app) (default endpoint /metrics)')
    # One entry per handler: stacked decorators (@router.get("/ping") @router.post("/ping")) merge.
    out = []
    for r in sorted(routes, key=lambda r: (r['path'], r['source'], r['line'])):
        prev = out[-1] if out else None
        if prev and (prev['path'], prev['source']) == (r['path'], r['source']) and r['line'] - prev['line'] <= 2:
            prev['methods'] = sorted(set(prev['methods']) | set(r['methods']))
            continue
        out.append(r)
    return out


routes = scan_routes()


# ---- data parallelism in the serve path --------------------------------------------------------
def dp_refusals():
    """`raise` statements guarded by a condition on data_parallel_size in the files `vllm serve` runs."""
    files = ['vllm/entrypoints/cli/serve.py', 'vllm/entrypoints/openai/api_server.py', 'vllm/entrypoints/openai/cli_args.py',
             'vllm/engine/arg_utils.py', 'vllm/v1/engine/async_llm.py', 'vllm/v1/engine/core_client.py',
             'vllm/engine/async_llm_engine.py', 'vllm/engine/llm_engine.py', 'vllm/config.py', 'vllm/config/parallel.py']
    found = []
    for rel in files:
        path = os.path.join(SITE, rel)
        if not os.path.exists(path):
            continue
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and 'data_parallel_size' in ast.unparse(node.test) and \
                    any(isinstance(n, ast.Raise) for b in node.body for n in ast.walk(b)):
                cond = ast.unparse(node.test)
                if re.search(r'data_parallel_size\w*\s*(>|!=)\s*1|data_parallel_size\w*\s*>', cond):
                    found.append(f'{rel}:{node.lineno}: if {cond}: raise ...')
    return found


notes = []
for flag in OUR_FLAGS:
    if not present(flag):
        notes.append(f'{flag} is not an option of `vllm serve` in {args.version}')
if not present('--data-parallel-size'):
    notes.append('data parallelism is not configurable from the serve CLI here (ParallelConfig.data_parallel_size is set '
                 'only from the VLLM_DP_SIZE environment variable, for offline use): `--data-parallel-size` is an unrecognized argument')


def otlp_v0_fallback():
    """EngineArgs' V1 oracle refusing --otlp-traces-endpoint (the engine falls back to V0), as `file:line: condition`."""
    rel = 'vllm/engine/arg_utils.py'
    path = os.path.join(SITE, rel)
    if not os.path.exists(path):
        return None
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'otlp_traces_endpoint' in ast.unparse(node.test) and '_raise_or_fallback' in ast.unparse(node):
            return f'{rel}:{node.lineno}: if {ast.unparse(node.test)}: _raise_or_fallback(feature_name="--otlp-traces-endpoint")'
    return None


fallback = otlp_v0_fallback()
if fallback:
    notes.append('--otlp-traces-endpoint is not supported by the V1 engine in this release: EngineArgs._is_v1_supported_oracle '
                 f'({fallback}) falls back to the V0 engine with a warning, or raises NotImplementedError when VLLM_USE_V1=1 is set')
    if present('--data-parallel-size'):
        notes.append('with --otlp-traces-endpoint (V0 engine) and --data-parallel-size > 1: the V0 engine has no data-parallel '
                     'launcher (one engine is started) while vllm/distributed/parallel_state.py init_distributed_environment '
                     '(`if config.parallel_config.data_parallel_size > 1`) sizes its torch.distributed world for every DP rank; '
                     'read from the code, not run: expect the engine to wait for ranks that never start')
refusals = dp_refusals()
if refusals:
    notes.append('raise statements guarded by a condition on data_parallel_size in the serve path (found by AST; none of them '
                 'refuses --data-parallel-size > 1 on its own, they concern DP ranks, external/hybrid load balancing, offline DP or MoE): ' + ' | '.join(refusals))
if PARTIAL:
    notes.append('some vLLM modules stopped executing on a stub (provenance.partialModules); none of them changed an option, '
                 'since no default/type/choices is a stub')

platform = PLATFORM_NOTE

flex = type(top)
provenance = {
    'recordedBy': 'tools/engine-cli/drivers/vllm.py',
    'how': ('pip install vllm==%s --no-deps plus the driver\'s `# requires:`; ran the release\'s vllm.entrypoints.cli.main.main() '
            'with sys.argv=["vllm", "serve", ...] up to its parse_args call and catalogued that parser\'s "serve" subparser '
            '(%s.%s); routes read from vllm/entrypoints/**.py by AST' % (args.version, flex.__module__, flex.__name__)),
    'stubbedImports': stubimport.stubbed(),
    'torchStubVersion': TORCH_VERSION,
    'partialModules': {k: PARTIAL[k] for k in sorted(PARTIAL)},
    'platform': platform,
    # Our own command line first, then the probes (tools/engine-cli/probes.py) through the real top-level parser.
    'selfCheck': [self_check] + probes.verdicts(program, lambda w: probes.argparse_verdict(top, ['serve'] + w)),
    'underscoreCheck': underscore,
    'abbrevCheck': abbrev,
    'ourFlags': {f: present(f) for f in OUR_FLAGS},
    'notes': notes,
}
catalog.write(args.out, 'vllm', 'vllm', args.version, {'serve': program}, routes, provenance)
print(f'vllm {args.version}: {len(program["options"])} options, {len(routes)} routes -> {args.out}; '
      f'selfCheck {"accepted" if self_check.get("accepted") else self_check.get("error") or self_check.get("exception")}; '
      f'partial modules {len(PARTIAL)}; stubbed {len(stubimport.stubbed())}', file=sys.stderr)
