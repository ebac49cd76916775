#!/usr/bin/env bash
# `ferry restore mysql` versus `mariadb < dump.sql` and myloader, in the same run, same data.
#
#   scripts/bench-restore-mysql.sh    (env: ROWS=1000000 SMALL_TABLES=20 SMALL_ROWS=10000 RUNS=3 THREADS=2
#                                      FERRY_BIN=.build/release/ferry)
#
# Data as ../shared/bench/bench-mysql.sh: table `big` (ROWS rows, ~100 B/row, a secondary index) and
# SMALL_TABLES tables of SMALL_ROWS rows, in MariaDB A. A plain mysqldump file and a mydumper folder
# are made once; each import goes into a freshly dropped database on MariaDB B (hyperfine --prepare),
# and every result is checked with CHECKSUM TABLE against A. Figures: median seconds and rows/s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ROWS=${ROWS:-1000000}; SMALL_TABLES=${SMALL_TABLES:-20}; SMALL_ROWS=${SMALL_ROWS:-10000}
RUNS=${RUNS:-3}; THREADS=${THREADS:-2}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
for tool in hyperfine myloader mydumper mysqldump mariadb; do
  command -v $tool >/dev/null || { echo "needs $tool (WITH_BENCH_TOOLS=1 scripts/install-servers.sh)" >&2; exit 1; }
done
[ -x "$FERRY_BIN" ] || { echo "build it first: swift build -c release --product ferry" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
cleanup() { "$here/test-servers.sh" down "$work/a" >/dev/null 2>&1 || true; "$here/test-servers.sh" down "$work/b" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
ONLY=mysql "$here/test-servers.sh" up "$work/a" >/dev/null
PA=$(. "$work/a/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
MY_PORT=$((PA + 1)) ONLY=mysql "$here/test-servers.sh" up "$work/b" >/dev/null
PB=$(. "$work/b/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
CA="mariadb --no-defaults -h127.0.0.1 -P$PA -uroot"
CB="mariadb --no-defaults -h127.0.0.1 -P$PB -uroot"
echo "loading source: $ROWS rows + $SMALL_TABLES x $SMALL_ROWS" >&2
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
} | $CA
TOTAL=$((ROWS + SMALL_TABLES * SMALL_ROWS))
mkdir -p "$work/pkg"
mysqldump --no-defaults -h127.0.0.1 -P"$PA" -uroot --single-transaction --quick --databases app > "$work/pkg/app.sql"
echo '{"version":"bench"}' > "$work/pkg/info.json"
mydumper --host 127.0.0.1 --port "$PA" --user root --database app --threads "$THREADS" --rows 100000 --outputdir "$work/mydumper" >/dev/null 2>&1
DUMP_MB=$(du -m "$work/pkg/app.sql" | cut -f1)

verify() { # mismatching tables between A and B
  local t bad=0
  for t in big $(seq -f 't%g' 1 "$SMALL_TABLES"); do
    [ "$($CA -N -e "CHECKSUM TABLE app.$t" | cut -f2)" = "$($CB -N -e "CHECKSUM TABLE app.$t" | cut -f2)" ] || bad=$((bad+1))
  done
  echo "$bad"
}
hf() { # NAME CMD -> MED MIN CPU
  local j="$work/hf.json"
  echo "hyperfine: $1" >&2
  hyperfine --shell bash --style none --runs "$RUNS" --prepare "$CB -e 'DROP DATABASE IF EXISTS app'; sync; sleep 1" --export-json "$j" "$2" >/dev/null
  read -r MED MIN CPU < <(python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))["results"][0]
print("%.3f %.3f %.2f" % (r["median"], r["min"], r["user"]+r["system"]))' "$j")
}
rate() { awk -v n="$TOTAL" -v s="$1" 'BEGIN{printf "%.0f", n/s}'; }
rows=()
hf "mariadb < dump.sql" "$CB < '$work/pkg/app.sql'"; M_MED=$MED
rows+=("$(printf '%-44s %8s %8s %10s %7s %s' "mariadb < dump.sql" "$MED" "$MIN" "$(rate "$MED")" "$CPU" "mismatches=$(verify)")")
hf "myloader" "myloader --host 127.0.0.1 --port $PB --user root --directory '$work/mydumper' --threads $THREADS"; L_MED=$MED
rows+=("$(printf '%-44s %8s %8s %10s %7s %s' "myloader --threads $THREADS (own dump format)" "$MED" "$MIN" "$(rate "$MED")" "$CPU" "mismatches=$(verify)")")
hf "ferry restore mysql" "FERRY_MYSQL_USERNAME=root '$FERRY_BIN' restore mysql --package '$work/pkg' --database app --port $PB --parallelism $THREADS --result-file '$work/result.json' >>'$work/ferry.log' 2>&1 || { tail -5 '$work/ferry.log' >&2; exit 1; }"; F_MED=$MED
rows+=("$(printf '%-44s %8s %8s %10s %7s %s' "ferry restore mysql --parallelism $THREADS" "$MED" "$MIN" "$(rate "$MED")" "$CPU" "mismatches=$(verify); includes its dump check + verification")")
echo "== restore-mysql: MariaDB $($CA -N -e 'SELECT VERSION()'), $TOTAL rows ($ROWS + $SMALL_TABLES x $SMALL_ROWS), plain dump ${DUMP_MB} MiB, runs=$RUNS, $(nproc) cores"
printf '%-44s %8s %8s %10s %7s %s\n' "import" "median_s" "min_s" "rows/s" "cpu_s" "notes"
printf '%s\n' "${rows[@]}"
awk -v m="$M_MED" -v l="$L_MED" -v f="$F_MED" 'BEGIN{printf "ferry vs mariadb <: %.2fx (goal >= 2x)   ferry vs myloader: %.2fx (goal >= 1x)\n", m/f, l/f}'
