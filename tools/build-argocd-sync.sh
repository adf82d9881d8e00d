#!/usr/bin/env bash
# Builds tools/argocd-sync (Argo CD v3.6.1's sync code, gitops-engine, over manifest files; see its main.go) from the
# Go module proxy into a cache keyed by version. gitops-engine v3.6.1 requires go >= 1.27.0: GOTOOLCHAIN makes Go
# fetch that toolchain from the module proxy (golang.org/toolchain) if the local go is older. tools/setup.sh runs it.
# usage: tools/build-argocd-sync.sh   -> prints the bin directory on the last line
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/versions.env
VERSION=${ARGOCD_VERSION:-v3.6.1}
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/argocd-sync-$VERSION}
# The source is part of the key: a changed main.go or go.sum is rebuilt.
SUM=$(cat tools/argocd-sync/main.go tools/argocd-sync/go.mod tools/argocd-sync/go.sum | sha256sum | cut -c1-12)
if [ -x "$OUT/$SUM/argocd-sync" ]; then echo "$OUT/$SUM"; exit 0; fi
export GOTOOLCHAIN=${ARGOCD_GO_TOOLCHAIN:-go1.27.0} CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
start=$(date +%s)
rm -rf "$OUT"; mkdir -p "$OUT/$SUM.partial"
(cd tools/argocd-sync && go build -trimpath -ldflags "-s -w" -o "$OUT/$SUM.partial/argocd-sync" .)
echo "argocd-sync (gitops-engine $VERSION) built after $(( $(date +%s) - start ))s" >&2
mv "$OUT/$SUM.partial" "$OUT/$SUM"
echo "$OUT/$SUM"
