#!/usr/bin/env bash
# The Python package's tests: installs ./python (PyO3 + maturin, sharing target/ and the dev
# profile with `cargo test`) into target/python-venv with pinned test dependencies, and runs
# pytest against the mock Feishu and the CLI; then the dlt tests again with the oldest dlt the
# `dlt` extra allows (target/python-venv-dlt-low), so both ends of its range are tested.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
# The newest and the oldest dlt of the range python/pyproject.toml's `dlt` extra gives.
dlt_newest=1.31.0
dlt_oldest=1.22.2
install() { # VENV DLT_VERSION
  [ -x "$1/bin/python" ] || python3 -m venv "$1"
  "$1/bin/pip" install --quiet "maturin==1.16.0" "pytest==9.2.0" "dlt[duckdb]==$2" "pyarrow==22.0.0"
  MATURIN_PEP517_ARGS="--profile dev" "$1/bin/pip" install --quiet ./python
}
venv=target/python-venv
install "$venv" "$dlt_newest"
cargo build --quiet -p host-runner -p mock-feishu
cargo build --quiet -p connector -p probe --target wasm32-wasip2 --profile guest --target-dir target/e2e-guest
export FEISHU_MOCK_BIN="$PWD/target/debug/mock-feishu"
export FEISHU_HOST_RUNNER="$PWD/target/debug/host-runner"
export FEISHU_WASM_COMPONENT="$PWD/target/e2e-guest/wasm32-wasip2/guest/feishu.wasm"
export FEISHU_WASM_CACHE="$PWD/target/e2e-wasm-cache"
export FEISHU_PROBE_COMPONENT="$PWD/target/e2e-guest/wasm32-wasip2/guest/probe.wasm"
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests "$@"
if [ $# -eq 0 ]; then
  low=target/python-venv-dlt-low
  install "$low" "$dlt_oldest"
  "$low/bin/python" -m pytest -q -p no:cacheprovider python/tests/test_dlt.py
fi
