#!/usr/bin/env bash
# Regenerates src/imports/ (typed constructs) from the vendored upstream CRDs in ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
D=../shared/crds/prometheus-operator-v0.93.0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for f in servicemonitors podmonitors prometheusrules prometheuses; do
  cat "$D/monitoring.coreos.com_$f.yaml"; printf '\n---\n'
done > "$T/prometheus-operator.yaml"
npx cdk8s import "$T/prometheus-operator.yaml" -o src/imports -l typescript
npx cdk8s import ../shared/crds/keda/keda.sh_scaledobjects.yaml -o src/imports -l typescript
# LeaderWorkerSet (multi-node models): its CRD from the module source of the version tools/build-lws.sh builds.
LWS_VERSION=$(grep -E '^LWS_VERSION=' tools/versions.env | cut -d= -f2 || true)
LWS_DIR=$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/lws@${LWS_VERSION:-v0.9.0}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
# The pod and claim templates' schemas (95% of the CRD) are left out of the binding: InferenceModelGroup places
# templates cdk8s-plus already drew (typed there), and their 1.8 MB of generated types would triple the package.
node -e '
const yaml = require("yaml"); const fs = require("fs");
const crd = yaml.parse(fs.readFileSync(process.argv[1], "utf8"));
for (const v of crd.spec.versions) {
  const t = v.schema.openAPIV3Schema.properties.spec.properties.leaderWorkerTemplate.properties;
  for (const k of ["leaderTemplate", "workerTemplate", "volumeClaimTemplates"]) t[k] = { type: k === "volumeClaimTemplates" ? "array" : "object", description: t[k].description, "x-kubernetes-preserve-unknown-fields": true, ...(k === "volumeClaimTemplates" ? { items: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } : {}) };
  delete v.schema.openAPIV3Schema.properties.status;
}
fs.writeFileSync(process.argv[2], yaml.stringify(crd));
' "$LWS_DIR/config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml" "$T/leaderworkerset.yaml"
npx cdk8s import "$T/leaderworkerset.yaml" -o src/imports -l typescript
