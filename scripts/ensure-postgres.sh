#!/usr/bin/env bash
# Print a PostgreSQL URL the tests can use, starting a server if one is installed but stopped.
#   1. TEST_POSTGRES_URL if set;
#   2. else a server answering on 127.0.0.1:5432 (user postgres);
#   3. else, as root on Debian, the installed cluster is started with pg_ctlcluster.
# Prints nothing (and exits 0) when there is no PostgreSQL at all: the PostgreSQL half of the
# contract suite then skips, unless REQUIRE_POSTGRES=1 makes that a failure (CI sets it).
set -euo pipefail
if [[ -n ${TEST_POSTGRES_URL:-} ]]; then
  echo "$TEST_POSTGRES_URL"
  exit 0
fi
url="postgresql+asyncpg://postgres:postgres@127.0.0.1:5432/encore_test"
listening() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if listening; then
  echo "$url"
  exit 0
fi
if command -v pg_ctlcluster >/dev/null && [[ $(id -u) == 0 ]]; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [[ -n $version ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 50); do
      if listening; then
        echo "$url"
        exit 0
      fi
      sleep 0.2
    done
  fi
fi
echo "postgres: no PostgreSQL server found; its contract tests will be skipped" >&2
