#!/usr/bin/env bash
# Reads the same 100,000-record mock table (page_size 500, records rendered ahead) with every
# host of the component: host-runner (release), the Node.js host, and the edge build under jco
# serve (read over HTTP). Prints wall time, records/s and peak RSS, medians of 3 runs.
#   scripts/bench-hosts.sh [RECORDS]
# BENCH_COMPONENT=path/to/feishu.wasm compares another build of the component (edge aside).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-100000}
rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet -p connector --target wasm32-wasip2 --profile guest
cargo build --quiet --release -p host-runner -p mock-feishu
component=${BENCH_COMPONENT:-target/wasm32-wasip2/guest/feishu.wasm}
source scripts/node-packages.sh
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

target/release/mock-feishu --records "$records" --page-size 500 --prerender \
  --write-config "$work/config.json" >"$work/mock.url" &
pids+=($!)
for _ in $(seq 600); do [ -s "$work/config.json" ] && break; sleep 0.1; done
scripts/edge-serve.sh >"$work/edge.url" 2>"$work/edge.log" &
pids+=($!)
for _ in $(seq 600); do [ -s "$work/edge.url" ] && break; sleep 0.1; done
python3 -c "import json,sys; print(json.dumps({'config': json.load(open(sys.argv[1]))}))" \
  "$work/config.json" >"$work/body.json"
node "$node_host/src/cli.js" "$component" spec >/dev/null  # transpile once, outside the timing

# measure NAME COMMAND...: three runs; each checks the record count and notes wall s and RSS.
measure() {
  local name=$1
  shift
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>/dev/null
    local got
    got=$(grep -c '"type":"RECORD"' "$work/out" || true)
    [ "$got" = "$records" ] || { echo "ERROR $name emitted $got records, not $records" >&2; exit 1; }
    echo "$name $(cat "$work/time")" >>"$work/results"
  done
}
measure host-runner target/release/host-runner "$component" read --config "$work/config.json" --max-rps 0
measure node node "$node_host/src/cli.js" "$component" read --config "$work/config.json"
measure edge curl -sS -X POST "$(cat "$work/edge.url")/read" --data-binary "@$work/body.json"

python3 - "$work/results" "$records" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, rss = line.split()
    rows.setdefault(name, []).append((float(secs), int(rss)))
n = int(sys.argv[2])
print("| host | wall s | records/s | peak RSS MiB |")
print("|---|---|---|---|")
for name, runs in rows.items():
    secs = statistics.median(s for s, _ in runs)
    rss = statistics.median(r for _, r in runs) / 1024
    shown = "–" if name == "edge" else f"{rss:.1f}"
    print(f"| {name} | {secs:.2f} | {n / secs:,.0f} | {shown} |")
PY
