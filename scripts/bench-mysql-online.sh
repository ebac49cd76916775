#!/usr/bin/env bash
# MySQL downtime: restore mode (the app stops, the source is exported, the package imported)
# against replicate mode (snapshot and replication while the app writes, then a cutover), for
# two database sizes, in the same run, through KubeSim and the controller, with the old
# application writing to the source (a non-admin user) until it is stopped or refused.
#
#   scripts/bench-mysql-online.sh     (env: SIZES="200000 2000000" FERRY_BIN=.build/debug/ferry)
#
# Downtime is measured by this script from the moment writes stop (the writer killed before the
# export in restore mode; the source read-only at the cutover in replicate mode, as the cutover
# reports it) until the Migration has Succeeded, which is after resume found the workloads Ready.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SIZES=${SIZES:-"200000 2000000"}
ferry=${FERRY_BIN:-$root/.build/debug/ferry}
[ -x "$ferry" ] || { echo "build it first: swift build --product ferry" >&2; exit 1; }
export PATH="$root/.tools/bin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-online.XXXXXX")
kubesim_pid="" controller_pid="" writer_pid=""
cleanup() {
  [ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null || true
  [ -n "$controller_pid" ] && kill "$controller_pid" 2>/dev/null && wait "$controller_pid" 2>/dev/null || true
  [ -n "$kubesim_pid" ] && kill "$kubesim_pid" 2>/dev/null && wait "$kubesim_pid" 2>/dev/null || true
  "$here/test-servers.sh" down "$work/a" >/dev/null 2>&1 || true
  "$here/test-servers.sh" down "$work/b" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }

ONLY=mysql MY_BINLOG=1 MY_SERVER_ID=1 MY_PORT=25306 "$here/test-servers.sh" up "$work/a" >/dev/null
A=$(. "$work/a/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
ONLY=mysql MY_BINLOG=1 MY_SERVER_ID=2 MY_PORT=25406 "$here/test-servers.sh" up "$work/b" >/dev/null
B=$(. "$work/b/env.sh"; echo "$FERRY_TEST_MYSQL_PORT")
sa() { mariadb --no-defaults -h127.0.0.1 -P"$A" -uroot -N -B "$@"; }
sb() { mariadb --no-defaults -h127.0.0.1 -P"$B" -uroot -N -B "$@"; }
sa -e "CREATE USER repl@'%' IDENTIFIED BY 'repl'; GRANT REPLICATION SLAVE, SELECT, READ_ONLY ADMIN, PROCESS ON *.* TO repl@'%';
       CREATE USER app@'%' IDENTIFIED BY 'app';"

"$ferry" sandbox api --ephemeral --data-dir "$work/kubesim" >"$work/kubesim.log" 2>&1 &
kubesim_pid=$!
for _ in $(seq 1 100); do grep -q '^kubeconfig: ' "$work/kubesim.log" 2>/dev/null && break; sleep 0.1; done
export KUBECONFIG=$(sed -n 's/^kubeconfig: //p' "$work/kubesim.log")
kubectl apply -f "$root/manifests/crd.yaml" >/dev/null
kubectl wait --for=condition=Established crd/migrations.ferry.dev --timeout=30s >/dev/null
"$ferry" controller --kubeconfig "$KUBECONFIG" --step-command "$ferry" --step-image ferry:bench --step-poll 0.3 --step-retry-delay 1 \
    --metrics-port=-1 >"$work/controller.log" 2>&1 &
controller_pid=$!
kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: target-root}
stringData: {username: root, password: ""}
---
apiVersion: v1
kind: Secret
metadata: {name: source-repl}
stringData: {username: repl, password: repl}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app.kubernetes.io/part-of: bench}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {terminationGracePeriodSeconds: 1, containers: [{name: web, image: busybox, command: [sleep, "36000"]}]}
YAML

# The old application: an INSERT every ~10 ms as the non-admin user, until killed or refused.
start_writer() { # DB
  ( i=0; while :; do i=$((i+1)); echo "INSERT INTO t (v) VALUES ('writer $i'); DO SLEEP(0.01);"; done ) |
    mariadb --no-defaults -h127.0.0.1 -P"$A" -uapp -papp --force "$1" >/dev/null 2>"$work/writer.err" &
  writer_pid=$!
}
stop_writer() { [ -n "$writer_pid" ] && { kill "$writer_pid" 2>/dev/null; wait "$writer_pid" 2>/dev/null || true; writer_pid=""; }; pkill -f "mariadb --no-defaults -h127.0.0.1 -P$A -uapp" 2>/dev/null || true; }

