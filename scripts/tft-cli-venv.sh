#!/usr/bin/env bash
# Testing Farm's own CLI (`testing-farm`, PyPI tft-cli) in a venv under the Cargo
# target directory: tests/tests/testing_farm_sandbox.rs runs it against the Testing
# Farm sandbox (`whoami` through `list`, `list`, `watch`, `cancel`), so the sandbox
# answers what the real client sends and reads. Pinned; a no-op when that version
# is there. Fails (exit 1) when PyPI cannot be reached: the test does not skip.
set -euo pipefail
cd "$(dirname "$0")/.."

pin="tft-cli==0.0.33"
venv="${CARGO_TARGET_DIR:-target}/venv-tft-cli"
stamp="$venv/.pin"
if [ -x "$venv/bin/testing-farm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pin" ]; then
  exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python3 with venv is missing; install it with: sudo apt-get install python3-venv" >&2
  exit 1
fi
echo "creating $venv (pip install $pin)"
rm -rf "$venv"
python3 -m venv "$venv"
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$pin" >"$venv.log" 2>&1; then
  cat "$venv.log" >&2
  echo "cannot install $pin from PyPI (log: $venv.log)" >&2
  exit 1
fi
"$venv/bin/testing-farm" version >/dev/null
echo "$pin" >"$stamp"
