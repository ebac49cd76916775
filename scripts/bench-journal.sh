#!/usr/bin/env bash
# The final file delta with the change journal, against ferry's full walk and rsync -a, same run.
#
#   scripts/bench-journal.sh   (env: SIZES="20000 1000000" RUNS=3 CACHE=cold FERRY_BIN=.build/release/ferry BENCH_TMP=/tmp)
#
# CACHE=cold (the default) drops the page cache before each timed pass; CACHE=warm leaves it,
# as on a source host where the changes were just written and the tree was walked before.
#
# For each tree size: ../shared/bench/gen-tree.sh's tree (1 KiB–256 KiB files at 20,000;
# 64 B–1 KiB at 1,000,000), copied into three targets, one per contender. Each run then:
# a watcher starts on the source and a ferry pass records a complete pass in its journal (not
# timed); 1% of the files are rewritten and 1% added (1,000 and 1,000 on 1,000,000 files) (gen-tree.sh mutate); then, each from a
# dropped page cache, interleaved: ferry with the journal, ferry's full walk, rsync -a, each
# into its own target. After the runs every target is compared with the source (size + mtime,
# rsync -n): files still differing must be 0.
# Then the watcher's cost: the first pass (a full copy into an empty folder) with and without
# a watcher running, interleaved; and the watcher's peak RSS on the largest tree.
# Needs root (drop_caches, fanotify), rsync, python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$root/../shared/bench}
. "$SHARED/lib.sh"
SIZES=${SIZES:-"20000 1000000"}; RUNS=${RUNS:-3}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
[ -x "$FERRY_BIN" ] || die "build it first: swift build -c release --product ferry"
command -v rsync >/dev/null || die "rsync missing"
make_work ferry-journal
CACHE=${CACHE:-cold}
DROP() { sync; [ "$CACHE" = warm ] || echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
MOVE=("$FERRY_BIN" mover files --control-port=-1 --result-file /dev/null)
stats() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%.3f %.3f" % (statistics.median(v), min(v)))' "$@"; }
ROWS=()
row() { ROWS+=("$(printf '%-44s %10s %10s %12s %s' "$@")"); }

for N in $SIZES; do
  SRC=$WORK/src-$N
  # The issue's deltas: 1% changed + 1% new at 20,000; 1,000 changed + 1,000 new at 1,000,000.
  if [ "$N" -ge 200000 ]; then lo=64; hi=1024; pct=$(awk -v n="$N" 'BEGIN{printf "%g", 100000/n}'); else lo=1024; hi=262144; pct=1; fi
  log "$N files: generating ($lo–$hi bytes)"
  "$SHARED/gen-tree.sh" create "$SRC" "$N" 1 "$lo" "$hi" >/dev/null
  for t in journal walk rsync floor; do
    log "$N files: initial copy for $t"
    "${MOVE[@]}" --source "$SRC" --target "$WORK/dst-$N-$t" --parallelism 16 >/dev/null
  done
  declare -a TJ=() TW=() TR=() TF=() LOOKED=()
  for run in $(seq 1 "$RUNS"); do
    J=$WORK/journal-$N-$run
    "$FERRY_BIN" mover watch --root "$SRC" --journal "$J" > "$WORK/watch.log" 2>&1 &
    WPID=$!
    until [ -s "$J" ]; do sleep 0.1; done
    # The first pass of this run (records a complete pass in the journal; not timed).
    "${MOVE[@]}" --source "$SRC" --target "$WORK/dst-$N-journal" --journal "$SRC=$J" >/dev/null
    mut=$("$SHARED/gen-tree.sh" mutate "$SRC" "$pct" "$pct" $((run + 1)))
    log "$N files, run $run: $mut"
    DROP; t0=$(now)
    "${MOVE[@]}" --source "$SRC" --target "$WORK/dst-$N-journal" --journal "$SRC=$J" --result-file "$WORK/final.json" >/dev/null
    t1=$(now); TJ+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')")
    LOOKED+=("$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["result"]; j=r["journals"][0]; print("%s:%d/%d" % (j["pass"], r["filesTotal"], j["paths"]))' "$WORK/final.json")")
    DROP; t0=$(now)
    "${MOVE[@]}" --source "$SRC" --target "$WORK/dst-$N-walk" --parallelism 16 >/dev/null
    t1=$(now); TW+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')")
    DROP; t0=$(now)
    rsync -a "$SRC/" "$WORK/dst-$N-rsync/"
    t1=$(now); TR+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')")
    # The floor: rsync told exactly which files changed (no walk at all), cold.
    (cd "$SRC" && rsync -rn --out-format='%n' ./ "$WORK/dst-$N-floor/" | grep -v '/$') > "$WORK/changed.list" || true
    DROP; t0=$(now)
    rsync -a --files-from="$WORK/changed.list" "$SRC/" "$WORK/dst-$N-floor/"
    t1=$(now); TF+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')")
    [ "$run" -eq "$RUNS" ] && WATCH_RSS=$(awk '/VmHWM/{print $2}' /proc/$WPID/status)
    kill -INT $WPID; wait $WPID || true
  done
  read -r jm jn < <(stats "${TJ[@]}"); read -r wm wn < <(stats "${TW[@]}"); read -r rm_ rn < <(stats "${TR[@]}"); read -r fm fn < <(stats "${TF[@]}")
  differ() { rsync -rn --out-format='%n' "$SRC/" "$1/" | grep -vc '/$' || true; }
  row "final delta, $N files ($pct% changed + $pct% new)" median_s min_s files_differing ""
  row "ferry, change journal" "$jm" "$jn" "$(differ "$WORK/dst-$N-journal")" "pass:looked/recorded ${LOOKED[*]}"
  row "ferry, full walk" "$wm" "$wn" "$(differ "$WORK/dst-$N-walk")" ""
  row "rsync -a" "$rm_" "$rn" "$(differ "$WORK/dst-$N-rsync")" ""
  row "floor: rsync --files-from (changed only)" "$fm" "$fn" "$(differ "$WORK/dst-$N-floor")" "copying only what changed ($CACHE): no pass can be faster"
  row "journal / rsync -a" "$(awk -v a="$jm" -v b="$rm_" 'BEGIN{printf "%.4fx", a/b}')" "$(awk -v a="$jn" -v b="$rn" 'BEGIN{printf "%.4fx", a/b}')" "" "goal: <= $([ "$N" -ge 1000000 ] && echo 0.01 || echo 0.1)x"
  row "watcher peak RSS (VmHWM), fanotify" "$((WATCH_RSS / 1024)) MiB" "" "" "goal: <= 32 MiB at 1,000,000 files"
  row "" "" "" "" ""
  LAST_SRC=$SRC; LAST_N=$N
  rm -rf "$WORK/dst-$N-walk" "$WORK/dst-$N-rsync" "$WORK/dst-$N-journal" "$WORK/dst-$N-floor"
done

# The watcher's cost on the first pass: a full copy of the first tree with and without it.
N=${SIZES%% *}; SRC=$WORK/src-$N
declare -a WITH=() WITHOUT=()
for run in $(seq 1 "$RUNS"); do
  for mode in without with; do
    rm -rf "$WORK/first"; DROP
    if [ $mode = with ]; then
      "$FERRY_BIN" mover watch --root "$SRC" --journal "$WORK/first-$run.journal" > /dev/null 2>&1 &
      WPID=$!; until [ -s "$WORK/first-$run.journal" ]; do sleep 0.1; done
    fi
    t0=$(now); "${MOVE[@]}" --source "$SRC" --target "$WORK/first" --parallelism 16 >/dev/null; sync; t1=$(now)
    if [ $mode = with ]; then kill -INT $WPID; wait $WPID || true; WITH+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"); else WITHOUT+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"); fi
  done
