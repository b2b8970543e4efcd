#!/usr/bin/env bash
# Builds the edge component (edge/, a wasi:http/proxy component) and serves it on 127.0.0.1
# with jco serve (from hosts/node's pinned packages). The first line on stdout is the base URL;
# logs go to stderr. Ctrl-C (or SIGTERM) stops it.
#   scripts/edge-serve.sh [PORT]      # a free port when none is given
#   curl -s $URL/spec
#   curl -s -X POST $URL/read -d '{"config": {...}, "catalog": {...}, "state": [...]}'
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
# Its own target dir: building it beside feishu.wasm would rebuild the connector without the
# `source` world and overwrite feishu.wasm.
cargo build --quiet -p edge --target wasm32-wasip2 --profile guest --target-dir target/edge
component=target/edge/wasm32-wasip2/guest/feishu_edge.wasm
source scripts/node-packages.sh

port=${1:-}
if [ -z "$port" ]; then
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
fi
"$node_host/node_modules/.bin/jco" serve --host 127.0.0.1 --port "$port" "$component" >&2 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for _ in $(seq 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "http://127.0.0.1:$port"
    wait $server
    exit $?
  fi
  kill -0 $server 2>/dev/null || { echo "ERROR jco serve ended before it listened" >&2; exit 1; }
  sleep 0.1
done
echo "ERROR jco serve did not listen on 127.0.0.1:$port within 30 s" >&2
exit 1
