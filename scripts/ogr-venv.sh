#!/usr/bin/env bash
# The Pagure sandbox is checked with the forge library packit-service itself uses
# for Pagure: ogr (tests/tests/pagure_sandbox.rs).
exec "$(dirname "$0")/pypi-venv.sh" "${CARGO_TARGET_DIR:-target}/venv-ogr" 'python -c "import ogr"' ogr==0.61.1
