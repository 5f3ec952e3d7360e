#!/usr/bin/env bash
# Apply an overlay to the current kubectl/oc context, in release order:
#   scripts/deploy.sh stg [namespace]      (namespace defaults to fedora-ci)
# 1. the ConfigMaps and the migration Job (the old Job is deleted: Jobs are
#    immutable), 2. wait for the migrations, 3. everything else, 4. a new
#    revision of every Service and of the bridge, so a new image pushed under the
#    same tag rolls out (Knative resolves a tag once per revision), 5. wait for
#    the Knative Services to be Ready. The ansible role does the same steps.
# Needs: the cluster prerequisites (knative/cluster/, README "Deploy"), and in
# Fedora infra the app owners' Role the playbook adds (staging only).
set -euo pipefail
cd "$(dirname "$0")/.."
overlay=${1:?usage: scripts/deploy.sh stg|prod [namespace]}
ns=${2:-fedora-ci}
dir=knative/overlays/$overlay
[ -d "$dir" ] || { echo "no overlay $dir" >&2; exit 2; }
kc=$(command -v oc || command -v kubectl || true)
[ -n "$kc" ] || { echo "needs oc or kubectl" >&2; exit 2; }

"$kc" -n "$ns" delete job fedora-ci-migrate --ignore-not-found
"$kc" -n "$ns" apply -k "$dir" -l 'app.kubernetes.io/component in (config,kerberos,migrate)'
"$kc" -n "$ns" wait --for=condition=complete job/fedora-ci-migrate --timeout=600s
"$kc" -n "$ns" apply -k "$dir"
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
patch="{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"fedora-ci/rollout\":\"$stamp\"}}}}}"
for f in pr-opened koji-finished tf-finished result-poller api; do
  "$kc" -n "$ns" patch ksvc "$f" --type merge -p "$patch"
done
"$kc" -n "$ns" patch containersource fedmsg-bridge --type merge -p "$patch"
"$kc" -n "$ns" wait --for=condition=Ready ksvc --all --timeout=300s
"$kc" -n "$ns" get ksvc,broker,trigger,pingsource,containersource,domainmapping
