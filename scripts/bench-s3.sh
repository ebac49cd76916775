#!/usr/bin/env bash
# Folder → bucket upload on OpenStack Swift's S3 API: ferry mover files against
# rclone copy --transfers 16 --checkers 16, same tree, same server, interleaved runs.
#
#   scripts/bench-s3.sh    (env: FILES=20000 RUNS=3 PARALLELISM=32 FERRY_BIN=.build/release/ferry BENCH_TMP=/tmp)
#
# ../shared/bench/gen-tree.sh's tree (1 KiB–256 KiB files, ~900 MiB for 20,000). Each run
# uploads into a fresh bucket from a dropped page cache; then the second (nothing-to-do) pass
# of each tool. Counts the objects each run left with boto3. Prints median and min.
# Needs rclone (WITH_BENCH_TOOLS=1 scripts/install-servers.sh) and the Swift packages.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$root/../shared/bench}
. "$SHARED/lib.sh"
FILES=${FILES:-20000}; RUNS=${RUNS:-3}; P=${PARALLELISM:-32}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
[ -x "$FERRY_BIN" ] || die "build it first: swift build -c release --product ferry"
command -v rclone >/dev/null || die "rclone missing: WITH_BENCH_TOOLS=1 scripts/install-servers.sh"
make_work ferry-s3
SRC=$WORK/src
log "starting Swift (s3api)"
ONLY=swift "$root/scripts/test-servers.sh" up "$WORK/swift" >"$WORK/servers.env"
# shellcheck disable=SC1090
eval "$(grep FERRY_TEST_SWIFT_PORT "$WORK/servers.env")"
trap '"$root/scripts/test-servers.sh" down "$WORK/swift" >/dev/null 2>&1 || true; cleanup' EXIT
EP=http://127.0.0.1:$FERRY_TEST_SWIFT_PORT
mkdir -p "$WORK/creds"; printf test:tester >"$WORK/creds/AWS_ACCESS_KEY_ID"; printf testing >"$WORK/creds/AWS_SECRET_ACCESS_KEY"
export RCLONE_CONFIG_SW_TYPE=s3 RCLONE_CONFIG_SW_PROVIDER=Other RCLONE_CONFIG_SW_ENDPOINT=$EP RCLONE_CONFIG_SW_ACCESS_KEY_ID=test:tester \
       RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=testing RCLONE_CONFIG_SW_FORCE_PATH_STYLE=true RCLONE_CONFIG_SW_REGION=us-east-1
boto() { PYTHONPATH=$root/.tools/python/moto python3 -c "
import boto3, botocore, sys
s3 = boto3.client('s3', endpoint_url='$EP', aws_access_key_id='test:tester', aws_secret_access_key='testing', region_name='us-east-1',
                  config=botocore.config.Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 10}))
$1"; }
wait_until 60 boto "s3.list_buckets()" || die "Swift does not answer"
log "generating $FILES files"
out=$("$SHARED/gen-tree.sh" create "$SRC" "$FILES"); BYTES=${out##*bytes=}
count() { boto "
n = 0
for p in s3.get_paginator('list_objects_v2').paginate(Bucket='$1'): n += len(p.get('Contents', []))
print(n)"; }
DROP="sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true"
declare -A T R
for i in $(seq 1 "$RUNS"); do
  for tool in ferry rclone; do
    b="bench-$tool-$i"; boto "s3.create_bucket(Bucket='$b')"
    bash -c "$DROP"
    t0=$(now)
    case $tool in
      ferry) "$FERRY_BIN" mover files --control-port=-1 --result-file /dev/null --parallelism "$P" --copy "$SRC=s3://$b/tree" \
               --s3-endpoint "$EP" --s3-credentials-dir "$WORK/creds" >"$WORK/$tool.out" ;;
      rclone) env -u AWS_CA_BUNDLE rclone copy --transfers 16 --checkers 16 "$SRC" "sw:$b/tree" >"$WORK/$tool.out" 2>&1 ;;
    esac
    T[$tool]="${T[$tool]:-} $(elapsed "$t0")"
    n=$(count "$b"); [ "$n" = "$FILES" ] || die "$tool left $n objects in $b, not $FILES"
    # The second pass: nothing to send.
    t0=$(now)
    case $tool in
      ferry) "$FERRY_BIN" mover files --control-port=-1 --result-file /dev/null --parallelism "$P" --copy "$SRC=s3://$b/tree" \
               --s3-endpoint "$EP" --s3-credentials-dir "$WORK/creds" >"$WORK/$tool.again" ;;
      rclone) env -u AWS_CA_BUNDLE rclone copy --transfers 16 --checkers 16 "$SRC" "sw:$b/tree" >"$WORK/$tool.again" 2>&1 ;;
    esac
    R[$tool]="${R[$tool]:-} $(elapsed "$t0")"
    log "run $i $tool: $(echo "${T[$tool]}" | awk '{print $NF}') s, again $(echo "${R[$tool]}" | awk '{print $NF}') s"
  done
done
MIB=$(awk -v b="$BYTES" 'BEGIN{printf "%.0f", b/1048576}')
printf '\n%-44s %9s %9s %9s %9s %11s\n' "upload $FILES files, $MIB MiB (Swift s3api)" median_s min_s files/s MiB/s again_med_s
for tool in ferry rclone; do
  # shellcheck disable=SC2086
  med=$(median ${T[$tool]}); mn=$(printf '%s\n' ${T[$tool]} | sort -g | head -1); again=$(median ${R[$tool]})
  label=$([ $tool = ferry ] && echo "ferry mover files -p $P" || echo "rclone copy --transfers 16 --checkers 16")
  printf '%-44s %9s %9s %9s %9s %11s\n' "$label" "$med" "$mn" "$(div "$FILES" "$med")" "$(awk -v b="$BYTES" -v s="$med" 'BEGIN{printf "%.0f", b/1048576/s}')" "$again"
done
# shellcheck disable=SC2086
awk -v f="$(median ${T[ferry]})" -v r="$(median ${T[rclone]})" 'BEGIN{printf "\nferry / rclone files per second: %.2f×\n", r/f}'
