#!/usr/bin/env bash
# Sets up everything and runs the whole test suite. The suite itself starts a throwaway
# PostgreSQL and a real Apache Kafka broker (KRaft; jars fetched with Maven into .cache/) and
# stops them at the end. Missing PostgreSQL or Kafka makes tests fail, never skip.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
started=$(date +%s)

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need_apt[*]} (install them, or run as root)" >&2
    exit 1
  fi
  echo "installing system packages: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

bash "$ROOT/deploy/local/setup.sh"
cd "$ROOT"
set +e
"$ROOT/.venv/bin/python" -m pytest "$@"
status=$?
set -e
echo "test command finished in $(( $(date +%s) - started ))s (exit $status)"
exit $status
