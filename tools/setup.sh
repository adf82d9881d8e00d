#!/usr/bin/env bash
# Installs everything the tests need that npm does not: binaries built from the
# Go module proxy (cached by version under ~/.cache), Debian packages. Idempotent: a second run only checks.
# The node's images are packed by tools/build-images.sh when the node test starts (it needs npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash tools/build-k8s.sh >/dev/null
echo "setup: control-plane and node binaries ready after $(( $(date +%s) - start ))s"
bash tools/build-node.sh >/dev/null
echo "setup: containerd, runc, CNI, umoci, ipset (Debian), CoreDNS and kube-router ready after $(( $(date +%s) - start ))s"
bash tools/build-images.sh --binaries >/dev/null
echo "setup: pause and engine stand-in binaries ready after $(( $(date +%s) - start ))s"
bash tools/build-prometheus.sh >/dev/null
echo "setup: prometheus/promtool ready after $(( $(date +%s) - start ))s"
bash tools/build-alertmanager.sh >/dev/null
echo "setup: alertmanager/amtool ready after $(( $(date +%s) - start ))s"
bash tools/build-operator.sh >/dev/null
echo "setup: prometheus-operator and prometheus-config-reloader ready after $(( $(date +%s) - start ))s"
bash tools/build-lws.sh >/dev/null; echo "setup: LeaderWorkerSet controller ready after $(( $(date +%s) - start ))s"
bash tools/build-kube-score.sh >/dev/null
echo "setup: kube-score ready after $(( $(date +%s) - start ))s"
bash tools/build-helm.sh >/dev/null
echo "setup: helm ready after $(( $(date +%s) - start ))s"
bash tools/build-argocd-sync.sh >/dev/null
echo "setup: argocd-sync (Argo CD's sync code) ready after $(( $(date +%s) - start ))s"
bash tools/build-crane.sh >/dev/null
echo "setup: crane ready after $(( $(date +%s) - start ))s"
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
