#!/usr/bin/env python3
"""transformers: `transformers serve`, from the release's own parser.

4.x: an argparse command. transformers/commands/transformers_cli.py main() builds an HfArgumentParser
and each command's register_subcommand adds its subparser; `serve` is ServeCommand in
transformers/commands/serving.py, whose options come from the ServeArguments dataclass through
HfArgumentParser (transformers/hf_argparser.py: `--a_b` and `--a-b` aliases, bools as `nargs='?'`
with string_to_bool, `--no_x` complements for bools that default to True). main() is run for real
with HfArgumentParser.parse_args intercepted on its first call; the self-check then runs the real
parse_args on the captured parser.
Real: transformers.commands.transformers_cli, transformers.commands (BaseTransformersCLICommand),
transformers.commands.serving, transformers.hf_argparser (HfArgumentParser, also given to the
stubbed `transformers` package, which is where transformers_cli imports it from), pyyaml.
Stubbed: the other commands' modules (chat, convert, download, env, run, add_new_model_like, ...:
their register_subcommand is a no-op, so the top-level parser has `serve` only), torch, and the
serving module's model, generation, fastapi/openai/pydantic imports: none of them touches
ServeArguments or the parser.

5.x: a typer app. transformers/cli/transformers.py builds `app = typer_factory(...)` (huggingface_hub)
and registers the commands, `serve` being the Serve class of transformers/cli/serve.py, whose
__init__ annotations (typer.Option / typer.Argument) are the options. With the huggingface_hub of the
release's time typer_factory returns a typer.Typer and typer.main.get_command(app) gives the click
Group; newer huggingface_hub 1.x releases (1.33.0, what `pip install transformers==5.x` resolves
today) return their own click Group (huggingface_hub/cli/_framework.py, a copy of typer's
annotation-to-click translation) and that group is used as it is. Both give the same `serve`
options (checked for 5.2.0, 5.4.0 and 5.8.1 with huggingface_hub 1.5.0 + typer 0.25.1 against
1.33.0 + typer 0.29.2); only the rendering of errors differs. The click Command of `serve` is
dumped in the catalog's shape (parser "click": no abbreviations, exit status 2, "Error: {message}").
The self-check runs the group's real main() on our command line with serve's invoke replaced
(parsing and conversion only, Serve is never called) and, when that fails, the real standalone
main() to capture what the user sees.
Real: transformers.cli.* (the CLI modules), huggingface_hub, typer, click, pydantic (installed for
real: typer needs it; see the packages note). Stubbed: the serving implementation's heavy imports
(torch, tokenizers, the model classes, fastapi/uvicorn/openai, and pydantic as imported by
transformers' own modules, which build TypeAdapters of stubbed request types at import time), none
of which is an annotation of Serve.__init__.

Routes are read from the source (FastAPI decorators) of commands/serving.py (4.x), cli/serve.py
and cli/serving/*.py (5.x), not served.
"""
# package: transformers
# requires: pyyaml huggingface_hub<2.0 typer
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
PKG = os.path.join(SITE, 'transformers')
OUR_ARGS = ['--host', '0.0.0.0', '--port', '8000', '--continuous-batching', '--force-model', 'Qwen/Qwen2.5-0.5B-Instruct']
ARGV = ['transformers', 'serve']


def modules_under(folder, prefix):
    out = [prefix]
    for name in sorted(os.listdir(folder)):
        if name.endswith('.py') and name != '__init__.py':
            out.append(f'{prefix}.{name[:-3]}')
        elif os.path.isdir(os.path.join(folder, name)) and os.path.exists(os.path.join(folder, name, '__init__.py')):
            out += modules_under(os.path.join(folder, name), f'{prefix}.{name}')
    return out


def version_of(dist):
    from importlib.metadata import version, PackageNotFoundError
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


# pydantic is real in the venv (typer requires it) but the serving modules build TypeAdapters of request types made
# of stubs (openai, fastapi) at import time: for imports made by transformers' own modules it is a stub.
import builtins  # noqa: E402
_real_import = builtins.__import__
_PYDANTIC_STUB = stubimport.StubModule('pydantic')
_PYDANTIC_STUB.__path__ = []


_HOOK = """
def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if (level == 0 and (name == 'pydantic' or name.startswith('pydantic.')) and globals
            and str(globals.get('__name__', '')).startswith('transformers')):
        STUBBED.add('pydantic')
        return PYDANTIC_STUB
    return real_import(name, globals, locals, fromlist, level)
"""
# Defined under an importlib.* module name so stubimport's importer lookup looks through this frame to the real importer.
_hook_ns = {'__name__': 'importlib._engine_cli_pydantic_hook', 'STUBBED': stubimport.STUBBED,
            'PYDANTIC_STUB': _PYDANTIC_STUB, 'real_import': _real_import}
