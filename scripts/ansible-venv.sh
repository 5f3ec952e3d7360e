#!/usr/bin/env bash
# ansible-core, yamllint and ansible-lint from PyPI in a venv under target/, for
# the playbook run and Fedora infra's linters (scripts/ansible-check.sh,
# scripts/ansible-lint.sh; tests/tests/deploy.rs, make deploy-check). A no-op
# when the pinned versions are there. Fails (exit 1) when it cannot make them:
# the deployment checks need them and do not skip.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/ansible-venv
# Pinned so the checks do not change under us between runs. yamllint is the
# version of fedora-infra/ansible's .pre-commit-config.yaml; ansible-lint the
# one it names (24.12.1) is yanked from PyPI, 24.12.2 is its fix; ansible-compat
# and ruamel.yaml are pinned to versions that ansible-lint release works with.
pins=(ansible-core==2.17.14 yamllint==1.35.1 ansible-lint==24.12.2 ansible-compat==24.10.0 ruamel.yaml==0.18.10)
stamp="$venv/.pins"
if [ -x "$venv/bin/ansible-playbook" ] && [ -x "$venv/bin/ansible-lint" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ]; then
  exit 0
fi
python=$(command -v python3 || true)
[ -n "$python" ] || { echo "no python3 to create $venv with" >&2; exit 1; }
rm -rf "$venv"
if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
  echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p target
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" >target/ansible-venv.log 2>&1; then
  cat target/ansible-venv.log >&2
  echo "cannot install ${pins[*]} from PyPI (log: target/ansible-venv.log)" >&2
  exit 1
fi
echo "${pins[*]}" >"$stamp"
