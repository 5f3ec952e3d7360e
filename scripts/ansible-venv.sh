#!/usr/bin/env bash
# ansible-core from PyPI in a venv under target/, for the playbook's syntax check
# (tests/tests/deploy.rs, make deploy-check). A no-op when it is already there.
# Exit 3 with the reason on stdout when PyPI cannot be reached, so the test can
# say it skipped instead of failing on a machine without network.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/ansible-venv
# Pinned: the syntax check should not change under us between runs.
version=2.17.14
if [ -x "$venv/bin/ansible-playbook" ] && "$venv/bin/ansible-playbook" --version 2>/dev/null | grep -q "core $version"; then
  exit 0
fi
python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "no python3 to create $venv with"
  exit 3
fi
rm -rf "$venv"
if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
  echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "ansible-core==$version" >target/ansible-venv.log 2>&1; then
  if grep -qiE 'connection|resolve|network|timed out|No matching distribution' target/ansible-venv.log; then
    rm -rf "$venv"
    echo "PyPI is unreachable, cannot install ansible-core (see target/ansible-venv.log)"
    exit 3
  fi
  cat target/ansible-venv.log >&2
  exit 1
fi
