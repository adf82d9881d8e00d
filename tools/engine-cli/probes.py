#!/usr/bin/env python3
"""Probe command lines for a catalog program: what decides whether a parser accepts a line.

    probes(program) -> [(name, words)]    words: the arguments after program['argv']

`program` is one entry of catalog['programs'] (catalog.py). The probes use the program's own option
names (a real int option, a real flag, a real choice option, ...), so each release gets lines that mean
something for it: a minimal valid line, unknown options, unique and ambiguous prefixes, the underscore
spelling, `--flag=value`, missing values, values that look like options, bad and negative ints, bad
floats, choices, `--opt=value`, missing and extra positionals, `--`, --x/--no-x pairs, repeated
options, short options, nargs '+', '*' and '?'. A probe whose ingredient the program lacks is left out.

The drivers run every probe through the release's REAL parser and store the verdicts in
provenance.selfCheck; test/component/engine-command-lines.test.ts checks the stand-in's parser against them.

    python3 tools/engine-cli/probes.py <catalog.json> [<program key>]   # prints the probes as JSON
"""
import json
import sys

PLAIN_TYPES = {None, 'str', 'int', 'float', 'bool', 'path'}
UNKNOWN = '--no-such-option'


def _longs(o):
    return [f for f in o['flags'] if f.startswith('--')]


def _short(o):
    return next((f for f in o['flags'] if len(f) == 2 and f[0] == '-' and f[1] != '-'), None)


def _dashed(o):
    """A long flag with a dash whose underscore spelling is not a flag of the option too."""
    return next((f for f in _longs(o) if '-' in f[2:] and '--' + f[2:].replace('-', '_') not in o['flags']), None)


def _usable(o):
    return o['action'] not in ('help', 'version') and not o.get('hidden') and not o['required'] and _longs(o)


def _value(o, t=None):
    """A value the option's type and choices accept."""
    if o.get('choices'):
        return o['choices'][0]
    return {'int': '8001', 'float': '0.5', 'bool': 'true', 'string_to_bool': 'true'}.get(t or o['type'], 'x')


def _pick(options, test, prefer=()):
    hits = [o for o in options if _usable(o) and test(o)]
    hits.sort(key=lambda o: next((i for i, p in enumerate(prefer) if p in o['flags']), len(prefer)))
    return hits[0] if hits else None


def _unique_prefix(options, o):
    """The shortest proper prefix of o's first long flag that no other option's long flag starts with."""
    flag, others = _longs(o)[0], [f for x in options if x is not o for f in _longs(x)]
    exact = {f for x in options for f in x['flags']}
    for n in range(4, len(flag)):
        p = flag[:n]
        if p[-1] not in '-_' and p not in exact and not any(f.startswith(p) for f in others):
            return p
    return None


def _ambiguous_prefix(options):
    """A prefix (not itself a flag) that long flags of two different options start with: the longest such."""
    flags = sorted((f, i) for i, o in enumerate(options) for f in _longs(o))
    exact = {f for o in options for f in o['flags']}
    best = None
    for (a, i), (b, j) in zip(flags, flags[1:]):
        if i == j:
            continue
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        p = a[:n].rstrip('-_')
        if len(p) >= 5 and p not in exact and (best is None or len(p) > len(best)):
            best = p
    return best


def _spellings_prefix(options):
    """A prefix matching two spellings (e.g. --a_b and --a-b) of one option and nothing else."""
    exact = {f for o in options for f in o['flags']}
    for o in options:
        longs = _longs(o)
        if len(longs) < 2 or not _usable(o):
            continue
        n = 0
        while all(len(f) > n for f in longs) and len({f[n] for f in longs}) == 1:
            n += 1
        p = longs[0][:n]
        others = [f for x in options if x is not o for f in _longs(x)]
        if len(p) > 3 and p not in exact and not any(f.startswith(p) for f in others):
            return o, p
    return None, None