exec(compile(_HOOK, __file__, 'exec'), _hook_ns)
_import = _hook_ns['_import']


builtins.__import__ = _import

LEGACY = os.path.exists(os.path.join(PKG, 'commands', 'serving.py'))
notes = []

if LEGACY:
    REAL = ['transformers.commands', 'transformers.commands.transformers_cli', 'transformers.commands.serving',
            'transformers.hf_argparser']
    stubimport.install(REAL, ['transformers', 'torch', 'tokenizers', 'accelerate'], SITE)
    from transformers import hf_argparser  # noqa: E402
    HfArgumentParser = hf_argparser.HfArgumentParser
    stubimport.override('transformers', HfArgumentParser=HfArgumentParser)
    from transformers.commands import transformers_cli  # noqa: E402

    class _Built(Exception):
        pass

    captured = {}
    real_parse_args = HfArgumentParser.parse_args

    def _intercept(self, *a, **k):
        captured['parser'] = self
        raise _Built()

    HfArgumentParser.parse_args = _intercept
    saved_argv = sys.argv
    sys.argv = ['transformers']
    try:
        transformers_cli.main()
        raise SystemExit('transformers_cli.main() returned without parsing')
    except _Built:
        pass
    finally:
        sys.argv = saved_argv
        HfArgumentParser.parse_args = real_parse_args
    parser = captured['parser']
    program = catalog.argparse_program(parser, ARGV, subcommands=('serve',))
    serve_parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices['serve']

    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            ns = parser.parse_args(['serve'] + OUR_ARGS)
        check = {'argv': ARGV + OUR_ARGS, 'accepted': True, 'exitCode': 0,
                 'parsed': {k: catalog._jsonable(v) for k, v in sorted(vars(ns).items()) if not callable(v)}}
    except SystemExit as e:
        text = err.getvalue()
        lines = text.rstrip('\n').splitlines()
        check = {'argv': ARGV + OUR_ARGS, 'accepted': False, 'exitCode': e.code,
                 'error': next((ln for ln in lines if ': error: ' in ln), lines[-1] if lines else ''), 'stderr': text}
    probe_checks = probes.verdicts(program, lambda w: probes.argparse_verdict(parser, ['serve'] + w))
    how = ('ran transformers.commands.transformers_cli.main() to build the real HfArgumentParser (serve subparser from '
           'ServeArguments), dumped it with catalog.argparse_program, ran the real parse_args on our command line')
    notes += [
        'HfArgumentParser adds each dataclass field as `--name_with_underscores` plus a `--name-with-dashes` alias; '
        'bool fields take an optional value (nargs "?", const True, type string_to_bool: yes/true/t/y/1, no/false/f/n/0)',
        'usage errors of serve options are reported by the serve subparser (prog "%s"); unrecognized arguments by the '
        'top-level parser (prog "%s")' % (serve_parser.prog, parser.prog),
        'only `serve` is registered on the top-level parser here: the other commands\' modules are stubs',
    ]
