#!/usr/bin/env bash
# Runs every test: connector and runner unit tests, then the end-to-end tests (which build
# feishu.wasm and, on first use, a Python venv with the Airbyte protocol models under target/).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
cargo test --workspace "$@"
