#!/usr/bin/env bash
# Builds the release runner, the component (guest profile) and the benchmark, then prints the
# figures (see docs/performance.md). Extra arguments go to feishu-bench, e.g.
#   scripts/bench.sh --records 100000 --scale-records 1000000 --peer 'python3 -m source_feishu read --config {config}'
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet -p connector --target wasm32-wasip2 --profile guest
cargo build --quiet --release -p host-runner -p mock-feishu -p bench
target/release/feishu-bench "$@"
