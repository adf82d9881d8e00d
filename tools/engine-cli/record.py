#!/usr/bin/env python3
"""Record an engine release's command-line surface and HTTP routes from its own code.

    python3 tools/engine-cli/record.py --engine vllm --version 0.33.0

Installs `<package>==<version>` with `--no-deps`, plus what the driver's `# requires:` line names,
into ~/.cache/cdk8s-inference-monitoring/engine-cli-venvs/<engine>-<version> (kept by version), then
runs drivers/<engine>.py in that venv. The driver builds the release's own argument parser (argparse,
click or clap, stubbing imports that are not about arguments) and reads its routes, and writes
test/fixtures/engine-cli/<engine>-<version>.json in the format catalog.py describes.

The catalogs are committed; CI never runs this (it needs PyPI).
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
METRICS_TOOLS = os.path.join(ROOT, 'tools', 'engine-metrics')
sys.path.insert(0, METRICS_TOOLS)
from record import cache_root, install_venv  # noqa: E402  (the engine-metrics recorder's venvs)


def driver_meta(engine):
    """`# package:` and `# requires:` lines of drivers/<engine>.py."""
    text = open(os.path.join(HERE, 'drivers', f'{engine}.py')).read()
    package = re.search(r'^# package: (\S+)', text, re.M)
    requires = re.search(r'^# requires:(.*)$', text, re.M)
    return (package.group(1) if package else engine), (requires.group(1).split() if requires else [])


def venv_for(engine, version, python):
    package, requires = driver_meta(engine)
    return install_venv(os.path.join(cache_root(), 'engine-cli-venvs', f'{engine}-{version}'), package, version, requires, python)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--engine', required=True)
    ap.add_argument('--version', required=True)
    ap.add_argument('--out', help='default: test/fixtures/engine-cli/<engine>-<version>.json')
    ap.add_argument('--python')
    args = ap.parse_args()
    out = args.out or os.path.join(ROOT, 'test', 'fixtures', 'engine-cli', f'{args.engine}-{args.version}.json')
    py = venv_for(args.engine, args.version, args.python)
    site = subprocess.check_output([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True).strip()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, METRICS_TOOLS]), PYTHONDONTWRITEBYTECODE='1')
    subprocess.check_call([py, os.path.join(HERE, 'drivers', f'{args.engine}.py'), '--version', args.version,
                           '--out', os.path.abspath(out), '--site', site], env=env)


if __name__ == '__main__':
    main()
