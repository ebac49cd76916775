#!/usr/bin/env bash
# Runs a command with Ferry's test servers (MariaDB, ClickHouse, Redis, Kafka, and a pair of
# MariaDB with GTID replication for the MySQL-online tests) up; stops them by PID afterwards.
#   scripts/with-test-servers.sh CMD ARGS...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-servers.XXXXXX")
rmdir "$dir"
trap '"$here/test-servers.sh" down "$dir"; "$here/test-servers.sh" down "$dir-repl-source" >/dev/null 2>&1; "$here/test-servers.sh" down "$dir-repl-target" >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM
"$here/test-servers.sh" up "$dir" >/dev/null || exit 1
# shellcheck disable=SC1091
. "$dir/env.sh"
ONLY=mysql MY_BINLOG=1 MY_SERVER_ID=1 MY_BUFFER_POOL=64M MY_PORT=24306 "$here/test-servers.sh" up "$dir-repl-source" >/dev/null || exit 1
ONLY=mysql MY_BINLOG=1 MY_SERVER_ID=2 MY_BUFFER_POOL=64M MY_PORT=24406 "$here/test-servers.sh" up "$dir-repl-target" >/dev/null || exit 1
FERRY_TEST_REPL_SOURCE_PORT=$(. "$dir-repl-source/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
FERRY_TEST_REPL_TARGET_PORT=$(. "$dir-repl-target/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
export FERRY_TEST_REPL_SOURCE_PORT FERRY_TEST_REPL_TARGET_PORT
"$@"
