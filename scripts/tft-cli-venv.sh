#!/usr/bin/env bash
# Testing Farm's own CLI (`testing-farm`, PyPI tft-cli): tests/tests/testing_farm_sandbox.rs
# runs it against the Testing Farm sandbox.
exec "$(dirname "$0")/pypi-venv.sh" "${CARGO_TARGET_DIR:-target}/venv-tft-cli" 'testing-farm version' tft-cli==0.0.33
