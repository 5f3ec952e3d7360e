#!/usr/bin/env bash
# `ansible-playbook --syntax-check` of the playbook as the Fedora infra repo runs
# it: its roles (openshift/project, openshift/object, ...) live in that repo, so
# ansible/ci-stub-roles/ stands in for them; our own role is checked for real.
set -euo pipefail
cd "$(dirname "$0")/.."
export ANSIBLE_ROLES_PATH="$PWD/ansible/roles:$PWD/ansible/ci-stub-roles"
export ANSIBLE_LOCAL_TEMP="$PWD/target/ansible-tmp" ANSIBLE_HOME="$PWD/target/ansible-home"
export ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
exec target/ansible-venv/bin/ansible-playbook --syntax-check -i localhost, \
  ansible/playbooks/openshift-apps/fedora-ci.yml
