#!/usr/bin/env python3
"""LMDeploy: `lmdeploy serve api_server` and `lmdeploy serve proxy`, from the release's own parser.

Real: the whole of lmdeploy/cli/ (cli.py's FlexibleArgumentParser and CLI class, serve.py's
SubCliServe, utils.py's ArgumentHelper, lite.py, entrypoint.py), lmdeploy/version.py,
lmdeploy/pytorch/disagg/config.py (EngineRole and MigrationBackend, whose names are the choices
of --role and --migration-backend) with pydantic installed for real, and the other lmdeploy
modules the CLI imports at module level when they are light (listed under provenance.realModules).
The parser is built by running lmdeploy.cli.entrypoint.run() itself, with the top-level parser's
parse_args intercepted on its first call (so the subcommands are added in the release's order);
the self-checks then call the real FlexibleArgumentParser.parse_args, which rewrites
`--a_b` to `--a-b` and `--a.b x` to `--a '{"b": x}'` before argparse sees the words.

Stubbed (stubimport): torch, transformers and everything else not installed, and the lmdeploy
modules outside the list above (engine, serving, model code): none of them adds or changes an
argument; where one is only named in a help text (ReasoningParserManager, ToolParserManager),
the help text is not recorded.

Routes are read from the source (FastAPI decorators and the /metrics Mount) of
lmdeploy/serve/openai/api_server.py, lmdeploy/serve/openai/endpoints/*.py (where the api_server's
routes live from 0.16.0) and lmdeploy/serve/proxy/proxy.py, not served; the API-key notes come from
the route's Depends(check_api_key) or, from 0.12.2, AuthenticationMiddleware's exempt prefixes
(lmdeploy/serve/utils/server_utils.py).
"""
# package: lmdeploy
# requires: pydantic
import argparse
import ast
import contextlib
import io
import os
import sys

import catalog
import probes
import common  # noqa: E402
import stubimport

args = common.arg_parser().parse_args()  # --version, --out, --site (tools/engine-metrics/common.py)
SITE = args.site
PKG = os.path.join(SITE, 'lmdeploy')


def modules_under(folder, prefix):
    out = [prefix]
    for name in sorted(os.listdir(folder)):
        if name.endswith('.py') and name != '__init__.py':
            out.append(f'{prefix}.{name[:-3]}')
    return out


# Light modules the CLI imports at module level; loaded for real when the release has them.
LIGHT = ['lmdeploy.version', 'lmdeploy.pytorch.disagg.config', 'lmdeploy.pytorch.disagg.messages',
         'lmdeploy.serve.proxy.constants', 'lmdeploy.utils', 'lmdeploy.messages', 'lmdeploy.archs']
REAL = modules_under(os.path.join(PKG, 'cli'), 'lmdeploy.cli')
for m in LIGHT:
    base = os.path.join(SITE, *m.split('.'))
    if os.path.isfile(base + '.py'):
        REAL.append(m)
stubimport.install(REAL, ['lmdeploy', 'torch', 'transformers', 'triton', 'mmengine'], SITE)

from lmdeploy.cli import entrypoint  # noqa: E402
from lmdeploy.cli.cli import CLI  # noqa: E402


class _Built(Exception):
    pass


def _intercept(*a, **k):
    raise _Built()


CLI.parser.parse_args = _intercept
saved_argv = sys.argv
sys.argv = ['lmdeploy']
try:
    entrypoint.run()
    raise SystemExit('lmdeploy.cli.entrypoint.run() returned without parsing')
except _Built:
    pass
finally:
    sys.argv = saved_argv
del CLI.parser.parse_args
parser = CLI.parser
flexible = type(parser).__name__ == 'FlexibleArgumentParser'


def subparser(words):
    p = parser
    for w in words:
        p = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[w]
    return p


def flags_of(p):
    return {s for a in p._actions for s in a.option_strings}


def self_check(words):
    """Run the real top-level parser on `lmdeploy <words>`: accepted with the parsed values, or the exact error."""
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            ns = parser.parse_args(list(words))
    except SystemExit as e:
        text = err.getvalue()
        lines = text.rstrip('\n').splitlines()
        error = next((ln for ln in lines if ': error: ' in ln), lines[-1] if lines else '')
        return {'argv': ['lmdeploy'] + list(words), 'accepted': False, 'exitCode': e.code, 'error': error, 'stderr': text}
    parsed = {k: catalog._jsonable(v) for k, v in sorted(vars(ns).items()) if not callable(v)}
    return {'argv': ['lmdeploy'] + list(words), 'accepted': True, 'exitCode': 0, 'parsed': parsed}


