#!/usr/bin/env bash
# One virtualenv of pinned PyPI packages, made once and reused: the real client
# tools the tests run against our sandboxes (koji, ogr, tft-cli,
# fedora-messaging) and the deployment checks (ansible). Each tool's script is
# a one-line call of this one.
#
#   scripts/pypi-venv.sh <venv dir> <check command, run in the venv> <pin>...
#
# A no-op when the venv holds exactly these pins and the check passes. Tests
# call the scripts concurrently, so one holds a lock while it makes the venv and
# the others wait for it. Fails (exit 1) when it cannot make the venv: the tests
# that need it fail too, nothing skips.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1
check=$2
shift 2
pins=("$@")
stamp="$venv/.pins"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ] && (cd "$venv/bin" 2>/dev/null && PATH="$PWD:$PATH" bash -c "$check") >/dev/null 2>&1; then
  exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python3 with venv is missing; install it with: sudo apt-get install python3-venv" >&2
  exit 1
fi
echo "creating $venv (pip install ${pins[*]})" >&2
rm -rf "$venv"
python3 -m venv "$venv"
log="$venv.log"
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  echo "cannot install ${pins[*]} from PyPI (log: $log)" >&2
  exit 1
fi
if ! (cd "$venv/bin" && PATH="$PWD:$PATH" bash -c "$check") >"$log" 2>&1; then
  cat "$log" >&2
  echo "$venv: '$check' fails after the install" >&2
  exit 1
fi
echo "${pins[*]}" >"$stamp"
