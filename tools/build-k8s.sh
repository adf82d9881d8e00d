#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy and kwok
# from the Go module proxy (no binary downloads are possible here) into a cache keyed by version.
# usage: tools/build-k8s.sh            -> prints the bin directory on the last line
set -euo pipefail
# shellcheck source=versions.env
. "$(dirname "$0")/versions.env"

CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
OUT=${OUT:-$CACHE_ROOT/k8s/$KUBE_VERSION-kwok$KWOK_VERSION}
MINOR=$(echo "$KUBE_VERSION" | cut -d. -f2)
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false

have_all() {
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kwok kwok-stages.yaml; do
    [ -e "$OUT/$b" ] || return 1
  done
}
if have_all; then echo "$OUT"; exit 0; fi

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/k8s" "$W/etcd" "$OUT.partial"
start=$(date +%s)

cd "$W/k8s"
go mod download k8s.io/kubernetes@"$KUBE_VERSION"
KMOD="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod"
go mod init k8sbins.local >/dev/null 2>&1
go mod edit -go="$(awk '$1=="go"{print $2; exit}' "$KMOD")"
GD=$(awk '$1=="godebug"{print $2; exit}' "$KMOD" || true)
if [ -n "$GD" ]; then go mod edit -godebug="$GD"; fi
for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "$KMOD"); do
  go mod edit -replace="$m=$m@$STAGING_VERSION"
done
go get -tool k8s.io/kubernetes/cmd/kube-apiserver@"$KUBE_VERSION" \
  k8s.io/kubernetes/cmd/kube-controller-manager@"$KUBE_VERSION" \
  k8s.io/kubernetes/cmd/kube-scheduler@"$KUBE_VERSION" \
  k8s.io/kubernetes/cmd/kubectl@"$KUBE_VERSION" \
  k8s.io/kubernetes/cmd/kubelet@"$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-proxy@"$KUBE_VERSION"
LDF="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR"
  LDF+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
go build -trimpath -ldflags "$LDF" -o "$OUT.partial/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
echo "k8s binaries built after $(( $(date +%s) - start ))s" >&2
ETCD_VERSION=${ETCD_VERSION:-$(go list -m -f '{{.Version}}' go.etcd.io/etcd/client/v3)}

cd "$W/etcd"
go mod init etcdbin.local >/dev/null 2>&1
go get -tool go.etcd.io/etcd/server/v3@"$ETCD_VERSION"
go build -trimpath -ldflags "-s -w" -o "$OUT.partial/etcd" go.etcd.io/etcd/server/v3
echo "etcd $ETCD_VERSION built after $(( $(date +%s) - start ))s" >&2

GOBIN="$OUT.partial" go install -trimpath -ldflags "-s -w" sigs.k8s.io/kwok/cmd/kwok@"$KWOK_VERSION"
# Standalone kwok has no default stages; take upstream's from the module it was built from.
KS="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
for f in "$KS/node/fast/node-initialize.yaml" "$KS/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
         "$KS/pod/fast/pod-ready.yaml" "$KS/pod/fast/pod-complete.yaml" "$KS/pod/fast/pod-delete.yaml"; do
  cat "$f"; printf '\n---\n'
done > "$OUT.partial/kwok-stages.yaml"
echo "kwok built after $(( $(date +%s) - start ))s" >&2
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