def probes(program):
    opts = program['options']
    out = []

    def add(name, words):
        if all(w is not None for w in words):
            out.append((name, [str(w) for w in words]))

    # The minimal valid line: required positionals and options filled.
    positional_words = []
    for p in program.get('positionals', []):
        if p['required'] and p['nargs'] != 'subcommand':
            count = p['nargs'] if isinstance(p['nargs'], int) else 1
            positional_words += [(p.get('choices') or ['org/model'])[0]] * count
    required_words = []
    for o in opts:
        if o['required'] and o['action'] not in ('help', 'version'):
            required_words += [(_longs(o) or o['flags'])[0]] + ([_value(o)] if o['nargs'] != 0 else [])
    base = positional_words + required_words
    add('minimal valid line', base)

    port_like = ('--port', '--server-port', '-p', '--tp', '--tp-size')
    int_opt = _pick(opts, lambda o: o['nargs'] == 1 and o['type'] == 'int' and not o['choices'] and o['action'] != 'append', port_like)
    float_opt = _pick(opts, lambda o: o['nargs'] == 1 and o['type'] == 'float' and not o['choices'])
    str_opt = _pick(opts, lambda o: o['nargs'] == 1 and o['type'] in ('str', 'path') and not o['choices'] and o['action'] != 'append',
                    ('--host', '--hostname', '--server-name'))
    choice_opt = _pick(opts, lambda o: o['nargs'] == 1 and o['choices'] and o['action'] != 'append')
    flag_opt = (_pick(opts, lambda o: o['nargs'] == 0 and o['action'] != 'booleanoptional' and not o.get('secondaryFlags'),
                      ('--enable-metrics', '--trust-remote-code', '--json-output'))
                or _pick(opts, lambda o: o['nargs'] == 0))
    pair_opt = _pick(opts, lambda o: o['nargs'] == 0 and (o['action'] == 'booleanoptional' or o.get('secondaryFlags')))
    bool_value_opt = _pick(opts, lambda o: o['nargs'] == 1 and o['type'] == 'bool')
    plus_opt = _pick(opts, lambda o: o['nargs'] == '+' and o['type'] in PLAIN_TYPES and not o['choices'])
    star_opt = _pick(opts, lambda o: o['nargs'] == '*' and o['type'] in PLAIN_TYPES and not o['choices'] and o['action'] == 'store')
    optional_opt = _pick(opts, lambda o: o['nargs'] == '?' and (o['type'] in PLAIN_TYPES or o['type'] == 'string_to_bool') and not o['choices'])
    append_opt = _pick(opts, lambda o: o['action'] == 'append' and o['nargs'] == 1 and o['type'] in PLAIN_TYPES)
    short_opt = _pick(opts, lambda o: o['nargs'] == 1 and _short(o) and o['type'] in PLAIN_TYPES)
    short_flag = _pick(opts, lambda o: o['nargs'] == 0 and _short(o))
    I = _longs(int_opt)[0] if int_opt else None
    S = _longs(str_opt)[0] if str_opt else None
    F = _longs(flag_opt)[0] if flag_opt else None

    add('unknown long option', base + [UNKNOWN])
    add('unknown long option with =value', base + [UNKNOWN + '=1'])
    add('unknown short option', base + ['-Z'])
    add('int option', base + [I, '8001'])
    add('int option, --opt=value', base + [f'{I}=8001' if I else None])
    add('int option, --opt= (empty value)', base + [f'{I}=' if I else None])
    add('int option, missing value at the end', base + [I])
    add('int option, value "abc"', base + [I, 'abc'])
    add('int option, negative value', base + [I, '-1'])
    add('int option, negative value as --opt=-1', base + [f'{I}=-1' if I else None])
    add('int option, value with underscores "1_000"', base + [I, '1_000'])
    add('int option, value "70000" (above 65535)', base + [I, '70000'])
    add('int option, repeated', base + [I, '8001', I, '8002'])
    if int_opt:
        prefix = _unique_prefix(opts, int_opt)
        add('unique prefix of a long option', base + [prefix, '8001'] if prefix else [None])
        add('unique prefix of a long option, =value', base + [f'{prefix}=8001' if prefix else None])
    dashed_opt = _pick(opts, lambda o: o['nargs'] == 1 and o['type'] == 'int' and not o['choices'] and _dashed(o), port_like)
    if dashed_opt:
        add('underscore spelling of a dashed option', base + ['--' + _dashed(dashed_opt)[2:].replace('-', '_'), '8001'])
    amb = _ambiguous_prefix(opts)
    add('ambiguous prefix', base + [amb, '1'] if amb else [None])
    o, p = _spellings_prefix(opts)
    if o:
        add('prefix of two spellings of one option', base + [p] + ([_value(o)] if o['nargs'] == 1 else []))
    add('zero-argument flag', base + [F])
    add('zero-argument flag with =value', base + [f'{F}=1' if F else None])
    add('zero-argument flag, repeated', base + [F, F])
    add('str option, value that looks like an option', base + [S, F or UNKNOWN])
    add('str option, dash value with a space', base + [S, '--x y'])
    add('str option, --opt= (empty value)', base + [f'{S}=' if S else None])
    if float_opt:
        fl = _longs(float_opt)[0]
        add('float option, value "abc"', base + [fl, 'abc'])
        add('float option, negative value', base + [fl, '-0.5'])
        add('float option, value "1e-3"', base + [fl, '1e-3'])
    if choice_opt:
        c = _longs(choice_opt)[0]
        add('choice option, bad choice', base + [c, 'no-such-choice'])
        add('choice option, good choice', base + [c, choice_opt['choices'][-1]])
        upper = choice_opt['choices'][-1].upper()
        if upper != choice_opt['choices'][-1]:
            add('choice option, good choice in upper case', base + [c, upper])
    if bool_value_opt:
        b = _longs(bool_value_opt)[0]
        add('bool-valued option, "true"', base + [b, 'true'])
        add('bool-valued option, "yes"', base + [b, 'yes'])
    if pair_opt:
        yes = _longs(pair_opt)[0]
        no = (pair_opt.get('secondaryFlags') or [f for f in _longs(pair_opt) if f.startswith('--no-')] or [None])[0]
        add('--x of a --x/--no-x pair', base + [yes])
        add('--no-x of a --x/--no-x pair', base + [no])
        add('--no-x=1 of a --x/--no-x pair', base + [f'{no}=1' if no else None])
    if plus_opt:
        pl, v = _longs(plus_opt)[0], _value(plus_opt)
        add("nargs '+' with two values", base + [pl, v, v])
        add("nargs '+' with no value at the end", base + [pl])
        add("nargs '+' with no value before a flag", base + [pl, F or UNKNOWN])
    if star_opt:
        st, v = _longs(star_opt)[0], _value(star_opt)
        add("nargs '*' with no value", base + [st])
        add("nargs '*' with two values", base + [st, v, v])
    if optional_opt:
        q = _longs(optional_opt)[0]
        add("nargs '?' with no value", base + [q])
        add("nargs '?' with a value", base + [q, _value(optional_opt)])
        if optional_opt['type'] == 'string_to_bool':
            add("nargs '?' bool, value 'maybe'", base + [q, 'maybe'])
    if append_opt:
        ap, v = _longs(append_opt)[0], _value(append_opt)
        add('append option, repeated', base + [ap, v, ap, v])
    if short_opt:
        s, v = _short(short_opt), _value(short_opt)
        add('short option, separate value', base + [s, v])
        add('short option, attached value', base + [s + v])
        add('short option, -x=value', base + [f'{s}={v}'])
        if short_flag:
            add('short flag clustered with a short option', base + [_short(short_flag) + s[1] + v])
    if short_flag:
        add('short flag', base + [_short(short_flag)])
    add('extra positional', base + ['extra-word'])
    add('-- followed by a word', base + ['--', 'extra-word'])
    if positional_words:
        add('missing required positional', required_words)
        add('positional after --', required_words + ['--'] + positional_words)
        add('positional after an option', required_words + [I, '8001'] + positional_words if I else [None])
    else:
        add('-- alone', base + ['--'])
    if required_words:
        add('missing required option', positional_words)
    return out


def argparse_verdict(parser, words):
    """Run a real argparse parser on `words`: accepted, or its exit status and stderr (a crash counts as exit 1)."""
    import contextlib
    import io
    import traceback
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            parser.parse_args(list(words))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return {'accepted': code == 0, 'exitCode': code, 'stderr': err.getvalue()}
    except Exception:
        return {'accepted': False, 'exitCode': 1, 'stderr': err.getvalue() + traceback.format_exc(limit=1)}
    return {'accepted': True, 'exitCode': 0}


def verdicts(program, run):
    """Every probe of `program` through `run(words) -> {accepted, exitCode, stderr?}` (the real parser), as
    provenance.selfCheck entries: {probe, argv (with the program's words), accepted, exitCode, stderr}."""
    return [dict({'probe': name, 'argv': list(program['argv']) + words}, **run(words)) for name, words in probes(program)]


if __name__ == '__main__':
    doc = json.load(open(sys.argv[1]))
    keys = sys.argv[2:] or list(doc['programs'])
    json.dump({k: [{'probe': n, 'argv': doc['programs'][k]['argv'] + w} for n, w in probes(doc['programs'][k])] for k in keys},
              sys.stdout, indent=1)
    print()
