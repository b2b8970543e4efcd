# Sourced by the scripts that need Node packages: installs hosts/node's pinned packages
# (package-lock.json) on first use and sets $node_host to that folder. Concurrent callers (tests
# run in parallel) wait for one install under a lock instead of racing it.
node_host="$(cd "$(dirname "${BASH_SOURCE[0]}")/../hosts/node" && pwd)"
if [ ! -x "$node_host/node_modules/.bin/jco" ]; then
  (
    flock 9
    if [ ! -x "$node_host/node_modules/.bin/jco" ]; then
      cd "$node_host" && npm ci --no-audit --no-fund --loglevel=error >&2
    fi
  ) 9>"$node_host/.install.lock"
fi
