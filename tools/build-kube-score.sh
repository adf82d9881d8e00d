#!/usr/bin/env bash
# Builds kube-score (the Kubernetes manifest linter) from the Go module proxy
# into a cache keyed by version. kube-linter's vanity module host
# (golang.stackrox.io) is not reachable through the proxy here; kube-score is.
# usage: tools/build-kube-score.sh   -> prints the bin directory on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/kube-score/$KUBE_SCORE_VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
if [ -x "$OUT/kube-score" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$OUT.partial"
GOBIN="$OUT.partial" go install -trimpath -ldflags "-s -w -X main.version=$KUBE_SCORE_VERSION" github.com/zegl/kube-score/cmd/kube-score@"$KUBE_SCORE_VERSION"
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
