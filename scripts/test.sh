#!/usr/bin/env bash
# Runs every test: the check that no crate's modules import each other in a cycle, connector
# and runner unit tests, then the end-to-end tests (which build
# feishu.wasm and, on first use, two Python venvs under target/: the Airbyte protocol models,
# and a pinned airbyte-cdk for Airbyte's standard source tests), then the Python package's
# tests (scripts/python-tests.sh, in target/python-venv), then the connector image's tests
# (scripts/image-tests.sh: they need a Docker daemon, and say so when they skip).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
python3 scripts/module-cycles.py
cargo test --workspace "$@"
scripts/python-tests.sh
scripts/image-tests.sh