else:
    REAL = modules_under(os.path.join(PKG, 'cli'), 'transformers.cli')
    stubimport.install(REAL, ['transformers', 'torch', 'tokenizers', 'accelerate'], SITE)
    import importlib  # noqa: E402
    import typer  # noqa: E402
    import typer.main  # noqa: E402
    try:
        from transformers.cli import transformers as cli_module  # noqa: E402
    except TypeError as e:
        # e.g. 5.3.0 (`from __future__ import annotations` in cli/serve.py) with huggingface_hub 1.33.0, whose
        # _framework cannot read string annotations: the real `transformers` CLI fails the same way at start.
        raise SystemExit('transformers %s: its CLI does not build with huggingface_hub %s: %s'
                         % (args.version, version_of('huggingface_hub'), e))

    app = cli_module.app
    if isinstance(app, typer.Typer):
        group = typer.main.get_command(app)
        builder = 'typer.main.get_command(app) (typer %s)' % version_of('typer')
    else:
        # Newer huggingface_hub releases: typer_factory returns its own click Group (huggingface_hub/cli/_framework.py,
        # which turns the typer.Option/typer.Argument annotations into click parameters the way typer does).
        group = app
        builder = '%s.%s, which huggingface_hub.typer_factory returned' % (type(app).__module__, type(app).__name__)
    # click itself, or the copy typer vendors (typer._click, typer >= 0.26): the one the command is made of.
    core = next(c.__module__ for c in type(group).__mro__ if c.__module__ in ('click.core', 'typer._click.core'))
    click = importlib.import_module(core.rsplit('.', 1)[0])
    builder += '; click classes from %s' % click.__name__
    serve_cmd = group.commands['serve']
    TYPES = {'text': 'str', 'integer': 'int', 'float': 'float', 'boolean': 'bool'}

    def type_name(t):
        if isinstance(t, click.Choice):
            return 'str'
        return TYPES.get(getattr(t, 'name', ''), getattr(t, 'name', type(t).__name__))

    # Contexts as a real run makes them (the group's context_settings, e.g. help_option_names, are inherited).
    root_ctx = group.make_context('transformers', ['serve'], resilient_parsing=True)
    ctx = serve_cmd.make_context('serve', [], parent=root_ctx, resilient_parsing=True)
    options, positionals = [], []
    for p in serve_cmd.get_params(ctx):
        choices = [str(c) for c in p.type.choices] if isinstance(p.type, click.Choice) else None
        if isinstance(p, click.Option):
            flag = bool(p.is_flag)
            is_help = '--help' in p.opts and not p.expose_value
            entry = {'flags': list(p.opts) + list(p.secondary_opts), 'dest': p.name, 'nargs': 0 if flag else p.nargs,
                     'type': None if flag else type_name(p.type), 'choices': choices, 'required': bool(p.required),
                     'default': None if is_help else catalog._jsonable(p.default), 'env': p.envvar if isinstance(p.envvar, str) else (list(p.envvar) if p.envvar else None),
                     'action': 'help' if is_help else 'flag' if flag else 'append' if p.multiple else 'store'}
            if p.secondary_opts:
                entry['secondaryFlags'] = list(p.secondary_opts)   # set the value to False
            if p.hidden:
                entry['hidden'] = True
            options.append(entry)
        else:
            nargs = p.nargs
            positionals.append({'dest': p.name, 'nargs': ('?' if not p.required else 1) if nargs == 1 else ('*' if nargs == -1 else nargs),
                                'type': type_name(p.type), 'choices': choices, 'required': bool(p.required),
                                'default': catalog._jsonable(p.default)})
    program = {'argv': ARGV, 'parser': 'click', 'allowAbbrev': False, 'underscoresAsDashes': False, 'exitCode': 2,
               'errorFormat': 'Error: {message}', 'prog': 'transformers serve', 'options': options, 'positionals': positionals}

    # The real run: group.main() parses, resolves `serve` and makes its context; only Serve itself is not called
    # (serve_cmd.invoke is replaced for the check), so nothing is loaded or served.
    captured = {}
    serve_cmd.invoke = lambda c: captured.setdefault('params', dict(c.params))

    def run_main(standalone, words=OUR_ARGS):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                group.main(['serve'] + list(words), prog_name='transformers', standalone_mode=standalone)
                return 0, None, err.getvalue() + out.getvalue()
            except SystemExit as x:
                return x.code, None, err.getvalue() + out.getvalue()
            except click.exceptions.ClickException as e:
                return e.exit_code, e, err.getvalue() + out.getvalue()

    code, exc, _ = run_main(False)
    if exc is None and 'params' in captured:
        check = {'argv': ARGV + OUR_ARGS, 'accepted': True, 'exitCode': 0,
                 'parsed': {k: catalog._jsonable(v) for k, v in sorted(captured['params'].items())}}
    else:
        # What the user sees: the real standalone main() (it fails while parsing, before Serve would be called).
        scode, _, text = run_main(True)
        message = exc.format_message() if exc is not None else ''
        check = {'argv': ARGV + OUR_ARGS, 'accepted': False, 'exitCode': scode, 'error': 'Error: ' + message.split('\n')[0],
                 'message': message, 'stderr': text}

    def click_verdict(words):
        captured.clear()
        code, exc, _ = run_main(False, words)
        if exc is None and 'params' in captured:
            return {'accepted': True, 'exitCode': 0}
        scode, _, text = run_main(True, words)
        return {'accepted': False, 'exitCode': scode, 'stderr': text}
    probe_checks = probes.verdicts(program, click_verdict)
    del serve_cmd.invoke
    hub_group = 'huggingface_hub' in type(group).__module__
    if hub_group and hasattr(group, '_rewrite_repo_type_prefix'):
        notes.append('the huggingface_hub group (%s) also consumes the global formatting flags --format/--json/-q/--quiet/'
                     '--no-truncate anywhere in a leaf command\'s arguments, before click parses them, and adds the '
                     'command\'s options to a "No such option" error (see selfCheck.stderr)' % type(group).__name__)
    how = ('imported transformers.cli.transformers (its app from huggingface_hub.typer_factory) and took the click Command '
           'of `serve` from ' + builder + '; wrote its params in the catalog shape; ran the group\'s real main() on our '
           'command line with serve\'s invoke replaced (parsing and conversion only; Serve is never called)')
    notes += [
        'click: options are exact (no prefixes); a boolean option is a flag pair --x/--no-x (secondaryFlags set it False); '
        'the error text is also rendered by typer (rich panel when rich is installed), see selfCheck.stderr',
        'packages: typer %s, click %s (used: %s), huggingface_hub %s, rich %s' % (version_of('typer'), version_of('click'), click.__name__,
                                                                     version_of('huggingface_hub'), version_of('rich')),
    ]

