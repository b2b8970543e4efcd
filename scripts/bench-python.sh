#!/usr/bin/env bash
# Python read speed: builds the release runner, mock and extension (target/bench-venv), starts
# the mock with 100,000 records, and prints records/s of the CLI's stdout parsed in Python
# beside feishu_wasm in process (raw, plain values, Arrow). With DLT_BENCH=1 it also times a dlt
# load into DuckDB, dict records against Arrow (about two minutes). With WAN=1 it also reads a
# whole Base (4 tables of WAN_RECORDS, default 25,000) through `Source.records()` from a mock with
# 150 ms latency and Feishu's 20 requests/s, against the quota floor (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${RECORDS:-100000}
rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet -p connector --target wasm32-wasip2 --profile guest
cargo build --quiet --release -p host-runner -p mock-feishu
venv=target/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "maturin==1.16.0" "pyarrow==22.0.0" "dlt[duckdb]==1.31.0"
MATURIN_PEP517_ARGS="--profile release" "$venv/bin/pip" install --quiet --force-reinstall ./python
workdir=$(mktemp -d)
target/release/mock-feishu --records "$records" --page-size 500 --prerender \
  --write-config "$workdir/config.json" >/dev/null &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 600); do [ -s "$workdir/config.json" ] && break; sleep 0.1; done
"$venv/bin/python" bench/python/bench_read.py "$workdir/config.json" target/release/host-runner \
  target/wasm32-wasip2/guest/feishu.wasm "$records"
if [ "${DLT_BENCH:-0}" = 1 ]; then
  RUNTIME__LOG_LEVEL=ERROR "$venv/bin/python" bench/python/bench_dlt.py "$workdir/config.json"
fi
if [ "${WAN:-0}" = 1 ]; then
  wan_records=${WAN_RECORDS:-25000}
  target/release/mock-feishu --records "$wan_records" --copies 3 --latency-ms 150 --qps 20 \
    --page-size 500 --prerender --write-config "$workdir/wan.json" >/dev/null &
  wan_mock=$!
  trap 'kill $mock $wan_mock 2>/dev/null; rm -rf "$workdir"' EXIT
  for _ in $(seq 600); do [ -s "$workdir/wan.json" ] && break; sleep 0.1; done
  "$venv/bin/python" bench/python/bench_wan.py "$workdir/wan.json" "$wan_records" 20
fi