API_ARGS = ['Qwen/Qwen2.5-7B-Instruct', '--backend', 'pytorch', '--server-name', '0.0.0.0', '--server-port', '23333',
            '--tp', '2', '--dp', '2', '--proxy-url', 'http://127.0.0.1:8000', '--nnodes', '1', '--node-rank', '0']
PROXY_ARGS = ['--server-name', '0.0.0.0', '--server-port', '8000', '--routing-strategy', 'min_expected_latency',
              '--serving-strategy', 'Hybrid']

api_parser, proxy_parser = subparser(['serve', 'api_server']), subparser(['serve', 'proxy'])
api_args = API_ARGS + (['--enable-metrics'] if '--enable-metrics' in flags_of(api_parser) else [])
programs = {
    'api_server': catalog.argparse_program(parser, ['lmdeploy', 'serve', 'api_server'], subcommands=('serve', 'api_server'),
                                           underscores_as_dashes=flexible),
    'proxy': catalog.argparse_program(parser, ['lmdeploy', 'serve', 'proxy'], subcommands=('serve', 'proxy'),
                                      underscores_as_dashes=flexible),
}
checks = {'api_server': self_check(['serve', 'api_server'] + api_args), 'proxy': self_check(['serve', 'proxy'] + PROXY_ARGS)}
# Our command lines first, then the probes (tools/engine-cli/probes.py) of each program through the real top-level parser.
self_checks = [checks['api_server'], checks['proxy']]
for key in ('api_server', 'proxy'):
    self_checks += probes.verdicts(programs[key], lambda w, key=key: probes.argparse_verdict(parser, ['serve', key] + w))

# Routes, from the source.
METHODS = {'get': ['GET'], 'post': ['POST'], 'put': ['PUT'], 'delete': ['DELETE'], 'patch': ['PATCH']}
api_flags = flags_of(api_parser)
if '--enable-metrics' in api_flags:
    METRICS_NOTE = 'mounted (prometheus_client ASGI app) only when the server is started with --enable-metrics; 404 otherwise'
elif '--disable-metrics' in api_flags:
    METRICS_NOTE = 'mounted (prometheus_client ASGI app) unless the server is started with --disable-metrics (metrics on by default)'
else:
    METRICS_NOTE = 'mounted (prometheus_client ASGI app) by mount_metrics(); see the source for its condition'


def _skip_prefixes():
    """AuthenticationMiddleware's exempt path prefixes (lmdeploy/serve/utils/server_utils.py), when the release has it."""
    path = os.path.join(PKG, 'serve', 'utils', 'server_utils.py')
    if not os.path.exists(path):
        return None
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == 'skip_prefixes' for t in node.targets)
                and isinstance(node.value, ast.List)):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    return None


SKIP = _skip_prefixes()


def _auth_note(program_file_text, path, deps):
    if 'AuthenticationMiddleware' in program_file_text and SKIP is not None:
        if any(path.startswith(p) for p in SKIP):
            return 'no API key needed (AuthenticationMiddleware exempts %s)' % ', '.join(SKIP)
        return 'needs the API key (Authorization: Bearer) when --api-keys is set (AuthenticationMiddleware; exempt: %s)' % ', '.join(SKIP)
    if any('check_api_key' in x for x in deps):
        return 'needs the API key (Authorization: Bearer) when --api-keys is set (Depends(check_api_key))'
    return 'no API key check'


def _health_note(fn):
    text = ast.unparse(fn)
    if 'SERVICE_UNAVAILABLE' in text or '503' in text:
        return ('200 with a JSON status when the engine health monitor reports healthy or sleeping; 503 when unhealthy '
                'or before the monitor is initialized')
    if 'status_code=200' in text:
        return '200 with an empty body whenever the HTTP server is up (no engine check)'
    return 'see the handler'


