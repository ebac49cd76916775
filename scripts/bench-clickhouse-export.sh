#!/usr/bin/env bash
# ClickHouse export: `ferry export` writing a partitioned table one file per partition
# (clickhouse.parallelism 2) against the same export in one stream (splitAboveBytes above the
# table) and against the peer, `clickhouse-client … FORMAT TabSeparated > file`, one stream and
# two partitions at a time by hand, in the same run. Each result is checked (rows) after its run.
#
#   scripts/bench-clickhouse-export.sh     (env: ROWS=5000000 RUNS=3 FERRY_BIN=.build/release/ferry)
#
# Runs are interleaved (peer, peer ×2, ferry one stream, ferry split; again…), each into an empty
# folder after the page cache is dropped. Prints median and min seconds and rows/s per method.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROWS=${ROWS:-5000000}; RUNS=${RUNS:-3}
ferry=${FERRY_BIN:-$root/.build/release/ferry}
[ -x "$ferry" ] || { echo "build it first: swift build -c release --product ferry" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-chx.XXXXXX")
cleanup() { "$here/test-servers.sh" down "$work/a" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
ONLY=clickhouse CH_HTTP=28723 CH_TCP=29700 "$here/test-servers.sh" up "$work/a" >/dev/null
AT=$(. "$work/a/env.sh"; echo "$FERRY_TEST_CLICKHOUSE_TCP"); AH=$(. "$work/a/env.sh"; echo "$FERRY_TEST_CLICKHOUSE_HTTP")
A="clickhouse-client --host 127.0.0.1 --port $AT"
$A -n -q "CREATE DATABASE mig; CREATE TABLE mig.ev (date Date, ts DateTime, id UInt64, user_id UInt32, event String, value Float64, payload String)
     ENGINE = MergeTree PARTITION BY toYYYYMM(date) ORDER BY (user_id, ts, id)"
$A -q "INSERT INTO mig.ev SELECT toDate(ts) AS date, toDateTime(1704067200 + intDiv(number * 31622399, $ROWS)) AS ts,
       number AS id, toUInt32(cityHash64(number) % 100000) AS user_id, ['view','click','buy','share'][number % 4 + 1] AS event,
       (number % 10000) / 100. AS value, hex(cityHash64(number)) AS payload FROM numbers($ROWS)"
$A -q "OPTIMIZE TABLE mig.ev FINAL" || true
$A -q "SELECT DISTINCT toYYYYMM(date) FROM mig.ev ORDER BY 1" >"$work/partitions.txt"
for split in one split; do
  above=$([ $split = one ] && echo 1099511627776 || echo 0)
  printf 'output: %s\nappVersion: bench\nminFreePercent: 1\nclickhouse: {url: "http://127.0.0.1:%s", tables: [mig.ev], parallelism: 2, splitAboveBytes: %s}\n' \
    "$work/out" "$AH" "$above" >"$work/export-$split.yaml"
done
cat >"$work/one-partition.sh" <<SH
#!/bin/sh
exec $A -q "SELECT * FROM mig.ev WHERE toYYYYMM(date) = \$1 FORMAT TabSeparated" >"$work/out/\$1.tsv"
SH
chmod +x "$work/one-partition.sh"
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
lines() { find "$work/out" -name '*.tsv' -exec cat {} + | wc -l; }
declare -A times
for run in $(seq 1 "$RUNS"); do
  for method in peer peer2 ferry-one ferry-split; do
    rm -rf "$work/out"; mkdir -p "$work/out"; drop_caches
    t0=$(now)
    case $method in
      peer) $A -q "SELECT * FROM mig.ev FORMAT TabSeparated" >"$work/out/ev.tsv" ;;
      peer2) xargs -P 2 -n 1 "$work/one-partition.sh" <"$work/partitions.txt" ;;
      ferry-one) FERRY_CLICKHOUSE_PASSWORD= "$ferry" export --config "$work/export-one.yaml" >"$work/ferry.out" 2>&1 || { cat "$work/ferry.out" >&2; exit 1; } ;;
      ferry-split) FERRY_CLICKHOUSE_PASSWORD= "$ferry" export --config "$work/export-split.yaml" >"$work/ferry.out" 2>&1 || { cat "$work/ferry.out" >&2; exit 1; } ;;
    esac
    t1=$(now)
    got=$(lines)
    [ "$got" -eq "$ROWS" ] || { echo "$method: $got rows written, $ROWS in the table" >&2; exit 1; }
    times[$method]="${times[$method]:-} $(echo "$t1 - $t0" | bc)"
  done
done
echo "== ClickHouse export of $ROWS rows in $(wc -l <"$work/partitions.txt") partitions: $($A -q 'SELECT version()'), runs=$RUNS, $(nproc) cores, cold page cache"
printf '%-58s %8s %8s %10s\n' method median_s min_s rows/s
for method in peer peer2 ferry-one ferry-split; do
  read -r med min < <(echo "${times[$method]}" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f %.3f\n", m, a[1]}')
  case $method in
    peer) label="clickhouse-client SELECT * FORMAT TabSeparated > file" ;;
    peer2) label="clickhouse-client per partition, 2 at a time (by hand)" ;;
    ferry-one) label="ferry export, one stream (sha256, rows counted)" ;;
    ferry-split) label="ferry export, one file per partition, 2 at a time" ;;
  esac
  printf '%-58s %8s %8s %10.0f\n' "$label" "$med" "$min" "$(echo "$ROWS / $med" | bc -l)"
done
