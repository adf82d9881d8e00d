#!/usr/bin/env bash
# Builds crane (github.com/google/go-containerregistry/cmd/crane: `crane push` of an OCI layout, `crane digest`,
# and `crane registry serve`, the registry test/component/push-image.test.ts pushes to) from the Go module proxy
# into a cache keyed by version. tools/setup.sh and tools/push-image.sh run it.
# usage: tools/build-crane.sh   -> prints the bin directory on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
VERSION=${CRANE_VERSION:?CRANE_VERSION missing from tools/versions.env}
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/crane-$VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
if [ -x "$OUT/crane" ]; then echo "$OUT"; exit 0; fi
start=$(date +%s)
mkdir -p "$OUT.partial"
GOBIN="$OUT.partial" go install -trimpath -ldflags "-s -w" github.com/google/go-containerregistry/cmd/crane@"$VERSION"
echo "crane $VERSION built after $(( $(date +%s) - start ))s" >&2
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
