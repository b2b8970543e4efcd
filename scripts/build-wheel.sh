#!/usr/bin/env bash
# Builds the Python package as a wheel (release profile, the component embedded), so platforms
# can `pip install` it without Rust, and prints its size and platform tags. The wheel is abi3
# (one wheel for CPython 3.9 and later). It is linked with zig (pip's `ziglang`) against glibc
# 2.28, so maturin's audit tags it manylinux_2_28: Debian 10+, Ubuntu 20.04+, RHEL 8+.
#   scripts/build-wheel.sh [OUT_DIR]                 # default target/wheels
#   COMPATIBILITY=linux scripts/build-wheel.sh       # this machine's glibc only, no zig
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/wheels}
compatibility=${COMPATIBILITY:-manylinux_2_28}
rustup target add wasm32-wasip2 >/dev/null
venv=target/wheel-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "maturin==1.16.0" "ziglang==0.13.0"
zig=()
[ "$compatibility" = linux ] || zig=(--zig)
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/maturin" build --release --manifest-path python/Cargo.toml \
  "${zig[@]}" --compatibility "$compatibility" --out "$out"
for wheel in "$out"/feishu_wasm-*.whl; do
  size=$(wc -c <"$wheel")
  tags=$(basename "$wheel" .whl | cut -d- -f3-)
  echo "$wheel: $((size / 1024)) KiB, tags $tags"
done
