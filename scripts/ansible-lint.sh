#!/usr/bin/env bash
# Fedora infra's two linters, with their configuration (ansible/.yamllint.yaml
# and ansible/.ansible-lint are copies of the infra repo's), over what goes into
# the infra repo: the playbook and every file of the role, the shipped knative/
# copy included (yamllint), as their CI lints changed files.
#   scripts/ansible-lint.sh [ansible-dir]     (default: ansible)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/target/ansible-venv
dir=$(cd "${1:-ansible}" && pwd)
[ -x "$venv/bin/ansible-lint" ] || { echo "no $venv: run scripts/ansible-venv.sh" >&2; exit 2; }
cd "$dir"
mapfile -t yaml < <(find playbooks/openshift-apps/fedora-ci.yml roles/openshift-apps/fedora-ci -name '*.yml' -o -name '*.yaml' | sort)
mapfile -t ansible < <(printf '%s\n' "${yaml[@]}" | grep -v '/files/')
echo "yamllint: ${#yaml[@]} files"
"$venv/bin/yamllint" --strict -c .yamllint.yaml "${yaml[@]}"
echo "ansible-lint: ${#ansible[@]} files"
export ANSIBLE_ROLES_PATH="$dir/roles:$dir/ci-stub-roles" ANSIBLE_HOME="$dir/.ansible/home"
export ANSIBLE_LOCAL_TEMP="$dir/.ansible/tmp" ANSIBLE_NOCOLOR=1 PATH="$venv/bin:$PATH"
"$venv/bin/ansible-lint" --nocolor --offline -c .ansible-lint "${ansible[@]}"
