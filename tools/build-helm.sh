#!/usr/bin/env bash
# Builds Helm (the `helm` CLI: test/component/helm-chart.test.ts lints and templates the controller's chart; the peer
# benchmark bench/peer.ts runs `helm template` of the vLLM production-stack chart) from the Go module proxy
# into a cache keyed by version. tools/setup.sh runs it.
# usage: tools/build-helm.sh   -> prints the bin directory on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
VERSION=${HELM_VERSION:-v4.3.2}
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/helm-$VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
if [ -x "$OUT/helm" ]; then echo "$OUT"; exit 0; fi
start=$(date +%s)
mkdir -p "$OUT.partial"
# helm.sh/helm/v4/internal/version.version is what `helm version` prints (the default is a dev version).
GOBIN="$OUT.partial" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION" \
  helm.sh/helm/v4/cmd/helm@"$VERSION"
echo "helm $VERSION built after $(( $(date +%s) - start ))s" >&2
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
