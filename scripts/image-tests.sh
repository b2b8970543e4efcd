#!/usr/bin/env bash
# Builds the connector image and runs its tests (tests/e2e/image.rs: the image run as the
# Airbyte platform runs it, compared with host-runner, plus airbyte-cdk's own image tests).
# Without a Docker daemon it says so and skips them: see README, "Running on the Airbyte platform".
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  echo "SKIPPED the image tests: no Docker daemon answers. Start one (as root:" \
    "apt-get install -y docker.io; dockerd --storage-driver=vfs --iptables=false &)" \
    "and run scripts/image-tests.sh." >&2
  exit 0
fi
tag=$(scripts/build-image.sh feishu-wasm/source-feishu-wasm:test)
FEISHU_WASM_IMAGE=$tag cargo test -p host-runner --test e2e -- image:: --ignored
