#!/usr/bin/env bash
# One command from a fresh clone: install the wasm target, build everything, and run a read.
#   scripts/demo.sh                 # read the bundled mock Feishu (25 records)
#   scripts/demo.sh my-config.json  # read a real Feishu / Lark table with your config
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet -p connector --target wasm32-wasip2 --profile guest
cargo build --quiet -p host-runner -p mock-feishu
component=target/wasm32-wasip2/guest/feishu.wasm
runner=target/debug/host-runner
echo "built $component ($(wc -c <"$component") bytes)" >&2

if [ $# -ge 1 ]; then
  exec "$runner" "$component" read --config "$1"
fi

workdir=$(mktemp -d)
target/debug/mock-feishu --records "${DEMO_RECORDS:-25}" --page-size 10 \
  --write-config "$workdir/config.json" >"$workdir/url" &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 50); do [ -s "$workdir/config.json" ] && break; sleep 0.1; done
echo "mock Feishu at $(cat "$workdir/url"); config: $workdir/config.json" >&2
"$runner" "$component" read --config "$workdir/config.json"
