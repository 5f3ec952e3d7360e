#!/usr/bin/env bash
# Weekly production promotion: what has run in staging becomes prod.
#   scripts/promote-prod.sh [namespace]
# 1. Retag every function image :stg -> :prod in the registry (skopeo copies the
#    manifest, no rebuild: prod runs the bytes staging tested).
# 2. Knative resolves a tag to a digest when it creates a revision, so a retag
#    alone changes nothing running: stamp each Service's template to make a new
#    revision, which resolves :prod to the new digest. The annotation is not in
#    the manifests, so later `kubectl apply`s leave it alone.
set -euo pipefail
ns=${1:-fedora-ci}
repo=quay.io/packit
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
command -v skopeo >/dev/null || { echo "needs skopeo (apt-get install skopeo)" >&2; exit 2; }
kc=$(command -v oc || command -v kubectl || true)
[ -n "$kc" ] || { echo "needs oc or kubectl, logged in to the prod cluster" >&2; exit 2; }

for f in pr-opened koji-finished tf-finished result-poller api fedmsg-bridge; do
  skopeo copy --all "docker://$repo/fedora-ci-$f:stg" "docker://$repo/fedora-ci-$f:prod"
done
# Migrations first, as in every release (the Job runs the api image).
cd "$(dirname "$0")/.."
"$kc" -n "$ns" delete job fedora-ci-migrate --ignore-not-found
"$kc" -n "$ns" apply -k knative/overlays/prod -l app.kubernetes.io/component=migrate
"$kc" -n "$ns" wait --for=condition=complete job/fedora-ci-migrate --timeout=600s
patch="{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"fedora-ci/promoted\":\"$stamp\"}}}}}"
for f in pr-opened koji-finished tf-finished result-poller api; do
  "$kc" -n "$ns" patch ksvc "$f" --type merge -p "$patch"
done
# The bridge's ContainerSource rolls its Deployment when its template changes.
"$kc" -n "$ns" patch containersource fedmsg-bridge --type merge -p "$patch"
"$kc" -n "$ns" wait --for=condition=Ready ksvc --all --timeout=300s
echo "promoted stg -> prod at $stamp"
