#!/usr/bin/env bash
# The restore-mode downtime of the database part, in the same run, same data: export (the app is
# stopped on the source host) then import (stopped on the target), for Ferry and its peers.
#
#   scripts/bench-export.sh    (env: ROWS=1000000 SMALL_TABLES=20 SMALL_ROWS=10000 SECOND_ROWS=200000
#                               RUNS=3 THREADS=2 FERRY_BIN=.build/release/ferry KEEP=1 keeps the servers and files
#                               ZSTD=0 leaves out the export and restore with mysql.compression: zstd)
#
# Data: ../shared/bench/bench-mysql.sh's `app` (table `big`, ROWS rows of ~100 B with a secondary
# index, and SMALL_TABLES tables of SMALL_ROWS rows) plus a second database `crm` of SECOND_ROWS
# rows, in MariaDB A. Exports read A with the page cache dropped before each run, twice over:
# with the tables in A's buffer pool (the exporters' CPU and A's count), and with A's buffer pool
# emptied first (every page read from the disk, as for a database bigger than its memory):
# `ferry export`, `mysqldump --single-transaction --quick` per database in sequence, and
# `mydumper --threads THREADS`. Each export's result is then imported into freshly dropped
# databases on MariaDB B by its own importer (`ferry restore mysql` per database,
# `mariadb <` per dump, `myloader --threads THREADS`), and checked with CHECKSUM TABLE against A.
# The tools take turns, one run each per round. Prints median and min seconds, and the ratios
# issue 20 sets as goals.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROWS=${ROWS:-1000000}; SMALL_TABLES=${SMALL_TABLES:-20}; SMALL_ROWS=${SMALL_ROWS:-10000}; SECOND_ROWS=${SECOND_ROWS:-200000}
RUNS=${RUNS:-3}; THREADS=${THREADS:-2}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
for tool in myloader mydumper mysqldump mariadb; do
  command -v $tool >/dev/null || { echo "needs $tool (WITH_BENCH_TOOLS=1 scripts/install-servers.sh)" >&2; exit 1; }
done
[ -x "$FERRY_BIN" ] || { echo "build it first: swift build -c release --product ferry" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-export.XXXXXX")
cleanup() { "$here/test-servers.sh" down "$work/a" >/dev/null 2>&1 || true; "$here/test-servers.sh" down "$work/b" >/dev/null 2>&1 || true; rm -rf "$work"; }
[ "${KEEP:-0}" = 1 ] || trap cleanup EXIT
ONLY=mysql "$here/test-servers.sh" up "$work/a" >/dev/null
PA=$(. "$work/a/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
MY_PORT=$((PA + 1)) ONLY=mysql "$here/test-servers.sh" up "$work/b" >/dev/null
PB=$(. "$work/b/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
CA="mariadb --no-defaults -h127.0.0.1 -P$PA -uroot"
CB="mariadb --no-defaults -h127.0.0.1 -P$PB -uroot"
echo "loading source: app $ROWS rows + $SMALL_TABLES x $SMALL_ROWS, crm $SECOND_ROWS rows" >&2
{
  echo "CREATE DATABASE app; USE app;"
  echo "CREATE TABLE big (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, user_id INT UNSIGNED NOT NULL,
        created DATETIME NOT NULL, status TINYINT NOT NULL, amount DECIMAL(12,2) NOT NULL,
        note VARCHAR(80) NOT NULL, KEY (user_id)) ENGINE=InnoDB;"
  echo "INSERT INTO big SELECT seq, seq % 50000, '2024-01-01' + INTERVAL (seq % 31536000) SECOND,
        seq % 5, (seq % 100000) / 100, CONCAT(MD5(seq), '-', SHA1(seq)) FROM seq_1_to_$ROWS;"
  for i in $(seq 1 "$SMALL_TABLES"); do
    echo "CREATE TABLE t$i (id INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL,
          v DOUBLE NOT NULL, ts TIMESTAMP NOT NULL DEFAULT '2024-01-01 00:00:00') ENGINE=InnoDB;"
    echo "INSERT INTO t$i (id, name, v) SELECT seq, MD5(seq * $i), seq / $i FROM seq_1_to_$SMALL_ROWS;"
  done
  echo "CREATE DATABASE crm; USE crm;"
  echo "CREATE TABLE contacts (id INT UNSIGNED NOT NULL PRIMARY KEY, email VARCHAR(80) NOT NULL,
        company VARCHAR(60) NOT NULL, score INT NOT NULL, KEY (company)) ENGINE=InnoDB;"
  echo "INSERT INTO contacts SELECT seq, CONCAT('user', seq, '@example.com'), CONCAT('company ', seq % 997), seq % 1000 FROM seq_1_to_$SECOND_ROWS;"
} | $CA
TOTAL=$((ROWS + SMALL_TABLES * SMALL_ROWS + SECOND_ROWS))
TABLES="app.big $(seq -f 'app.t%g' 1 "$SMALL_TABLES") crm.contacts"
cat > "$work/export.yaml" <<YAML
output: $work/ferry-pkg
appVersion: bench
minFreePercent: 1
mysql: {host: 127.0.0.1, port: $PA, user: root, databases: [app, crm], parallelism: $THREADS}
YAML