done
read -r om on < <(stats "${WITHOUT[@]}"); read -r wm2 wn2 < <(stats "${WITH[@]}")
row "first pass, $N files (full copy)" median_s min_s "" ""
row "without a watcher" "$om" "$on" "" ""
row "with the watcher (fanotify)" "$wm2" "$wn2" "" "overhead $(awk -v a="$wm2" -v b="$om" 'BEGIN{printf "%+.1f%%", (a/b-1)*100}') median, $(awk -v a="$wn2" -v b="$on" 'BEGIN{printf "%+.1f%%", (a/b-1)*100}') min (goal <= 5%)"

# Sharded sync: the first tree copied cold into an empty folder by one mover, and by two at once
# (--shard 0/2 and 1/2), interleaved; per-shard throughput from each result.
declare -a ONE=() TWO=() PER=()
for run in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/one" "$WORK/two"; DROP
  t0=$(now); "${MOVE[@]}" --source "$SRC" --target "$WORK/one" --parallelism 16 >/dev/null; sync; t1=$(now)
  ONE+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')")
  DROP; t0=$(now)
  for i in 0 1; do "$FERRY_BIN" mover files --control-port=-1 --result-file "$WORK/shard-$i.json" --source "$SRC" --target "$WORK/two" --parallelism 8 --shard "$i/2" >/dev/null & done
  wait; sync; t1=$(now)
  TWO+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')")
  PER+=("$(python3 -c 'import json,sys; print(" ".join("shard %d: %d files, %d files/s, %s" % (r["shard"]["index"], r["filesCopied"], r["filesPerSecond"], r["shard"]["mode"]) for r in (json.load(open(f))["result"] for f in sys.argv[1:])))' "$WORK/shard-0.json" "$WORK/shard-1.json")")
done
read -r sm1 sn1 < <(stats "${ONE[@]}"); read -r sm2 sn2 < <(stats "${TWO[@]}")
row "first pass, $N files, sharded (cold)" median_s min_s files_differing ""
row "1 mover (parallelism 16)" "$sm1" "$sn1" "$(rsync -rn --out-format='%n' "$SRC/" "$WORK/one/" | grep -vc '/$' || true)" ""
row "2 shards at once (parallelism 8 each)" "$sm2" "$sn2" "$(rsync -rn --out-format='%n' "$SRC/" "$WORK/two/" | grep -vc '/$' || true)" "last run: ${PER[-1]}"
rm -rf "$WORK/one" "$WORK/two"

echo "== change journal: runs=$RUNS, $CACHE cache, $(nproc) cores, fs=$(df -T "$WORK" | awk 'NR==2{print $2}'), kernel $(uname -r)"
printf '%s\n' "${ROWS[@]}"
