#!/usr/bin/env bash
# Builds the LeaderWorkerSet controller manager (sigs.k8s.io/lws: cmd/main.go, what upstream's image runs as
# /manager) from the Go module proxy into a cache keyed by version, with what the test harness installs from
# the same module: the CRDs (config/crd/bases: LeaderWorkerSet, DisaggregatedSet) and the webhook
# configurations (config/webhook/manifests.yaml plus the pod objectSelector patches; test/harness/lws.ts).
# The module has no replace directives, so its own go.mod and go.sum build it as released.
# usage: tools/build-lws.sh       -> prints the output directory on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
VERSION=${LWS_VERSION:-v0.9.0}
MOD=sigs.k8s.io/lws
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/lws/$VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS="-buildvcs=false -mod=mod"

have_all() {
  [ -x "$OUT/lws-controller-manager" ] && [ -s "$OUT/crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml" ] \
    && [ -s "$OUT/webhook/manifests.yaml" ] && [ -s "$OUT/webhook/mutating-patch.yaml" ] && [ -s "$OUT/webhook/validating-patch.yaml" ]
}
if have_all; then echo "$OUT"; exit 0; fi

W=$(mktemp -d); trap 'chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
start=$(date +%s)
# `go mod download -json` outside a module: prints Dir (the extracted, read-only module) and Origin.Hash.
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n1; }
J=$(cd "$W" && go mod download -json "$MOD@$VERSION")
SRC=$(echo "$J" | field Dir)
REV=$(echo "$J" | field Hash)
# A writable copy: -mod=mod may touch go.sum, the module cache is read-only.
cp -r "$SRC" "$W/src"; chmod -R u+w "$W/src"

mkdir -p "$OUT.partial/crds" "$OUT.partial/webhook"
cd "$W/src"
P=sigs.k8s.io/lws/pkg/version
go build -trimpath -ldflags "-s -w -X $P.GitVersion=$VERSION -X $P.GitCommit=$REV -X $P.BuildDate=module-proxy" \
  -o "$OUT.partial/lws-controller-manager" ./cmd
echo "lws-controller-manager $VERSION built after $(( $(date +%s) - start ))s" >&2
cp config/crd/bases/*.yaml "$OUT.partial/crds/"
cp config/webhook/manifests.yaml config/webhook/mutating-patch.yaml config/webhook/validating-patch.yaml "$OUT.partial/webhook/"
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