# How continuous batching is switched on, from the source.
serve_src = ''.join(open(os.path.join(PKG, rel)).read() for rel in ('commands/serving.py', 'cli/serve.py')
                    if os.path.exists(os.path.join(PKG, rel)))
if 'attn_implementation == "sdpa_paged"' in serve_src:
    notes.append('no continuous-batching option: continuous batching is on when --attn_implementation is sdpa_paged')
elif 'default_attention_implementation()' in serve_src:
    notes.append('--continuous-batching: when no --attn_implementation is given it defaults to '
                 'ContinuousBatchingManager.default_attention_implementation() (sdpa_paged); other values must be in '
                 'supported_attention_implementations() or the server refuses to start')
# Routes, from the source.
METHODS = {'get': ['GET'], 'post': ['POST'], 'put': ['PUT'], 'delete': ['DELETE'], 'patch': ['PATCH']}
files = []
for rel in ('commands/serving.py', 'cli/serve.py'):
    if os.path.exists(os.path.join(PKG, rel)):
        files.append(rel)
if os.path.isdir(os.path.join(PKG, 'cli', 'serving')):
    files += ['cli/serving/' + n for n in sorted(os.listdir(os.path.join(PKG, 'cli', 'serving'))) if n.endswith('.py')]


def health_note(fn):
    text = ast.unparse(fn)
    if '503' in text or 'SERVICE_UNAVAILABLE' in text:
        return 'handler %s(): 200 while healthy, 503 in some state (see the handler: %s)' % (fn.name, ' '.join(text.split())[:300])
    return 'handler %s(): %s' % (fn.name, ' '.join(text.split())[:200])


routes, seen = [], set()
for rel in files:
    path = os.path.join(PKG, rel)
    tree = ast.parse(open(path).read(), path)
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for d in fn.decorator_list:
            if (isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in METHODS and d.args
                    and isinstance(d.args[0], ast.Constant) and isinstance(d.args[0].value, str) and d.args[0].value.startswith('/')):
                route = d.args[0].value
                key = (route, d.func.attr)
                if key in seen:
                    continue
                seen.add(key)
                note = health_note(fn) if route == '/health' else 'handler %s()' % fn.name
                routes.append({'path': route, 'methods': METHODS[d.func.attr], 'source': 'transformers/' + rel, 'note': note})
if not any(r['path'] == '/metrics' for r in routes):
    notes.append('no /metrics route in %s: transformers serve exports no Prometheus endpoint (its continuous-batching '
                 'metrics are OpenTelemetry, pushed by an OTLP exporter when one is configured)' % ', '.join(files))

provenance = {
    'recordedBy': 'tools/engine-cli/drivers/transformers.py',
    'how': how,
    'realModules': sorted(m for m in REAL if m in sys.modules),
    'stubbedImports': stubimport.stubbed(),
    'selfCheck': [check] + probe_checks,
    'notes': notes + ['overridden in stubs: %s: %s' % (k, ', '.join(a)) for k, a in stubimport.OVERRIDDEN.items()],
}
catalog.write(args.out, 'transformers', 'transformers', args.version, {'serve': program}, routes, provenance)
print(f'transformers {args.version}: serve ({program["parser"]}) {len(program["options"])} options, '
      f'{len(program["positionals"])} positionals, {len(routes)} routes; selfCheck '
      f'{"accepted" if check["accepted"] else check["error"]}; stubbed: {", ".join(stubimport.stubbed())}')
