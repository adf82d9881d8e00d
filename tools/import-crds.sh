#!/usr/bin/env bash
# Regenerates src/imports/ (typed constructs) from the vendored upstream CRDs in ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
D=../shared/crds/prometheus-operator-v0.93.0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for f in servicemonitors podmonitors prometheusrules prometheuses; do
  cat "$D/monitoring.coreos.com_$f.yaml"; printf '\n---\n'
done > "$T/prometheus-operator.yaml"
npx cdk8s import "$T/prometheus-operator.yaml" -o src/imports -l typescript
npx cdk8s import ../shared/crds/keda/keda.sh_scaledobjects.yaml -o src/imports -l typescript
