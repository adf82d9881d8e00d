#!/usr/bin/env bash
# Builds alertmanager and amtool (github.com/prometheus/alertmanager) from the Go module proxy into a
# cache keyed by version, for the notification tests (test/harness/alertmanager.ts).
# `go install module@version` fails on this module: ui/web.go embeds ui/app/dist (the built web UI), which
# is git-ignored upstream and so absent from the module zip ("pattern app/dist: no matching files found").
# The module is copied to a temp dir, ui/app/dist is filled with a one-page placeholder (the tests use only
# the HTTP API, never the UI; building the real one needs Elm and npm), and it is built there.
# usage: tools/build-alertmanager.sh   -> prints the bin directory on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
VERSION=${ALERTMANAGER_VERSION:-v0.35.0}
MOD=github.com/prometheus/alertmanager
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/alertmanager/$VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
if [ -x "$OUT/alertmanager" ] && [ -x "$OUT/amtool" ]; then echo "$OUT"; exit 0; fi

W=$(mktemp -d); trap 'chmod -R u+w "$W" 2>/dev/null; rm -rf "$W"' EXIT
start=$(date +%s)
# `go mod download -json` outside a module: prints Dir (the extracted, read-only module) and, when the
# proxy sent it, Origin.Hash (the commit).
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n1; }
J=$(cd "$W" && go mod download -json "$MOD@$VERSION")
SRC=$(echo "$J" | field Dir)
REV=$(echo "$J" | field Hash); REV=${REV:-unknown}
[ -n "$SRC" ] && [ -f "$SRC/go.mod" ] || { echo "build-alertmanager: no module dir for $MOD@$VERSION" >&2; exit 1; }
cp -r "$SRC" "$W/src"; chmod -R u+w "$W/src"
# ui/web.go serves .html only precompressed, as upstream's vite build writes it: index.html.gz answers plain and
# gzip requests; there is no .br (no brotli here), so a client that accepts br gets 404 for / and /ui/.
for app in elm mantine; do
  mkdir -p "$W/src/ui/app/dist/$app"
  printf '<!doctype html><title>Alertmanager</title><p>Built from the Go module without its web UI; the HTTP API is at /api/v2/.</p>\n' \
    | gzip -9n > "$W/src/ui/app/dist/$app/index.html.gz"
done

mkdir -p "$OUT.partial"
cd "$W/src"
V=${VERSION#v}
P=github.com/prometheus/common/version
go build -trimpath -tags netgo \
  -ldflags "-s -w -X $P.Version=$V -X $P.Revision=$REV -X $P.Branch=module -X $P.BuildUser=module-proxy -X $P.BuildDate=19700101-00:00:00" \
  -o "$OUT.partial/" ./cmd/alertmanager ./cmd/amtool
"$OUT.partial/alertmanager" --version 2>&1 | grep -q "version $V " || { echo "build-alertmanager: --version does not say $V" >&2; exit 1; }
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "alertmanager and amtool $VERSION built after $(( $(date +%s) - start ))s" >&2
echo "$OUT"
