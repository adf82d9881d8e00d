#!/usr/bin/env bash
# Builds the OCI images the test node runs, without Docker (no engine and no registry here):
# each image is a root file system assembled in a directory and packed with umoci into an
# OCI archive that `ctr images import` takes.
#   pause            the pod sandbox
#   controller       what the Dockerfile describes: Node 20 at /nodejs/bin/node (distroless layout:
#                    no shell), /app/{lib,bin,node_modules,package.json}, user 65532, the same
#                    entrypoint; from this checkout's `npm run build` and its production dependencies,
#                    built reproducibly by tools/build-controller-image.sh (what tools/push-image.sh pushes)
#   prometheus       the prometheus binary tools/build-prometheus.sh built, user nobody
#   alertmanager     the alertmanager binary tools/build-alertmanager.sh built, user nobody
#   config-reloader  prometheus-operator's prometheus-config-reloader (tools/build-operator.sh), the sidecar
#                    and init container of every Prometheus the operator runs
#   engine-standin   the engine stand-in (tools/images/standin): a recorded /metrics sample per
#                    rank port under each engine's command name; not an engine. It refuses a command
#                    line the way the engine release would, from the catalogs in test/fixtures/engine-cli
#                    (/catalogs; defaults.json: each profile's default version, read from lib/); a multi-node
#                    group's pods each serve their recorded role (/samples/engines/*/multinode, tools/images/standin/multinode.go)
# Needs `npm run build` first. Go binaries and archives are cached by the hash of their inputs.
# usage: tools/build-images.sh              -> prints the directory of <name>.tar archives on the last line
#        tools/build-images.sh --binaries   -> only builds the Go binaries (tools/setup.sh, before npm run build)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/versions.env
CACHE_ROOT=${CIM_CACHE:-$HOME/.cache/cdk8s-inference-monitoring}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false

hash_of() { find "$@" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16; }

# Go binaries: pause and the stand-in.
GOBIN_KEY=$(hash_of tools/images)
BIN=$CACHE_ROOT/images-bin/$GOBIN_KEY
if [ ! -x "$BIN/engine-standin" ] || [ ! -x "$BIN/pause" ]; then
  mkdir -p "$BIN.partial"
  (cd tools/images/pause && go build -trimpath -ldflags "-s -w" -o "$BIN.partial/pause" .)
  (cd tools/images/standin && go build -trimpath -ldflags "-s -w" -o "$BIN.partial/engine-standin" .)
  rm -rf "$BIN"; mv "$BIN.partial" "$BIN"
fi
if [ "${1:-}" = --binaries ]; then echo "$BIN"; exit 0; fi
[ -f lib/src/cli/main.js ] || { echo "build-images: run npm run build first" >&2; exit 1; }

PROM_BIN=$CACHE_ROOT/prometheus/$PROMETHEUS_MODULE_VERSION
[ -x "$PROM_BIN/prometheus" ] || { echo "build-images: run tools/build-prometheus.sh first" >&2; exit 1; }

OP_BIN=$CACHE_ROOT/prometheus-operator/$PROMETHEUS_OPERATOR_VERSION
[ -x "$OP_BIN/prometheus-config-reloader" ] || { echo "build-images: run tools/build-operator.sh first" >&2; exit 1; }

AM_BIN=$CACHE_ROOT/alertmanager/$ALERTMANAGER_VERSION
[ -x "$AM_BIN/alertmanager" ] || { echo "build-images: run tools/build-alertmanager.sh first" >&2; exit 1; }

