#!/usr/bin/env bash
# The bridge tests publish with the real fedora-messaging library, so the message
# properties and headers they see are the ones the Fedora network sends. This makes
# (once) a virtualenv with it under the Cargo target directory; the tests look there.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CARGO_TARGET_DIR:-target}/venv-fedora-messaging"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import fedora_messaging' 2>/dev/null; then
  exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python3 with venv is missing; install it with: sudo apt-get install python3-venv" >&2
  exit 1
fi
echo "creating $venv (pip install fedora-messaging)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check fedora-messaging
"$venv/bin/python" -c 'import fedora_messaging'
