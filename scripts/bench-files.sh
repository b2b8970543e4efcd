#!/usr/bin/env bash
# Attachments as files, through the release runner: downloads of many small files and of one
# big file from the mock (Feishu's 5 downloads a second enforced), with MB/s and the runner's
# peak RSS (see docs/performance.md). FILES=N and SIZE=BYTES change the small-file case,
# BIG=BYTES the big one.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet -p connector --target wasm32-wasip2 --profile guest
cargo build --quiet --release -p host-runner -p mock-feishu
component=target/wasm32-wasip2/guest/feishu.wasm
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
catalog="$work/catalog.json"
echo '{"streams":[{"stream":{"name":"records_attachments"},"sync_mode":"full_refresh"}]}' >"$catalog"

# One case: LABEL SIZES (the mock's --files); prints a table row.
case_row() {
  local label=$1 sizes=$2
  local config="$work/config-$RANDOM.json" files="$work/files-$RANDOM"
  target/release/mock-feishu --files "$sizes" --download-qps 5 --write-config "$config" >/dev/null 2>&1 &
  local mock=$!
  while [ ! -s "$config" ]; do sleep 0.05; done
  # A first run compiles the component into the cache; the measured run downloads for real.
  target/release/host-runner "$component" --cache-dir "$work/cache" spec >/dev/null
  /usr/bin/time -f "%e %M" -o "$work/time" \
    target/release/host-runner "$component" --cache-dir "$work/cache" --quiet --log-level warn \
    read --config "$config" --catalog "$catalog" --files-dir "$files" >"$work/out" 2>"$work/err" \
    || { cat "$work/err" >&2; exit 1; }
  kill "$mock"
  read -r secs rss_kib <"$work/time"
  local count bytes
  count=$(grep -c '"type":"RECORD"' "$work/out")
  bytes=$(find "$files" -type f -printf "%s\n" | awk "{s+=\$1} END {print s+0}")
  python3 - "$label" "$count" "$bytes" "$secs" "$rss_kib" <<'PY'
import sys
label, count, size, secs, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
floor = max(count - 1, 0) / 5
print(f"| {label} | {count} | {size / 1e6:.1f} | {secs:.1f} | {floor:.1f} | {size / 1e6 / secs:.1f} | {rss / 1024:.1f} |")
PY
}

echo "| download | files | MB | wall s | 5/s floor s | MB/s | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|"
case_row "${FILES:-1000} files of ${SIZE:-100000} B" "${FILES:-1000}x${SIZE:-100000}"
case_row "one file of ${BIG:-200000000} B" "${BIG:-200000000}"
