#!/usr/bin/env bash
# Builds the controller image without Docker, reproducibly: an OCI image layout (umoci) whose manifest digest
# depends only on its inputs, so two builds from one checkout give the same digest. tools/build-images.sh packs
# it for the test node (the image the node tests run) and tools/push-image.sh pushes it.
#   /nodejs/bin/node   this machine's Node binary (`command -v node`) and the shared libraries it links (the
#                      distroless nodejs layout: no shell), /etc/ssl/certs/ca-certificates.crt
#   /app               lib/src (from `npm run build`, less V8's code cache lib/src/cli/main.bundle.cache: V8 writes
#                      it differently each build, and the controller never loads the bundle), bin/, package.json, and
#                      node_modules: the production dependencies at the lock's versions, the controller's peer
#                      dependencies made dependencies first (lib/scripts/controller-package.js), as the Dockerfile does
#   user 65532, workdir /app, entrypoint `/nodejs/bin/node bin/inference-monitoring.js`, command `controller`
# Reproducible: every file is owned by root (except what is chowned), has mode from a umask of 022 and the
# time SOURCE_DATE_EPOCH (default 0, 1970-01-01T00:00:00Z), as have the image's `created` and its history.
# Needs root (umoci unpack) and `npm run build` first.
# usage: tools/build-controller-image.sh <layout-dir> [tag]   -> the layout (tag default 0.1.0), its manifest digest on the last line
set -euo pipefail
cd "$(dirname "$0")/.."
LAYOUT=${1:?usage: tools/build-controller-image.sh <layout-dir> [tag]}
TAG=${2:-0.1.0}
EPOCH=${SOURCE_DATE_EPOCH:-0}
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
umask 022
[ -f lib/src/cli/main.js ] || { echo "build-controller-image: run npm run build first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "build-controller-image: needs root (umoci unpack keeps file owners)" >&2; exit 1; }
command -v umoci >/dev/null || { echo "build-controller-image: umoci missing: run tools/setup.sh" >&2; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

# An empty image unpacked into a bundle; its rootfs is assembled in place and repacked as the one layer.
rm -rf "$LAYOUT"
B=$W/bundle
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --image "$LAYOUT:$TAG" "$B"
R=$B/rootfs; mkdir -p "$R/nodejs/bin" "$R/app/lib" "$R/tmp" "$R/etc/ssl/certs"; chmod 1777 "$R/tmp"
NODE=$(readlink -f "$(command -v node)")
cp "$NODE" "$R/nodejs/bin/node"
for lib in $(ldd "$NODE" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
  mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/" 2>/dev/null || true
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$R/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$R/etc/group"
cp -r bin package.json "$R/app/"
cp -r lib/src "$R/app/lib/"
rm -f "$R/app/lib/src/cli/main.bundle.cache"
D=$W/deps; mkdir -p "$D"; cp package.json package-lock.json "$D/"
node lib/scripts/controller-package.js "$D/package.json"
(cd "$D" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline >/dev/null)
mv "$D/node_modules" "$R/app/"
# Modes from the umask above (cp -r without -p; npm's own for node_modules), owner root, one time for every file and directory.
chown -R 0:0 "$R"
find "$R" -exec touch -h -d "@$EPOCH" {} +
umoci repack --history.created "$CREATED" --history.created_by "tools/build-controller-image.sh" --image "$LAYOUT:$TAG" "$B"
umoci config --created "$CREATED" --history.created "$CREATED" --history.created_by "tools/build-controller-image.sh" \
  --image "$LAYOUT:$TAG" --os linux --architecture amd64 \
  --config.user 65532:65532 --config.workingdir /app \
  --config.entrypoint /nodejs/bin/node --config.entrypoint bin/inference-monitoring.js --config.cmd controller
umoci gc --layout "$LAYOUT"
node -e 'const i = require(process.argv[1]); if (i.manifests.length !== 1) throw new Error(`${i.manifests.length} manifests`); console.log(i.manifests[0].digest)' "$(realpath "$LAYOUT")/index.json"
