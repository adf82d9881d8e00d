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
bash tools/build-kube-score.sh >/dev/null
echo "setup: kube-score ready after $(( $(date +%s) - start ))s"
# PostgreSQL server binaries for the benchmark-dashboard tests (started per test in a temp dir).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
echo "setup: postgresql ready after $(( $(date +%s) - start ))s"
# Lua 5.1 (Argo CD runs health checks in a Lua 5.1 VM) for the health-check tests.
if ! command -v lua5.1 >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.1 >/dev/null
fi
echo "setup: lua5.1 ready after $(( $(date +%s) - start ))s"
