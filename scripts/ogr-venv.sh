#!/usr/bin/env bash
# The Pagure sandbox is checked with the forge library packit-service itself uses
# for Pagure: ogr, from PyPI, pinned. This makes (once) a virtualenv with it under
# the Cargo target directory; tests/tests/pagure_sandbox.rs looks there and fails
# (never skips) without it.
set -euo pipefail
cd "$(dirname "$0")/.."

OGR_VERSION=0.61.1
venv="${CARGO_TARGET_DIR:-target}/venv-ogr"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import ogr, importlib.metadata as m; assert m.version('ogr') == '$OGR_VERSION'" 2>/dev/null; then
  exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python3 with venv is missing; install it with: sudo apt-get install python3-venv" >&2
  exit 1
fi
echo "creating $venv (pip install ogr==$OGR_VERSION)"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "ogr==$OGR_VERSION"
"$venv/bin/python" -c 'import ogr'
