#!/usr/bin/env bash
# The real `koji` command-line client (PyPI `koji`, the same code as Fedora's koji
# package), for tests/tests/koji_cli.rs: it runs the CLI against the sandbox hub.
# koji as the sandbox hub claims to be (KOJI_VERSION in tests/src/sandbox/koji.rs);
# requests-gssapi and gssapi for `koji hello` / `cancel` with a keytab.
exec "$(dirname "$0")/pypi-venv.sh" "${CARGO_TARGET_DIR:-target}/venv-koji" 'koji --help' \
  koji==1.35.3 requests-gssapi==1.4.0 gssapi==1.12.0