def routes_of(files, program, program_file):
    program_text = open(os.path.join(SITE, program_file)).read() if os.path.exists(os.path.join(SITE, program_file)) else ''
    out = []
    for rel in files:
        path = os.path.join(SITE, rel)
        if not os.path.exists(path):
            continue
        tree = ast.parse(open(path).read(), path)
        src = rel.replace(os.sep, '/')
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for d in fn.decorator_list:
                    if (isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in METHODS
                            and d.args and isinstance(d.args[0], ast.Constant) and isinstance(d.args[0].value, str)):
                        deps = [ast.unparse(k.value) for k in d.keywords if k.arg == 'dependencies']
                        route = d.args[0].value
                        note = f'{program}; handler {fn.name}(); ' + _auth_note(program_text, route, deps)
                        if route == '/health':
                            note += '; ' + _health_note(fn)
                        out.append({'path': route, 'methods': METHODS[d.func.attr], 'source': src, 'program': program, 'note': note})
        for call in ast.walk(tree):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == 'Mount' and call.args
                    and isinstance(call.args[0], ast.Constant) and call.args[0].value == '/metrics'):
                out.append({'path': '/metrics', 'methods': ['GET'], 'source': src, 'program': program,
                            'note': f'{program}; {METRICS_NOTE}; ' + _auth_note(program_text, '/metrics', [])})
    return out


API_FILE = os.path.join('lmdeploy', 'serve', 'openai', 'api_server.py')
PROXY_FILE = os.path.join('lmdeploy', 'serve', 'proxy', 'proxy.py')
ENDPOINTS = os.path.join(PKG, 'serve', 'openai', 'endpoints')
endpoint_files = [os.path.join('lmdeploy', 'serve', 'openai', 'endpoints', n) for n in sorted(os.listdir(ENDPOINTS))
                  if n.endswith('.py')] if os.path.isdir(ENDPOINTS) else []
routes = routes_of([API_FILE] + endpoint_files, 'api_server', API_FILE) + routes_of([PROXY_FILE], 'proxy', PROXY_FILE)
seen, unique = set(), []
for r in routes:
    key = (r['path'], r['program'], tuple(r['methods']))
    if key not in seen:
        seen.add(key)
        unique.append(r)
routes = sorted(unique, key=lambda r: (r['path'], r['program'], r['methods']))

notes = [
    'parser built by lmdeploy.cli.entrypoint.run() (top-level parse_args intercepted on its first call)',
    'underscoresAsDashes: the top-level parser is lmdeploy.cli.utils.FlexibleArgumentParser, whose parse_args turns '
    '`--a_b` into `--a-b` (everything after `--` up to the first `.`) and `--a.b v` into `--a \'{"b": v}\'`'
    if flexible else f'the top-level parser is {type(parser).__name__} (no underscore rewriting)',
    'usage errors of api_server/proxy options are reported by the subparser (prog "%s" / "%s"); unrecognized arguments by '
    'the top-level parser (prog "%s")' % (api_parser.prog, proxy_parser.prog, parser.prog),
    'api_server --proxy-url: the api_server registers itself with the proxy (POST <proxy>/nodes/add) at startup',
]
port = next(a for a in api_parser._actions if '--server-port' in a.option_strings)
if port.default is None:
    notes.append('api_server --server-port has default None; its help says: ' + ' '.join((port.help or '').split()))

provenance = {
    'recordedBy': 'tools/engine-cli/drivers/lmdeploy.py',
    'how': 'ran lmdeploy.cli.entrypoint.run() to build the real argparse parser (CLI + SubCliServe + SubCliLite), '
           'dumped serve/api_server and serve/proxy with catalog.argparse_program, ran the real parse_args on our command lines',
    'realModules': sorted(m for m in REAL if m in sys.modules),
    'stubbedImports': stubimport.stubbed(),
    'selfCheck': self_checks,
    'notes': notes,
}
catalog.write(args.out, 'lmdeploy', 'lmdeploy', args.version, programs, routes, provenance)
print(f'lmdeploy {args.version}: api_server {len(programs["api_server"]["options"])} options, proxy '
      f'{len(programs["proxy"]["options"])} options, {len(routes)} routes; selfCheck api_server '
      f'{"accepted" if checks["api_server"]["accepted"] else checks["api_server"]["error"]}; proxy '
      f'{"accepted" if checks["proxy"]["accepted"] else checks["proxy"]["error"]}; stubbed: {", ".join(stubimport.stubbed())}')