KEY=$(hash_of tools/images tools/build-images.sh tools/build-controller-image.sh lib/src bin package.json package-lock.json test/fixtures/metrics test/fixtures/engine-cli test/fixtures/engines/*/multinode "$PROM_BIN/prometheus" "$OP_BIN/prometheus-config-reloader" "$AM_BIN/alertmanager")
OUT=$CACHE_ROOT/images/$KEY
if [ -f "$OUT/done" ]; then echo "$OUT"; exit 0; fi
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$OUT.partial"

# image <name> <tag> <rootfs dir> <umoci config args...>: packs rootfs into $OUT/<name>.tar,
# its index naming the image <tag> (ctr import names it <base>:<tag>).
image() {
  local name=$1 tag=$2 rootfs=$3; shift 3
  local L=$W/$name-layout B=$W/$name-bundle
  umoci init --layout "$L"
  umoci new --image "$L:$tag"
  umoci unpack --image "$L:$tag" "$B"
  cp -a "$rootfs/." "$B/rootfs/"
  umoci repack --history.created_by "tools/build-images.sh" --image "$L:$tag" "$B"
  umoci config --history.created_by "tools/build-images.sh" --image "$L:$tag" --os linux --architecture amd64 "$@"
  umoci gc --layout "$L"
  tar -C "$L" -cf "$OUT.partial/$name.tar" .
  rm -rf "$B"
}

passwd() { # passwd <rootfs> <user> <uid>
  mkdir -p "$1/etc"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:%s:%s:%s:/home/%s:/sbin/nologin\n' "$2" "$3" "$3" "$2" "$2" > "$1/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$2" "$3" > "$1/etc/group"
}

# pause
R=$W/pause-root; mkdir -p "$R"; cp "$BIN/pause" "$R/pause"
image pause 1 "$R" --config.entrypoint /pause --config.user 65535:65535

# prometheus (the quay.io image's layout: /bin/prometheus, /prometheus owned by nobody)
R=$W/prometheus-root; mkdir -p "$R/bin" "$R/prometheus" "$R/etc/prometheus"
cp "$PROM_BIN/prometheus" "$PROM_BIN/promtool" "$R/bin/"
passwd "$R" nobody 65534; chown 65534:65534 "$R/prometheus"
PV=${PROMETHEUS_MODULE_VERSION#v0.}; PV="3.${PV#3}"   # v0.316.0 -> 3.16.0, the image tag v3.16.0
image prometheus "v$PV" "$R" --config.entrypoint /bin/prometheus \
  --config.cmd --config.file=/etc/prometheus/prometheus.yml --config.user 65534:65534 --config.workingdir /prometheus

# alertmanager (the quay.io image's layout: /bin/alertmanager, /alertmanager owned by nobody)
R=$W/alertmanager-root; mkdir -p "$R/bin" "$R/alertmanager" "$R/etc/alertmanager"
cp "$AM_BIN/alertmanager" "$AM_BIN/amtool" "$R/bin/"
passwd "$R" nobody 65534; chown 65534:65534 "$R/alertmanager"
image alertmanager "$ALERTMANAGER_VERSION" "$R" --config.entrypoint /bin/alertmanager --config.user 65534:65534 --config.workingdir /alertmanager

# prometheus-config-reloader (the quay.io image's layout: /bin/prometheus-config-reloader, user nobody)
R=$W/reloader-root; mkdir -p "$R/bin"
cp "$OP_BIN/prometheus-config-reloader" "$R/bin/"
passwd "$R" nobody 65534
image config-reloader "$PROMETHEUS_OPERATOR_VERSION" "$R" --config.entrypoint /bin/prometheus-config-reloader --config.user 65534:65534

# engine stand-in: one binary under every engine command name, the recorded samples in /samples
R=$W/standin-root; mkdir -p "$R/usr/local/bin" "$R/samples" "$R/catalogs" "$R/tmp"; chmod 1777 "$R/tmp"
cp "$BIN/engine-standin" "$R/usr/local/bin/"
# python3: SGLang starts as `python3 -m sglang.launch_server`.
# ray: `ray start --address=... --block`, the worker pod of a vLLM group on Ray.
for c in lmdeploy vllm sglang text-generation-launcher transformers opentelemetry-instrument python3 ray; do ln -s engine-standin "$R/usr/local/bin/$c"; done
cp test/fixtures/metrics/*.prom test/fixtures/metrics/*.json "$R/samples/" 2>/dev/null || true
# Multi-node recordings: /samples/engines/<engine>-<version>/multinode/<mode>/ (layout.json and each pod's /metrics).
for d in test/fixtures/engines/*/multinode; do mkdir -p "$R/samples/engines/$(basename "$(dirname "$d")")"; cp -r "$d" "$R/samples/engines/$(basename "$(dirname "$d")")/"; done
cp test/fixtures/engine-cli/*.json "$R/catalogs/"
node -e 'const { PROFILES } = require("./lib/src/engines/registry"); console.log(JSON.stringify(Object.fromEntries(Object.entries(PROFILES).map(([e, p]) => [e, p.defaultVersion]))))' > "$R/catalogs/defaults.json"
passwd "$R" standin 1000
image engine-standin 1 "$R" --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.entrypoint /usr/local/bin/engine-standin

# controller: tools/build-controller-image.sh (reproducible: the image tools/push-image.sh pushes, the same digest).
bash tools/build-controller-image.sh "$W/controller-layout" 0.1.0 >/dev/null
tar -C "$W/controller-layout" -cf "$OUT.partial/controller.tar" .

touch "$OUT.partial/done"
rm -rf "$OUT"; mv "$OUT.partial" "$OUT"
echo "$OUT"
