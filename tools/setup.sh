#!/usr/bin/env bash
# Installs everything the tests need that npm does not: binaries built from the
# Go module proxy (cached by version under ~/.cache). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash tools/build-k8s.sh >/dev/null
echo "setup: control-plane binaries ready after $(( $(date +%s) - start ))s"
bash tools/build-prometheus.sh >/dev/null
echo "setup: prometheus/promtool ready after $(( $(date +%s) - start ))s"
