#!/usr/bin/env bash
# The Python package's tests: installs ./python (PyO3 + maturin, sharing target/ and the dev
# profile with `cargo test`) into target/python-venv with pinned test dependencies, and runs
# pytest against the mock Feishu and the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
venv=target/python-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet "maturin==1.16.0" "pytest==9.2.0" "dlt[duckdb]==1.31.0" "pyarrow==22.0.0"
"$venv/bin/pip" install --quiet ./python
cargo build --quiet -p host-runner -p mock-feishu
cargo build --quiet -p connector --target wasm32-wasip2 --profile guest --target-dir target/e2e-guest
export FEISHU_MOCK_BIN="$PWD/target/debug/mock-feishu"
export FEISHU_HOST_RUNNER="$PWD/target/debug/host-runner"
export FEISHU_WASM_COMPONENT="$PWD/target/e2e-guest/wasm32-wasip2/guest/feishu.wasm"
export FEISHU_WASM_CACHE="$PWD/target/e2e-wasm-cache"
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
