#!/usr/bin/env bash
# Builds prometheus and promtool (Prometheus 3, with the OTLP receiver) from the
# Go module proxy into a cache keyed by version; Debian's prometheus is 2.42.
# usage: tools/build-prometheus.sh   -> prints the bin directory on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/prometheus/$PROMETHEUS_MODULE_VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
if [ -x "$OUT/prometheus" ] && [ -x "$OUT/promtool" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT.partial"
V=${PROMETHEUS_MODULE_VERSION#v0.}; V="3.${V#3}"   # v0.316.0 -> 3.16.0
GOBIN="$OUT.partial" go install -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=$V -X github.com/prometheus/common/version.Branch=module" \
  github.com/prometheus/prometheus/cmd/prometheus@"$PROMETHEUS_MODULE_VERSION" \
  github.com/prometheus/prometheus/cmd/promtool@"$PROMETHEUS_MODULE_VERSION"
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
