#!/usr/bin/env bash
# ferry mover files against rsync -a and rclone on the same tree, cold cache, same run.
#
#   scripts/bench-files.sh    (env: FILES=20000 RUNS=3 PARALLELISM=16 MEM_FILES=1000000 SYNC=1
#                              FERRY_BIN=.build/release/ferry BENCH_TMP=/tmp)
#
# Full copy of ../shared/bench/gen-tree.sh's tree (1 KiB–256 KiB files, ~900 MiB for 20,000),
# then the 1% changed + 1% new delta; every timed run starts from a dropped page cache and
# (SYNC=1) ends with `sync`. Checks the file count and, after the delta, how many files still
# differ (rsync -nc). Then peak RSS of ferry and rsync on a tree of MEM_FILES empty files.
# Needs root (drop_caches), hyperfine, rsync, rclone (WITH_BENCH_TOOLS=1 scripts/install-servers.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$root/../shared/bench}
. "$SHARED/lib.sh"
FILES=${FILES:-20000}; RUNS=${RUNS:-3}; P=${PARALLELISM:-16}; MEM_FILES=${MEM_FILES:-1000000}; SYNC=${SYNC:-1}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
[ -x "$FERRY_BIN" ] || die "build it first: swift build -c release --product ferry"
for t in hyperfine rsync rclone; do command -v $t >/dev/null || die "$t missing: WITH_BENCH_TOOLS=1 scripts/install-servers.sh"; done
make_work ferry-files
SRC=$WORK/src DST=$WORK/dst BASE=$WORK/dst-base
S=""; [ "$SYNC" = 1 ] && S=" && sync"
DROP="sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true"
FERRY="'$FERRY_BIN' mover files --control-port=-1 --result-file /dev/null --parallelism $P"

log "generating $FILES files"
out=$("$SHARED/gen-tree.sh" create "$SRC" "$FILES"); BYTES=${out##*bytes=}
MIB=$(awk -v b="$BYTES" 'BEGIN{printf "%.0f", b/1048576}')

hf() {  # hf PREPARE CMD -> MED MIN CPU
  local j="$WORK/hf.json"
  hyperfine --shell bash --style none --runs "$RUNS" --prepare "$1" --export-json "$j" "$2" >/dev/null
  read -r MED MIN CPU < <(python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))["results"][0]
print("%.3f %.3f %.2f" % (r["median"], r["min"], r["user"]+r["system"]))' "$j")
}
ROWS=()
row() { ROWS+=("$(printf '%-46s %9s %9s %9s %9s %7s %s' "$@")"); }

row "full copy ($FILES files, $MIB MiB)" median_s min_s files/s MiB/s cpu_s files_in_target
declare -A FULL
for name in ferry rsync rclone; do
  case $name in
    ferry) cmd="$FERRY --source '$SRC' --target '$DST' >/dev/null"; label="ferry mover files -p $P" ;;
    rsync) cmd="rsync -a '$SRC/' '$DST/'"; label="rsync -a" ;;
    rclone) cmd="rclone copy --transfers 8 --checkers 16 --ignore-checksum '$SRC' '$DST'"; label="rclone copy -t8 -c16 --ignore-checksum" ;;
  esac
  log "full: $label"
  hf "rm -rf '$DST'; $DROP" "$cmd$S"
  n=$(find "$DST" -type f | wc -l)
  FULL[$name]=$MED
  row "$label" "$MED" "$MIN" "$(div "$FILES" "$MED")" "$(awk -v b="$BYTES" -v s="$MED" 'BEGIN{printf "%.0f", b/1048576/s}')" "$CPU" "$n"
done

rm -rf "$DST"; cp -a "$SRC" "$BASE"
mut=$("$SHARED/gen-tree.sh" mutate "$SRC" 1 1); log "mutate: $mut"
row "" "" "" "" "" "" ""
row "delta (${mut})" median_s min_s files/s "" cpu_s files_still_differing
declare -A DELTA
for name in ferry rsync rclone; do
  case $name in
    ferry) cmd="$FERRY --source '$SRC' --target '$DST' >/dev/null"; label="ferry mover files -p $P" ;;
    rsync) cmd="rsync -a '$SRC/' '$DST/'"; label="rsync -a" ;;
    rclone) cmd="rclone copy --transfers 8 --checkers 16 '$SRC' '$DST'"; label="rclone copy (size/modtime)" ;;
  esac
  log "delta: $label"
  hf "rm -rf '$DST'; cp -a '$BASE' '$DST'; $DROP" "$cmd$S"
  differ=$(rsync -rnc --out-format='%n' "$SRC/" "$DST/" | grep -vc '/$' || true)
  DELTA[$name]=$MED
  row "$label" "$MED" "$MIN" "$(div "$((FILES + FILES / 100))" "$MED")" "" "$CPU" "$differ"
done
rm -rf "$DST" "$BASE"

log "memory: $MEM_FILES empty files"
python3 - "$WORK/many" "$MEM_FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = "%s/d%03d/e%03d" % (root, i // 100000, (i // 100) % 1000)
    if i % 100 == 0: os.makedirs(d, exist_ok=True)
    open("%s/f%07d" % (d, i), "wb").close()
PY
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
FERRY_RSS=$(rss "$FERRY_BIN" mover files --control-port=-1 --result-file /dev/null --parallelism "$P" --source "$WORK/many" --target "$WORK/many-ferry")
RSYNC_RSS=$(rss rsync -a "$WORK/many/" "$WORK/many-rsync/")

echo "== files: $FILES files, $MIB MiB, runs=$RUNS, sync=$SYNC, cold cache, $(nproc) cores, fs=$(df -T "$WORK" | awk 'NR==2{print $2}')"
printf '%s\n' "${ROWS[@]}"
echo
awk -v f="${FULL[ferry]}" -v r="${FULL[rsync]}" -v c="${FULL[rclone]}" -v df="${DELTA[ferry]}" -v dr="${DELTA[rsync]}" 'BEGIN{
  printf "full copy: ferry %.2fx rsync -a files/s (goal >= 2x), %.2fx rclone (goal >= 1.5x)\n", r/f, c/f
  printf "delta: ferry takes %.2fx the time of rsync -a (goal <= 0.5x)\n", df/dr }'
echo "peak RSS on $MEM_FILES empty files: ferry $((FERRY_RSS / 1024)) MiB (goal <= 64 MiB), rsync -a $((RSYNC_RSS / 1024)) MiB"
