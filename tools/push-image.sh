#!/usr/bin/env bash
# Builds the controller image without Docker (tools/build-controller-image.sh: the image the node tests run,
# reproducible: the same inputs give the same digest) and pushes it with crane (tools/build-crane.sh, built from
# the Go module proxy). Prints the pushed reference with its digest on the last line, after checking that the
# registry serves the manifest under that tag at the digest the OCI layout has.
# Needs root (umoci) and `npm run build` first. Credentials: crane reads ~/.docker/config.json
# (`crane auth login REGISTRY -u USER -p PASSWORD`, or `docker login`). A registry on localhost or 127.0.0.1 is
# spoken to over plain HTTP; any other only over HTTPS unless --insecure is given.
# usage: tools/push-image.sh REGISTRY/NAME:TAG [--insecure]   -> REGISTRY/NAME:TAG@sha256:...
#   SOURCE_DATE_EPOCH   the image's time (created, history, every file's mtime); default 0
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${1:?usage: tools/push-image.sh REGISTRY/NAME:TAG [--insecure]}
shift
INSECURE=()
for a in "$@"; do
  case $a in --insecure) INSECURE=(--insecure) ;; *) echo "push-image: unknown argument $a" >&2; exit 2 ;; esac
done
# A tag is required (what `helm --set image.tag` and `inference-monitoring install --image` name); no digest: that is the output.
case $REF in
  *@*) echo "push-image: $REF: give REGISTRY/NAME:TAG, not a digest (the digest is printed)" >&2; exit 2 ;;
  */*:*) TAG=${REF##*:}; [[ $TAG != */* ]] || { echo "push-image: $REF has no tag" >&2; exit 2; } ;;
  *) echo "push-image: $REF: give REGISTRY/NAME:TAG" >&2; exit 2 ;;
esac
CRANE=$(bash tools/build-crane.sh | tail -1)/crane
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
DIGEST=$(bash tools/build-controller-image.sh "$W/layout" "$TAG" | tail -1)
echo "push-image: built $DIGEST, pushing to $REF" >&2
"$CRANE" push "${INSECURE[@]}" "$W/layout" "$REF" >&2
PUSHED=$("$CRANE" digest "${INSECURE[@]}" "$REF")
[ "$PUSHED" = "$DIGEST" ] || { echo "push-image: the registry serves $REF at $PUSHED, the layout has $DIGEST" >&2; exit 1; }
echo "$REF@$DIGEST"
