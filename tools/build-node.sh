#!/usr/bin/env bash
# What the test node (test/harness/node.ts) needs besides the kubelet and kube-proxy that
# tools/build-k8s.sh builds: Debian's containerd, runc, CNI plugins, umoci (to pack images
# without Docker), iptables and ipset; CoreDNS built from the Go module proxy with only the plugins
# the cluster DNS uses (tools/node/coredns), cached by version; and the NetworkPolicy engine,
# kube-router (tools/build-kube-router.sh).
# usage: tools/build-node.sh   -> prints the coredns directory on the last line
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/versions.env
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false

PKGS="containerd runc containernetworking-plugins umoci iptables ipset conntrack iproute2 openssl"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian's package may start a containerd of its own where an init system runs; the node runs its own.
bash tools/build-kube-router.sh >/dev/null

OUT=$CACHE_ROOT/coredns/$COREDNS_VERSION
SRC_SUM=$(sha256sum tools/node/coredns/main.go | cut -c1-16)   # the plugin set is part of the build
if [ ! -x "$OUT/coredns" ] || [ "$(cat "$OUT/source.sha256" 2>/dev/null)" != "$SRC_SUM" ]; then
  W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
  cp tools/node/coredns/main.go "$W/"
  cd "$W"
  go mod init corednsbin.local >/dev/null 2>&1
  go mod edit -go="$(go mod download -json github.com/coredns/coredns@"$COREDNS_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' | xargs awk '$1=="go"{print $2; exit}')"
  go get github.com/coredns/coredns@"$COREDNS_VERSION" >/dev/null 2>&1
  go mod tidy >/dev/null 2>&1
  mkdir -p "$OUT.partial"
  go build -trimpath -ldflags "-s -w" -o "$OUT.partial/coredns" .
  echo "$SRC_SUM" > "$OUT.partial/source.sha256"
  rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
fi
echo "$OUT"
