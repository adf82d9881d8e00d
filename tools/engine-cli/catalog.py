"""The command-line catalog of an engine release: written by the drivers, read by the stand-in and the tests.

One JSON file per release, `test/fixtures/engine-cli/<engine>-<version>.json`:

    {
      "engine": "vllm", "package": "vllm", "version": "0.33.0",
      "programs": {                       # every program the profiles start, keyed by a short name
        "serve": {
          "argv": ["vllm", "serve"],      # the words before the arguments, as a container command spells them
          "parser": "argparse",           # argparse | click | clap: how unknown options, values and abbreviations behave
          "allowAbbrev": true,            # argparse: unique prefixes of long options are accepted
          "underscoresAsDashes": false,   # vLLM's FlexibleArgumentParser: --tensor_parallel_size == --tensor-parallel-size
          "exitCode": 2,                  # the status the program exits with on a usage error
          "errorFormat": "{prog}: error: {message}",
          "options": [
            {"flags": ["--port"], "dest": "port", "nargs": 1, "type": "int", "choices": null,
             "required": false, "default": 8000, "env": null, "action": "store"}
          ],
          "positionals": [{"dest": "model_tag", "nargs": "?", "type": "str", "choices": null, "required": false}]
        }
      },
      "routes": [{"path": "/health", "methods": ["GET"], "source": "vllm/entrypoints/openai/api_server.py",
                  "note": "optional: how the route behaves when that matters to a probe",
                  "onlyWith": ["--flag"],      # optional: served only when one of these options is given
                  "process": "dp-supervisor"}], # optional: served by another process than the program's server
      "provenance": {"recordedBy": "tools/engine-cli/drivers/vllm.py", "how": "...", "python": "3.11.7",
                     "stubbedImports": [...], "notes": [...]}
    }

nargs: 0 (a flag), an integer count, or "?", "*", "+" (argparse's meanings; clap's and click's
multi-value options map onto them). type: "int", "float", "str", "bool" (a value parsed as a boolean),
or another parser's name (not checked). default: JSON (anything else as its repr).
"""
import argparse
import json
import os
import sys

FORMAT_VERSION = 1


def _jsonable(value):
    if value is argparse.SUPPRESS:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _type_name(t):
    if t is None:
        return 'str'
    if t in (int, float, str, bool):
        return t.__name__
    return getattr(t, '__name__', type(t).__name__)


def _nargs(action):
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction,
                           argparse._AppendConstAction, argparse._CountAction, argparse._HelpAction,
                           argparse._VersionAction)):
        return 0
    if getattr(argparse, 'BooleanOptionalAction', None) and isinstance(action, argparse.BooleanOptionalAction):
        return 0
    if action.nargs is None:
        return 1
    if action.nargs == argparse.OPTIONAL:
        return '?'
    if action.nargs == argparse.ZERO_OR_MORE:
        return '*'
    if action.nargs == argparse.ONE_OR_MORE:
        return '+'
    if action.nargs == argparse.REMAINDER:
        return '...'
    return action.nargs


def _action_name(action):
    return type(action).__name__.lstrip('_').replace('Action', '').lower() or 'store'


def argparse_program(parser, argv, subcommands=(), underscores_as_dashes=False):
    """The catalog entry of `parser`, descending into `subcommands` (e.g. ('serve', 'api_server'))."""
    for word in subcommands:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    options, positionals = [], []
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            positionals.append({'dest': a.dest, 'nargs': 'subcommand', 'type': 'str', 'choices': sorted(a.choices), 'required': True})
            continue
        entry = {
            'dest': a.dest,
            'nargs': _nargs(a),
            'type': _type_name(a.type) if _nargs(a) != 0 else None,
            'choices': [str(c) for c in a.choices] if a.choices is not None else None,
            'required': bool(a.required) if a.option_strings else a.nargs not in ('?', '*'),
        }
        if a.option_strings:
            options.append({'flags': list(a.option_strings), **entry, 'default': _jsonable(a.default), 'env': None, 'action': _action_name(a)})
        else:
            positionals.append(entry)
    return {
        'argv': list(argv),
        'parser': 'argparse',
        'allowAbbrev': bool(getattr(parser, 'allow_abbrev', True)),
        'underscoresAsDashes': underscores_as_dashes,
        'exitCode': 2,
        'errorFormat': '{prog}: error: {message}',
        'prog': parser.prog,
        'options': options,
        'positionals': positionals,
    }


def write(path, engine, package, version, programs, routes, provenance):
    provenance = dict(provenance)
    provenance.setdefault('python', sys.version.split()[0])
    doc = {'formatVersion': FORMAT_VERSION, 'engine': engine, 'package': package, 'version': version,
           'programs': programs, 'routes': sorted(routes, key=lambda r: r['path']), 'provenance': provenance}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write('\n')