sed -e "s#output: $work/ferry-pkg#output: $work/ferry-pkg-zstd#" -e 's#parallelism: \([0-9]*\)}#parallelism: \1, compression: zstd}#' "$work/export.yaml" > "$work/export-zstd.yaml"

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# Each run starts from a settled server: the pages the previous load or drop dirtied are flushed
# first, so no run pays for its predecessor's writes (the first export ran while the data load
# was being flushed: 1.59 s against 1.0 s once settled).
settle() { # PORT
  local c="mariadb --no-defaults -h127.0.0.1 -P$1 -uroot -N" pct i
  pct=$($c -e "SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
  $c -e "SET GLOBAL innodb_max_dirty_pages_pct = 0"
  for i in $(seq 1 600); do
    [ "$($c -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | cut -f2)" -le 16 ] && break
    sleep 0.1
  done
  $c -e "SET GLOBAL innodb_max_dirty_pages_pct = $pct"
}
export -f drop_caches settle
# Runs are interleaved (one of each tool per round), so a machine that speeds up or slows down
# during the benchmark weighs on every tool alike. TIMES[name] collects each run's seconds.
declare -A TIMES
timed() { # NAME PREPARE CMD: one run of CMD after PREPARE (untimed), in this shell
  eval "$2" >/dev/null 2>&1 || { echo "preparing $1 failed" >&2; exit 1; }
  local t0=$EPOCHREALTIME
  eval "$3" || { echo "$1 failed; the last lines of Ferry's logs:" >&2; tail -n 20 "$work"/ferry-*.log >&2 2>/dev/null || true; exit 1; }
  TIMES[$1]+="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}') "
}
stat() { # NAME -> MED MIN
  read -r MED MIN < <(printf '%s\n' ${TIMES[$1]} | sort -n | awk '{a[NR]=$1} END{printf "%.3f %.3f\n", NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2, a[1]}')
}
# An empty buffer pool on the source (shrunk to 32 MiB and grown back, clean pages only after
# `settle`): the export then reads every page from the disk, as for a database bigger than its
# memory. Without it the tables stay in the 1 GiB buffer pool between runs, and dropping the
# page cache only makes the tools' own files cold.
evict() { # PORT
  local c="mariadb --no-defaults -h127.0.0.1 -P$1 -uroot -N" size i s
  size=$($c -e "SELECT @@GLOBAL.innodb_buffer_pool_size")
  for target in $((32 << 20)) "$size"; do
    $c -e "SET GLOBAL innodb_buffer_pool_size = $target"
    for i in $(seq 1 300); do
      s=$($c -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_resize_status'" | cut -f2)
      case "$s" in ""|*Completed*|*completed*) break;; esac
      sleep 0.1
    done
  done
}
export -f evict
verify() { # tables differing between A and B
  local t bad=0
  for t in $TABLES; do
    [ "$($CA -N -e "CHECKSUM TABLE $t" | cut -f2)" = "$($CB -N -e "CHECKSUM TABLE $t" | cut -f2)" ] || bad=$((bad+1))
  done
  echo "$bad"
}
rows=()
line() { rows+=("$(printf '%-66s %8s %8s %10s %s' "$1" "$2" "$3" "$(awk -v n="$TOTAL" -v s="$2" 'BEGIN{printf "%.0f", n/s}')" "$4")"); }

FERRY_EXPORT="FERRY_MYSQL_PASSWORD= '$FERRY_BIN' export --config '$work/export.yaml' >'$work/ferry-export.log' 2>&1 || { tail -5 '$work/ferry-export.log' >&2; false; }"
FERRY_EXPORT_ZSTD="FERRY_MYSQL_PASSWORD= '$FERRY_BIN' export --config '$work/export-zstd.yaml' >'$work/ferry-export-zstd.log' 2>&1 || { tail -5 '$work/ferry-export-zstd.log' >&2; false; }"
MYSQLDUMP="for db in app crm; do mysqldump --no-defaults -h127.0.0.1 -P$PA -uroot --single-transaction --quick --databases \$db > '$work/dumps/'\$db.sql || exit 1; done"
MYDUMPER="mydumper --host 127.0.0.1 --port $PA --user root --regex '^(app|crm)\\.' --threads $THREADS --rows 100000 --outputdir '$work/mydumper' >/dev/null 2>&1"

# Exports: with the tables in the source's buffer pool (page cache dropped), then with an empty
# buffer pool (every page read from the disk).
for cold in 0 1; do
  e=""; [ "$cold" = 1 ] && e="; evict $PA"
  echo "exports, $RUNS rounds, buffer pool $([ "$cold" = 1 ] && echo emptied || echo kept)" >&2
  for r in $(seq 1 "$RUNS"); do
    timed "ferry export $cold" "rm -rf '$work/ferry-pkg'; settle $PA$e; drop_caches" "$FERRY_EXPORT"
    [ "${ZSTD:-1}" = 1 ] && timed "ferry export zstd $cold" "rm -rf '$work/ferry-pkg-zstd'; settle $PA$e; drop_caches" "$FERRY_EXPORT_ZSTD"
    timed "mysqldump $cold" "rm -rf '$work/dumps'; mkdir -p '$work/dumps'; settle $PA$e; drop_caches" "$MYSQLDUMP"
    timed "mydumper $cold" "rm -rf '$work/mydumper'; settle $PA$e; drop_caches" "$MYDUMPER"
  done
done
for cold in 0 1; do
  where=$([ "$cold" = 1 ] && echo "disk" || echo "buffer pool")
  stat "ferry export $cold"; eval "FE$cold=$MED"; line "ferry export (mysql.parallelism $THREADS), from the $where" "$MED" "$MIN" "$(du -sm "$work/ferry-pkg" | cut -f1) MiB, sha256 and digests included"
  if [ "${ZSTD:-1}" = 1 ]; then stat "ferry export zstd $cold"; line "ferry export, mysql.compression: zstd, from the $where" "$MED" "$MIN" "$(du -sm "$work/ferry-pkg-zstd" | cut -f1) MiB"; fi
  stat "mysqldump $cold"; eval "DE$cold=$MED"; line "mysqldump --single-transaction --quick, per db, from the $where" "$MED" "$MIN" "$(du -sm "$work/dumps" | cut -f1) MiB"
  stat "mydumper $cold"; eval "ME$cold=$MED"; line "mydumper --threads $THREADS, from the $where" "$MED" "$MIN" "$(du -sm "$work/mydumper" | cut -f1) MiB"
done

# Imports, each from its own export (databases dropped on B before each run).
reset_b="$CB -e 'DROP DATABASE IF EXISTS app; DROP DATABASE IF EXISTS crm'; settle $PB; sync"
restore() { # PACKAGE
  echo "for db in app crm; do FERRY_MYSQL_USERNAME=root '$FERRY_BIN' restore mysql --package '$1' --database \$db --port $PB --parallelism $THREADS --result-file '$work/r.json' >>'$work/ferry-restore.log' 2>&1 || { tail -5 '$work/ferry-restore.log' >&2; exit 1; }; done"
}
echo "imports, $RUNS rounds" >&2
for r in $(seq 1 "$RUNS"); do
  timed "ferry restore" "$reset_b" "$(restore "$work/ferry-pkg")"
  [ "$r" = "$RUNS" ] && FERRY_BAD=$(verify)
  if [ "${ZSTD:-1}" = 1 ]; then
    timed "ferry restore zstd" "$reset_b" "$(restore "$work/ferry-pkg-zstd")"
    [ "$r" = "$RUNS" ] && ZSTD_BAD=$(verify)
  fi
  timed "mariadb <" "$reset_b" "for db in app crm; do $CB < '$work/dumps/'\$db.sql || exit 1; done"
  [ "$r" = "$RUNS" ] && DUMP_BAD=$(verify)
  timed "myloader" "$reset_b" "myloader --host 127.0.0.1 --port $PB --user root --directory '$work/mydumper' --threads $THREADS"
  [ "$r" = "$RUNS" ] && MYLOADER_BAD=$(verify)
done
stat "ferry restore"; FI=$MED; line "ferry restore mysql --parallelism $THREADS, per db" "$MED" "$MIN" "mismatches=$FERRY_BAD; includes its checks + verification"
if [ "${ZSTD:-1}" = 1 ]; then stat "ferry restore zstd"; line "ferry restore mysql --parallelism $THREADS, zstd parts" "$MED" "$MIN" "mismatches=$ZSTD_BAD"; fi
stat "mariadb <"; DI=$MED; line "mariadb < dump.sql, per db" "$MED" "$MIN" "mismatches=$DUMP_BAD"
stat "myloader"; MI=$MED; line "myloader --threads $THREADS" "$MED" "$MIN" "mismatches=$MYLOADER_BAD"

echo "== export and import: MariaDB $($CA -N -e 'SELECT VERSION()'), $TOTAL rows (app: $ROWS + $SMALL_TABLES x $SMALL_ROWS; crm: $SECOND_ROWS), $RUNS interleaved rounds, $(nproc) cores, page cache dropped before each run"
printf '%-66s %8s %8s %10s %s\n' "step" "median_s" "min_s" "rows/s" "notes"
printf '%s\n' "${rows[@]}"
for cold in 0 1; do
  awk -v fe="$(eval echo \$FE$cold)" -v me="$(eval echo \$ME$cold)" -v de="$(eval echo \$DE$cold)" -v fi="$FI" -v mi="$MI" -v di="$DI" -v where="$([ "$cold" = 1 ] && echo "from the disk (buffer pool emptied)" || echo "from the buffer pool")" 'BEGIN{
    printf "%s:\n", where
    printf "  export: ferry %.2fx mydumper'"'"'s speed (goal >= 1.3)\n", me/fe
    printf "  export + import: ferry %.2f s = %.2fx of mysqldump then mariadb < (%.2f s) (goal <= 0.4)\n", fe+fi, (fe+fi)/(de+di), de+di }'
done
awk -v fi="$FI" -v mi="$MI" -v di="$DI" 'BEGIN{ printf "import: ferry %.2fx myloader'"'"'s speed (goal >= 1.3), %.2fx mariadb <'"'"'s (goal >= 2.5)\n", mi/fi, di/fi }'
