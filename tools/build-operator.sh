#!/usr/bin/env bash
# Builds prometheus-operator's `operator` and `prometheus-config-reloader` from the Go module proxy into a
# cache keyed by version, with all of the operator's CRDs taken from the same module (crds/).
# `go install module@version` refuses this module (its go.mod replaces pkg/apis/monitoring and pkg/client
# with ./ paths, and those nested modules are not in its zip): the main module is copied to a temp dir,
# the two submodules at the same version are put where the replace directives point, and it is built there.
# usage: tools/build-operator.sh       -> prints the output directory (bin files + crds/) on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.93.0}
MOD=github.com/prometheus-operator/prometheus-operator
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/prometheus-operator/$VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false

have_all() {
  [ -x "$OUT/operator" ] && [ -x "$OUT/prometheus-config-reloader" ] && [ -s "$OUT/crds/monitoring.coreos.com_prometheuses.yaml" ]
}
if have_all; then echo "$OUT"; exit 0; fi

W=$(mktemp -d); trap 'chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
start=$(date +%s)
# `go mod download -json` outside a module: prints Dir (the extracted, read-only module) and Origin.Hash.
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n1; }
J=$(cd "$W" && go mod download -json "$MOD@$VERSION")
SRC=$(echo "$J" | field Dir)
REV=$(echo "$J" | field Hash)
cp -r "$SRC" "$W/src"; chmod -R u+w "$W/src"
for sub in pkg/apis/monitoring pkg/client; do
  D=$(cd "$W" && go mod download -json "$MOD/$sub@$VERSION" | field Dir)
  rm -rf "${W:?}/src/$sub"; mkdir -p "$(dirname "$W/src/$sub")"
  cp -r "$D" "$W/src/$sub"; chmod -R u+w "$W/src/$sub"
done

mkdir -p "$OUT.partial/crds"
cd "$W/src"
V=${VERSION#v}
P=github.com/prometheus/common/version
go build -trimpath -ldflags "-s -w -X $P.Version=$V -X $P.Revision=$REV -X $P.Branch=module -X $P.BuildUser=module-proxy -X $P.BuildDate=19700101-00:00:00" \
  -o "$OUT.partial/" ./cmd/operator ./cmd/prometheus-config-reloader
echo "operator and prometheus-config-reloader $VERSION built after $(( $(date +%s) - start ))s" >&2
# The standard CRDs (what upstream's bundle.yaml installs). example/prometheus-operator-crd-full differs only
# in AlertmanagerConfig, which adds v1beta1: serving both versions needs upstream's conversion webhook.
cp example/prometheus-operator-crd/*.yaml "$OUT.partial/crds/"
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
