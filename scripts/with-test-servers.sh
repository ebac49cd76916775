#!/usr/bin/env bash
# Runs a command with Ferry's test servers (MariaDB, ClickHouse, Redis, Kafka, a pair of MariaDB
# with GTID replication for the MySQL-online tests, two ClickHouse servers for the partition copy,
# a ZooKeeper with two ClickHouse replicas) up; stops them by PID afterwards.
#   scripts/with-test-servers.sh CMD ARGS...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-servers.XXXXXX")
rmdir "$dir"
trap '"$here/test-servers.sh" down "$dir"; for d in repl-source repl-target ch-source ch-target ch-replicas swift; do "$here/test-servers.sh" down "$dir-$d" >/dev/null 2>&1; done' EXIT
trap 'exit 130' INT TERM
"$here/test-servers.sh" up "$dir" >/dev/null || exit 1
# shellcheck disable=SC1091
. "$dir/env.sh"
ONLY=mysql MY_BINLOG=1 MY_SERVER_ID=1 MY_BUFFER_POOL=64M MY_PORT=24306 "$here/test-servers.sh" up "$dir-repl-source" >/dev/null || exit 1
ONLY=mysql MY_BINLOG=1 MY_SERVER_ID=2 MY_BUFFER_POOL=64M MY_PORT=24406 "$here/test-servers.sh" up "$dir-repl-target" >/dev/null || exit 1
FERRY_TEST_REPL_SOURCE_PORT=$(. "$dir-repl-source/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
FERRY_TEST_REPL_TARGET_PORT=$(. "$dir-repl-target/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
export FERRY_TEST_REPL_SOURCE_PORT FERRY_TEST_REPL_TARGET_PORT
# And two ClickHouse servers for the partition copy.
# The source has a cluster "source" of itself, for Distributed tables.
CH_EXTRA_CONFIG="<remote_servers><source><shard><replica><host>127.0.0.1</host><port>@TCP@</port></replica></shard></source></remote_servers>" \
  ONLY=clickhouse CH_HTTP=28223 CH_TCP=29100 "$here/test-servers.sh" up "$dir-ch-source" >/dev/null || exit 1
ONLY=clickhouse CH_HTTP=28323 CH_TCP=29200 "$here/test-servers.sh" up "$dir-ch-target" >/dev/null || exit 1
FERRY_TEST_CH_PAIR_SOURCE=$(. "$dir-ch-source/env.sh"; echo "$FERRY_TEST_CLICKHOUSE_HTTP:$FERRY_TEST_CLICKHOUSE_TCP")
FERRY_TEST_CH_PAIR_TARGET=$(. "$dir-ch-target/env.sh"; echo "$FERRY_TEST_CLICKHOUSE_HTTP:$FERRY_TEST_CLICKHOUSE_TCP")
export FERRY_TEST_CH_PAIR_SOURCE FERRY_TEST_CH_PAIR_TARGET
# And a ZooKeeper with two ClickHouse replicas, the target of the engine rewrite.
ONLY=replicas "$here/test-servers.sh" up "$dir-ch-replicas" >/dev/null || exit 1
# shellcheck disable=SC1091
. "$dir-ch-replicas/env.sh"
export FERRY_TEST_CH_REPLICAS FERRY_TEST_ZK_PORT
# And OpenStack Swift with its S3 API, for the object-storage tests.
ONLY=swift "$here/test-servers.sh" up "$dir-swift" >/dev/null || exit 1
FERRY_TEST_SWIFT_PORT=$(. "$dir-swift/env.sh"; echo "$FERRY_TEST_SWIFT_PORT")
export FERRY_TEST_SWIFT_PORT
"$@"
