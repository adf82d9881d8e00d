#!/usr/bin/env python3
"""Record an inference engine's real metrics from its released package.

    python3 tools/engine-metrics/record.py --engine vllm --version 0.33.0 --out test/fixtures/engines/vllm-0.33.0/

Installs `<package>==<version>` with `--no-deps` (plus prometheus_client and numpy, which
the metrics modules import) into ~/.cache/cdk8s-inference-monitoring/engine-venvs/<engine>-<version>,
then runs drivers/<engine>.py in that venv: it imports the engine's own metric classes
(stubbing imports that are not about metrics, see stubimport.py), feeds them synthetic stats
for two data-parallel ranks and writes into --out:

  <engine>.prom / <engine>-rank<N>.prom   the /metrics exposition after the fed interval
  <engine>[-rank<N>].before.prom           the exposition at the start of the interval
  catalog.json                             name, type, labels, bucket bounds
  stats.json                               the stats fed in and the interval length
  provenance.json                          what ran, what was stubbed

With --multinode, runs drivers/<engine>_multinode.py instead and writes <out>/multinode/ (see
multinode_common.py): per multi-node mode, which pod of a LeaderWorkerSet group serves which /metrics.

The fixtures are committed; CI never runs this (it needs PyPI).
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = {'vllm': 'vllm', 'lmdeploy': 'lmdeploy', 'sglang': 'sglang', 'transformers': 'transformers'}
# What the metrics modules import besides the engine itself (installed for real, not stubbed).
EXTRA = {'vllm': ['prometheus_client', 'numpy'], 'lmdeploy': ['prometheus_client', 'numpy'],
         'sglang': ['prometheus_client', 'numpy'], 'transformers': ['prometheus_client', 'opentelemetry-sdk']}
PYTHONS = ['python3.11', 'python3.12', 'python3']


def interpreter_path(name):
    """`name` on PATH, or under pyenv's versions (pyenv shims refuse versions that are not selected)."""
    import glob
    found = shutil.which(name)
    if found and subprocess.call([found, '-c', ''], stderr=subprocess.DEVNULL) == 0:
        return found
    for p in sorted(glob.glob(os.path.expanduser(f'~/.pyenv/versions/*/bin/{name}'))):
        return p
    return None


def install_venv(root, package, version, extra, python):
    """A venv at `root` with `package==version` (--no-deps) and `extra`, on the first interpreter whose
    Python the wheel accepts; kept (a `.installed` marker) and reused. Returns its python."""
    py = os.path.join(root, 'bin', 'python')
    if os.path.exists(os.path.join(root, '.installed')):
        return py
    candidates = [python] if python else PYTHONS
    for interpreter in candidates:
        exe = interpreter_path(interpreter)
        if not exe:
            continue
        shutil.rmtree(root, ignore_errors=True)
        subprocess.check_call([exe, '-m', 'venv', root])
        pip = [py, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-conflicts']
        # The wheel's Requires-Python decides the interpreter (SGLang 0.5.23 needs 3.12).
        if subprocess.call(pip + ['--no-deps', f'{package}=={version}']) != 0:
            print(f'{package}=={version} does not install on {interpreter}, trying the next interpreter', file=sys.stderr)
            continue
        if extra:
            subprocess.check_call(pip + list(extra))
        open(os.path.join(root, '.installed'), 'w').close()
        return py
    raise SystemExit(f'{package}=={version} installs on none of {candidates}')


def cache_root():
    return os.environ.get('CIM_CACHE', os.path.join(os.path.expanduser('~'), '.cache', 'cdk8s-inference-monitoring'))


def venv_for(engine, version, python):
    return install_venv(os.path.join(cache_root(), 'engine-venvs', f'{engine}-{version}'), PACKAGES[engine], version, EXTRA[engine], python)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--engine', required=True, choices=sorted(PACKAGES))
    ap.add_argument('--version', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--python', help='interpreter for the venv (default: the first of %s that installs the wheel)' % PYTHONS)
    ap.add_argument('--multinode', action='store_true', help='record the multi-node layouts (drivers/<engine>_multinode.py) into <out>/multinode/')
    args = ap.parse_args()
    py = venv_for(args.engine, args.version, args.python)
    site = subprocess.check_output([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True).strip()
    env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE='1')
    driver, extra = f'{args.engine}.py', []
    if args.multinode:
        # The multi-node drivers read the mode's command lines with the release's recorded command-line catalog.
        driver = f'{args.engine}_multinode.py'
        extra = ['--cli-catalog', os.path.join(os.path.dirname(os.path.dirname(HERE)), 'test', 'fixtures', 'engine-cli', f'{args.engine}-{args.version}.json')]
    subprocess.check_call([py, os.path.join(HERE, 'drivers', driver), '--version', args.version, '--out', os.path.abspath(args.out), '--site', site] + extra, env=env)


if __name__ == '__main__':
    main()
