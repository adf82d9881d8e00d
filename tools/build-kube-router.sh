#!/usr/bin/env bash
# Builds kube-router (the test node's NetworkPolicy engine: only its firewall runs, see
# test/harness/policy-engine.ts) from the Go module proxy into a cache keyed by version.
# Its go.mod has no replace directives, so `go install module@version` builds it as released.
# Needs Debian's ipset and iptables at run time (tools/build-node.sh installs them).
# usage: tools/build-kube-router.sh   -> prints the bin directory on the last line
set -euo pipefail
. "$(dirname "$0")/versions.env"
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/kube-router/$KUBE_ROUTER_VERSION}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
if [ -x "$OUT/kube-router" ]; then echo "$OUT"; exit 0; fi
start=$(date +%s)
mkdir -p "$OUT.partial"
V=github.com/cloudnativelabs/kube-router/v2/pkg/version
GOBIN="$OUT.partial" go install -trimpath \
  -ldflags "-s -w -X $V.Version=$KUBE_ROUTER_VERSION -X $V.BuildDate=1970-01-01T00:00:00Z" \
  github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@"$KUBE_ROUTER_VERSION"
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "kube-router $KUBE_ROUTER_VERSION built after $(( $(date +%s) - start ))s" >&2
echo "$OUT"