wait_phase() { # NAME PHASE TIMEOUT
  local deadline=$(( $(date +%s) + $3 ))
  until [ "$(kubectl get migration "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$2" ]; do
    [ "$(date +%s)" -gt "$deadline" ] && { kubectl get migration "$1" -o yaml >&2; tail -20 "$work/controller.log" >&2; echo "$1 did not reach $2" >&2; exit 1; }
    sleep 0.2
  done
}

migration() { # NAME DB MODE PACKAGE
  local mysql
  if [ "$3" = replicate ]; then
    mysql="{host: 127.0.0.1, port: $B, credentialsSecret: target-root, mode: replicate, source: {host: 127.0.0.1, port: $A, credentialsSecret: source-repl, databases: [$2]}, cutover: {maxLagSeconds: 5, timeoutSeconds: 60}}"
  else
    mysql="{host: 127.0.0.1, port: $B, credentialsSecret: target-root, databases: [$2]}"
  fi
  kubectl apply -f - >/dev/null <<YAML
apiVersion: ferry.dev/v1alpha1
kind: Migration
metadata: {name: $1}
spec:
  package: {hostPath: $4}
  appVersion: "1.0"
  workloads: {selector: {matchLabels: {app.kubernetes.io/part-of: bench}}}
  mysql: $mysql
YAML
}

reset_pair() {
  sb -e "STOP ALL SLAVES; RESET SLAVE ALL; SET GLOBAL replicate_do_db=''; SET GLOBAL read_only=0; RESET MASTER; SET GLOBAL gtid_slave_pos='';"
  sa -e "SET GLOBAL read_only=0;"
}

printf '%-9s %-10s %10s %12s %s\n' mode rows downtime_s status_s note
for size in $SIZES; do
  for mode in restore replicate; do
    db="bench_${mode}_${size}"
    name="b-${mode}-${size}"
    reset_pair
    sa -e "CREATE DATABASE $db; CREATE TABLE $db.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100), KEY (v));
           INSERT INTO $db.t (v) SELECT CONCAT('row ', seq, ' ', REPEAT('x', 80)) FROM $db.seq_1_to_$size; GRANT INSERT, SELECT ON $db.* TO app@'%';"
    pkg="$work/pkg-$db"; mkdir -p "$pkg"; echo '{"version":"1.0","host":"old-box"}' >"$pkg/info.json"
    start_writer "$db"
    sleep 1
    if [ "$mode" = restore ]; then
      t0=$(now)
      stop_writer   # the app stops: downtime starts
      mysqldump --no-defaults -h127.0.0.1 -P"$A" -uroot --single-transaction "$db" --result-file="$pkg/$db.sql"
      migration "$name" "$db" restore "$pkg"
      wait_phase "$name" Succeeded "${PHASE_TIMEOUT:-900}"
      t1=$(now)
      note="export + import with the app stopped"
    else
      migration "$name" "$db" replicate "$pkg"
      wait_phase "$name" Replicating "${PHASE_TIMEOUT:-900}"
      tr=$(now)
      # Caught up and every table compared equal at one GTID position (verify while running).
      until [ "$(kubectl get migration "$name" -o jsonpath='{.status.mysql.lagSeconds} {.status.mysql.verification.state}')" = "0 verified" ]; do sleep 0.2; done
      tv=$(now)
      kubectl annotate migration "$name" ferry.dev/cutover=now >/dev/null
      wait_phase "$name" Succeeded 300
      t1=$(now)
      stop_writer
      from=$(kubectl get migration "$name" -o jsonpath='{.status.steps[?(@.name=="mysql-cutover")].result.readOnlyAt}')
      t0=$(date -d "$from" +%s.%N)
      note="snapshot + replication while the app wrote; verified in $(printf %.1f "$(echo "$tv - $tr" | bc)") s after Replicating; refused writes: $(grep -c 1290 "$work/writer.err" || true)"
    fi
    status=$(kubectl get migration "$name" -o jsonpath='{.status.downtime.seconds}')
    printf '%-9s %-10s %10.1f %12s %s\n' "$mode" "$size" "$(echo "$t1 - $t0" | bc)" "${status:-?}" "$note"
    # Verify: the target holds what the source holds.
    [ "$(sa -e "CHECKSUM TABLE $db.t" | cut -f2)" = "$(sb -e "CHECKSUM TABLE $db.t" | cut -f2)" ] || { echo "CHECKSUM differs for $db" >&2; exit 1; }
    kubectl delete migration "$name" --wait=true --timeout=60s >/dev/null
    sa -e "DROP DATABASE $db"; sb -e "DROP DATABASE IF EXISTS $db"
  done
done
