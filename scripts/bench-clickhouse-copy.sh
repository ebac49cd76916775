#!/usr/bin/env bash
# ClickHouse live copy: `ferry clickhouse copy` (partition by partition through remote(), its
# verification included) against hand-run INSERT … SELECT FROM remote() loops, one and two
# partitions in flight (as ../shared/bench/bench-clickhouse.sh runs them), in the same run.
#
#   scripts/bench-clickhouse-copy.sh     (env: ROWS=5000000 RUNS=3 FERRY_BIN=.build/debug/ferry)
#
# Runs are interleaved (hand 1, hand 2, ferry; again…); each starts from an empty target table.
# Prints median and min seconds and rows/s per method, and checks every partition's count and
# content hash on both sides after each run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROWS=${ROWS:-5000000}; RUNS=${RUNS:-3}
ferry=${FERRY_BIN:-$root/.build/debug/ferry}
[ -x "$ferry" ] || { echo "build it first: swift build --product ferry" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-ch.XXXXXX")
cleanup() { "$here/test-servers.sh" down "$work/a" >/dev/null 2>&1 || true; "$here/test-servers.sh" down "$work/b" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
ONLY=clickhouse CH_HTTP=28523 CH_TCP=29500 "$here/test-servers.sh" up "$work/a" >/dev/null
ONLY=clickhouse CH_HTTP=28623 CH_TCP=29600 "$here/test-servers.sh" up "$work/b" >/dev/null
AT=$(. "$work/a/env.sh"; echo "$FERRY_TEST_CLICKHOUSE_TCP"); BT=$(. "$work/b/env.sh"; echo "$FERRY_TEST_CLICKHOUSE_TCP")
BH=$(. "$work/b/env.sh"; echo "$FERRY_TEST_CLICKHOUSE_HTTP")
A="clickhouse-client --host 127.0.0.1 --port $AT"
B="clickhouse-client --host 127.0.0.1 --port $BT"
DDL="CREATE TABLE mig.ev (date Date, ts DateTime, id UInt64, user_id UInt32, event String, value Float64, payload String)
     ENGINE = MergeTree PARTITION BY toYYYYMM(date) ORDER BY (user_id, ts, id)"
$A -n -q "CREATE DATABASE mig; $DDL"
$B -q "CREATE DATABASE mig"
$A -q "INSERT INTO mig.ev SELECT toDate(ts) AS date, toDateTime(1704067200 + intDiv(number * 31622399, $ROWS)) AS ts,
       number AS id, toUInt32(cityHash64(number) % 100000) AS user_id, ['view','click','buy','share'][number % 4 + 1] AS event,
       (number % 10000) / 100. AS value, hex(cityHash64(number)) AS payload FROM numbers($ROWS)"
PARTS=$($A -q "SELECT DISTINCT partition FROM system.parts WHERE database='mig' AND table='ev' AND active ORDER BY partition")
echo "$PARTS" >"$work/partitions.txt"
cat >"$work/copy-one.sh" <<SH
#!/bin/sh
exec $B -q "INSERT INTO mig.ev SELECT * FROM remote('127.0.0.1:$AT', mig, ev) WHERE toYYYYMM(date) = \$1"
SH
chmod +x "$work/copy-one.sh"
mkdir -p "$work/creds"; printf default >"$work/creds/username"; printf '' >"$work/creds/password"
VERIFY="SELECT toYYYYMM(date) AS p, count(), sum(cityHash64(id, ts, user_id, event, value, payload)) FROM mig.ev GROUP BY p ORDER BY p FORMAT TabSeparated"
want=$($A -q "$VERIFY")
now() { date +%s.%N; }
reset_b() { $B -q "DROP TABLE IF EXISTS mig.ev"; $B -q "$DDL"; }
declare -A times
for run in $(seq 1 "$RUNS"); do
  for method in hand1 hand2 ferry; do
    reset_b
    t0=$(now)
    case $method in
      hand1) xargs -P 1 -n 1 "$work/copy-one.sh" <"$work/partitions.txt" ;;
      hand2) xargs -P 2 -n 1 "$work/copy-one.sh" <"$work/partitions.txt" ;;
      ferry) "$ferry" clickhouse copy --table mig.ev --source "127.0.0.1:$AT" --source-credentials-dir "$work/creds" --url "http://127.0.0.1:$BH" \
               --credentials-dir "$work/creds" --concurrency 2 --result-file "" >"$work/ferry.out" 2>&1 || { cat "$work/ferry.out" >&2; exit 1; } ;;
    esac
    t1=$(now)
    [ "$($B -q "$VERIFY")" = "$want" ] || { echo "$method: the target differs from the source" >&2; exit 1; }
    times[$method]="${times[$method]:-} $(echo "$t1 - $t0" | bc)"
  done
done
printf '%-46s %9s %9s %12s\n' "copy $ROWS rows, $(wc -l <"$work/partitions.txt") partitions" median_s min_s rows/s
for method in hand1 hand2 ferry; do
  read -r med min < <(printf '%s\n' ${times[$method]} | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1]}')
  case $method in
    hand1) label="INSERT…SELECT remote(), 1 in flight" ;;
    hand2) label="INSERT…SELECT remote(), 2 in flight" ;;
    ferry) label="ferry clickhouse copy -c 2 (verified)" ;;
  esac
  printf '%-46s %9.2f %9.2f %12.0f\n' "$label" "$med" "$min" "$(echo "$ROWS / $med" | bc -l)"
done
