# Sourced by the scripts that need Node packages: installs hosts/node's pinned packages
# (package-lock.json) on first use and sets $node_host to that folder.
node_host="$(cd "$(dirname "${BASH_SOURCE[0]}")/../hosts/node" && pwd)"
if [ ! -d "$node_host/node_modules/@bytecodealliance/jco" ]; then
  (cd "$node_host" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
