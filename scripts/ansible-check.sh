#!/usr/bin/env bash
# Runs the playbook as Fedora infra runs it, without infra: against stub roles
# that accept exactly the variables the real ones read (ansible/ci-stub-roles,
# each with a meta/argument_specs.yml naming its infra file), the sandbox of
# ansible/ci-sandbox (inventory, /srv vars and private files, a stand-in `oc`
# that logs what it is asked), and our own role for real.
#   scripts/ansible-check.sh --check            (what make deploy-check runs)
#   scripts/ansible-check.sh --syntax-check
#   scripts/ansible-check.sh                    (a full run: every stand-in oc call)
#   scripts/ansible-check.sh --check -t delete -l staging
# Extra arguments go to ansible-playbook. FEDORA_CI_PLAYBOOK picks another
# playbook (the tests pass edited copies); the records, rendered objects and the
# oc log go to $ANSIBLE_CHECK_OUT (default target/ansible-check).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/target/ansible-venv
sandbox=$root/ansible/ci-sandbox
out=${ANSIBLE_CHECK_OUT:-$root/target/ansible-check}
playbook=${FEDORA_CI_PLAYBOOK:-$root/ansible/playbooks/openshift-apps/fedora-ci.yml}
[ -x "$venv/bin/ansible-playbook" ] || { echo "no $venv: run scripts/ansible-venv.sh" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out/records" "$out/objects" "$out/stage" "$out/tmp" "$out/home"
# Infra's playbooks read /srv/web/infra/ansible and /srv/private/ansible on the
# control host: the sandbox's srv/ stands for /srv.
sed "s#/srv/#$sandbox/srv/#g" "$playbook" > "$out/fedora-ci.yml"
export ANSIBLE_ROLES_PATH="$root/ansible/roles:$root/ansible/ci-stub-roles"
export ANSIBLE_LOCAL_TEMP="$out/tmp" ANSIBLE_HOME="$out/home"
export ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_RETRY_FILES_ENABLED=false
export PATH="$sandbox/bin:$venv/bin:$PATH" FEDORA_CI_OC_LOG="$out/oc.log"
: >"$out/oc.log"
exec "$venv/bin/ansible-playbook" -i "$sandbox/inventory.yml" "$out/fedora-ci.yml" \
  -e "ansible_python_interpreter=$venv/bin/python" \
  -e "roles_path=$root/ansible/roles" \
  -e "private=$sandbox/srv/private/ansible" \
  -e "ci_stub_root=$out/objects" -e "ci_stub_record_dir=$out/records" \
  -e "fedora_ci_stage_dir=$out/stage/knative" \
  "$@"
