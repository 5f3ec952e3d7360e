#!/usr/bin/env bash
# The real `koji` command-line client (PyPI `koji`, the same code as Fedora's
# koji package) in a virtualenv under the Cargo target directory, for
# tests/tests/koji_cli.rs: it runs the CLI against the sandbox hub, so the hub
# answers what a developer's `koji` asks in the shapes kojihub gives. A no-op
# when the pinned versions are there; fails (exit 1) when it cannot make them —
# the test needs them and does not skip.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CARGO_TARGET_DIR:-target}/venv-koji"
# koji as the sandbox hub claims to be (KOJI_VERSION in tests/src/sandbox/koji.rs);
# requests-gssapi and gssapi for `koji hello` / `cancel` with a keytab.
pins=(koji==1.35.3 requests-gssapi==1.4.0 gssapi==1.12.0)
stamp="$venv/.pins"
# Tests run this concurrently (each koji CLI test makes sure of the venv): one
# at a time, so none removes a venv another is creating or using.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$venv/bin/koji" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ]; then
  exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python3 with venv is missing; install it with: sudo apt-get install python3-venv" >&2
  exit 1
fi
echo "creating $venv (pip install ${pins[*]})" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
log="$venv.log"
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  echo "cannot install ${pins[*]} from PyPI (log: $log)" >&2
  exit 1
fi
"$venv/bin/koji" --help >/dev/null
echo "${pins[*]}" >"$stamp"
