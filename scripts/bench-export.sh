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
# rows, in MariaDB A. Exports read A with a cold cache (page cache dropped before each run):
# `ferry export`, `mysqldump --single-transaction --quick` per database in sequence, and
# `mydumper --threads THREADS`. Each export's result is then imported into freshly dropped
# databases on MariaDB B by its own importer (`ferry restore mysql` per database,
# `mariadb <` per dump, `myloader --threads THREADS`), and checked with CHECKSUM TABLE against A.
# Prints median and min seconds, and the ratios issue 20 sets as goals.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROWS=${ROWS:-1000000}; SMALL_TABLES=${SMALL_TABLES:-20}; SMALL_ROWS=${SMALL_ROWS:-10000}; SECOND_ROWS=${SECOND_ROWS:-200000}
RUNS=${RUNS:-3}; THREADS=${THREADS:-2}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
for tool in hyperfine myloader mydumper mysqldump mariadb; do
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
hf() { # NAME PREPARE CMD -> MED MIN
  local j="$work/hf.json"
  echo "hyperfine: $1" >&2
  hyperfine --shell bash --style none --runs "$RUNS" --prepare "$2" --export-json "$j" "$3" >/dev/null \
    || { echo "$1 failed; the last lines of Ferry's logs:" >&2; tail -n 20 "$work"/ferry-*.log >&2 2>/dev/null || true; exit 1; }
  read -r MED MIN < <(python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))["results"][0]
print("%.3f %.3f" % (r["median"], r["min"]))' "$j")
}
verify() { # tables differing between A and B
  local t bad=0
  for t in $TABLES; do
    [ "$($CA -N -e "CHECKSUM TABLE $t" | cut -f2)" = "$($CB -N -e "CHECKSUM TABLE $t" | cut -f2)" ] || bad=$((bad+1))
  done
  echo "$bad"
}
rows=()
line() { rows+=("$(printf '%-52s %8s %8s %10s %s' "$1" "$2" "$3" "$(awk -v n="$TOTAL" -v s="$2" 'BEGIN{printf "%.0f", n/s}')" "$4")"); }

# Exports (cold cache on the source).
hf "ferry export" "rm -rf '$work/ferry-pkg'; settle $PA; drop_caches" "FERRY_MYSQL_PASSWORD= '$FERRY_BIN' export --config '$work/export.yaml' >'$work/ferry-export.log' 2>&1 || { tail -5 '$work/ferry-export.log' >&2; exit 1; }"
FE=$MED; line "ferry export (mysql.parallelism $THREADS)" "$MED" "$MIN" "$(du -sm "$work/ferry-pkg" | cut -f1) MiB, sha256 and digests included"
if [ "${ZSTD:-1}" = 1 ]; then
  hf "ferry export, zstd" "rm -rf '$work/ferry-pkg-zstd'; settle $PA; drop_caches" "FERRY_MYSQL_PASSWORD= '$FERRY_BIN' export --config '$work/export-zstd.yaml' >'$work/ferry-export-zstd.log' 2>&1 || { tail -5 '$work/ferry-export-zstd.log' >&2; exit 1; }"
  line "ferry export, mysql.compression: zstd" "$MED" "$MIN" "$(du -sm "$work/ferry-pkg-zstd" | cut -f1) MiB"
fi
hf "mysqldump" "rm -rf '$work/dumps'; mkdir -p '$work/dumps'; settle $PA; drop_caches" "for db in app crm; do mysqldump --no-defaults -h127.0.0.1 -P$PA -uroot --single-transaction --quick --databases \$db > '$work/dumps/'\$db.sql; done"
DE=$MED; line "mysqldump --single-transaction --quick, per db" "$MED" "$MIN" "$(du -sm "$work/dumps" | cut -f1) MiB"
hf "mydumper" "rm -rf '$work/mydumper'; settle $PA; drop_caches" "mydumper --host 127.0.0.1 --port $PA --user root --regex '^(app|crm)\\.' --threads $THREADS --rows 100000 --outputdir '$work/mydumper' >/dev/null 2>&1"
ME=$MED; line "mydumper --threads $THREADS" "$MED" "$MIN" "$(du -sm "$work/mydumper" | cut -f1) MiB"

# Imports, each from its own export (databases dropped on B before each run).
reset_b="$CB -e 'DROP DATABASE IF EXISTS app; DROP DATABASE IF EXISTS crm'; settle $PB; sync"
hf "ferry restore mysql" "$reset_b" "for db in app crm; do FERRY_MYSQL_USERNAME=root '$FERRY_BIN' restore mysql --package '$work/ferry-pkg' --database \$db --port $PB --parallelism $THREADS --result-file '$work/r.json' >>'$work/ferry-restore.log' 2>&1 || { tail -5 '$work/ferry-restore.log' >&2; exit 1; }; done"
FI=$MED; line "ferry restore mysql --parallelism $THREADS, per db" "$MED" "$MIN" "mismatches=$(verify); includes its checks + verification"
if [ "${ZSTD:-1}" = 1 ]; then
  hf "ferry restore mysql, zstd" "$reset_b" "for db in app crm; do FERRY_MYSQL_USERNAME=root '$FERRY_BIN' restore mysql --package '$work/ferry-pkg-zstd' --database \$db --port $PB --parallelism $THREADS --result-file '$work/r.json' >>'$work/ferry-restore.log' 2>&1 || { tail -5 '$work/ferry-restore.log' >&2; exit 1; }; done"
  line "ferry restore mysql --parallelism $THREADS, zstd parts" "$MED" "$MIN" "mismatches=$(verify)"
fi
hf "mariadb <" "$reset_b" "for db in app crm; do $CB < '$work/dumps/'\$db.sql; done"
DI=$MED; line "mariadb < dump.sql, per db" "$MED" "$MIN" "mismatches=$(verify)"
hf "myloader" "$reset_b" "myloader --host 127.0.0.1 --port $PB --user root --directory '$work/mydumper' --threads $THREADS"
MI=$MED; line "myloader --threads $THREADS" "$MED" "$MIN" "mismatches=$(verify)"

echo "== export and import: MariaDB $($CA -N -e 'SELECT VERSION()'), $TOTAL rows (app: $ROWS + $SMALL_TABLES x $SMALL_ROWS; crm: $SECOND_ROWS), runs=$RUNS, $(nproc) cores, cold source cache"
printf '%-52s %8s %8s %10s %s\n' "step" "median_s" "min_s" "rows/s" "notes"
printf '%s\n' "${rows[@]}"
awk -v fe="$FE" -v me="$ME" -v fi="$FI" -v mi="$MI" -v di="$DI" -v de="$DE" 'BEGIN{
  printf "export: ferry %.2fx mydumper'"'"'s speed (goal >= 1.3)\n", me/fe
  printf "import: ferry %.2fx myloader'"'"'s speed (goal >= 1.3), %.2fx mariadb <'"'"'s (goal >= 2.5)\n", mi/fi, di/fi
  printf "export + import: ferry %.2f s = %.2fx of mysqldump then mariadb < (%.2f s) (goal <= 0.4)\n", fe+fi, (fe+fi)/(de+di), de+di }'
