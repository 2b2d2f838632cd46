#!/usr/bin/env bash
# The embedded default: all five services in one process on SQLite files and the in-memory bus,
# one port with path routing. No servers needed. Extra arguments go to `onestop dev`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$ROOT/deploy/local/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/onestop" dev "$@"
