#!/usr/bin/env bash
# The real MCP programs the MCP tests drive (crates/cordon-cli/tests/mcp.rs), pinned:
# the official Python SDK (client, both protocol eras) and mcp-server-git from PyPI,
# server-filesystem and server-everything from npm. Installed in a directory every user can
# read (the tests also run as the unprivileged user, and a sandboxed server sees /opt but not
# the private /tmp): $CORDON_MCP_DEPS, default /opt/cordon-mcp-deps. Idempotent: a stamp file
# records the versions installed.
set -euo pipefail
DEPS="${CORDON_MCP_DEPS:-/opt/cordon-mcp-deps}"
PY_PKGS="mcp==2.3.0 mcp-server-git==2026.10.19"
NPM_PKGS="@modelcontextprotocol/server-filesystem@2026.8.31 @modelcontextprotocol/server-everything@2026.8.31"
STAMP="$PY_PKGS $NPM_PKGS"
if [ -f "$DEPS/stamp" ] && [ "$(cat "$DEPS/stamp")" = "$STAMP" ]; then
  exit 0
fi
rm -rf "$DEPS"
mkdir -p "$DEPS"
# Debian's python3 (not a per-user one: the unprivileged test user must be able to run it).
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
"$PY" -m venv "$DEPS/venv"
"$DEPS/venv/bin/pip" install -q --disable-pip-version-check $PY_PKGS
npm install -q --no-audit --no-fund --prefix "$DEPS/npm" $NPM_PKGS >/dev/null
chmod -R a+rX "$DEPS"
echo "$STAMP" > "$DEPS/stamp"
