#!/usr/bin/env bash
# Builds the Airbyte connector image (image/Dockerfile) with Docker, without pulling anything:
# FROM scratch with the release host-runner, feishu.wasm (compiled ahead into the image), the
# shared libraries `ldd` lists and an `airbyte` user. Prints the tag on stdout.
#   scripts/build-image.sh [TAG]     # default: dockerRepository:dockerImageTag of image/metadata.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker >/dev/null || { echo "ERROR docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "ERROR no Docker daemon answers (see README: Running on the Airbyte platform)" >&2; exit 1; }
field() { sed -n "s/^  $1: *//p" image/metadata.yaml | head -1; }
name=$(field dockerRepository)
version=$(field dockerImageTag)
tag=${1:-$name:$version}

rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet -p connector --target wasm32-wasip2 --profile guest
cargo build --quiet --release -p host-runner
runner=target/release/host-runner
context=target/image
rm -rf "$context"
mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/etc" "$context/rootfs/tmp" "$context/airbyte"
cp image/Dockerfile "$context/"
cp "$runner" "$context/rootfs/usr/local/bin/host-runner"
strip "$context/rootfs/usr/local/bin/host-runner" 2>/dev/null || true
cp target/wasm32-wasip2/guest/feishu.wasm "$context/airbyte/feishu.wasm"
# The shared libraries the runner links, at the paths the loader looks for them.
for lib in $(ldd "$runner" | grep -o '/[^ ]*'); do
  mkdir -p "$context/rootfs$(dirname "$lib")"
  cp -L "$lib" "$context/rootfs$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nairbyte:x:1000:1000:airbyte:/airbyte:/sbin/nologin\n' \
  >"$context/rootfs/etc/passwd"
printf 'root:x:0:\nairbyte:x:1000:\n' >"$context/rootfs/etc/group"
chmod 1777 "$context/rootfs/tmp"

DOCKER_BUILDKIT=0 docker build --quiet --platform linux/amd64 \
  --build-arg "NAME=$name" --build-arg "VERSION=$version" -t "$tag" "$context" >&2
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "built $tag ($((size / 1024 / 1024)) MiB)" >&2
echo "$tag"
