#!/usr/bin/env bash
# The bridge tests publish with the real fedora-messaging library, so the message
# properties and headers they see are the ones the Fedora network sends.
exec "$(dirname "$0")/pypi-venv.sh" "${CARGO_TARGET_DIR:-target}/venv-fedora-messaging" \
  'python -c "import fedora_messaging"' fedora-messaging==3.9.1
