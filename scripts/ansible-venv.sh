#!/usr/bin/env bash
# ansible-core, yamllint and ansible-lint for the playbook run and Fedora infra's
# linters (scripts/ansible-check.sh, scripts/ansible-lint.sh; tests/tests/deploy.rs,
# make deploy-check), under target/ (those scripts look there). Pinned so the checks
# do not change under us: yamllint is the version of fedora-infra/ansible's
# .pre-commit-config.yaml; ansible-lint the one it names (24.12.1) is yanked from
# PyPI, 24.12.2 is its fix; ansible-compat and ruamel.yaml are pinned to versions
# that ansible-lint release works with.
cd "$(dirname "$0")/.." || exit 1
exec scripts/pypi-venv.sh target/ansible-venv 'ansible-playbook --version && ansible-lint --version' \
  ansible-core==2.17.14 yamllint==1.35.1 ansible-lint==24.12.2 ansible-compat==24.10.0 ruamel.yaml==0.18.10
