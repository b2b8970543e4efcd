#!/usr/bin/env bash
# Runs a `source`-world component on Node.js through jco (hosts/node), with host-runner's
# arguments, stdout and exit codes:
#   scripts/node-host.sh COMPONENT spec|check|discover|read [--config F] [--catalog F]
#                        [--state F] [--allow-host P]... [--log-level LEVEL]
# On first use it installs the pinned packages (hosts/node/package-lock.json); the component is
# transpiled once and cached in hosts/node/.cache by its hash.
set -euo pipefail
source "$(dirname "$0")/node-packages.sh"
exec node "$node_host/src/cli.js" "$@"
