#!/usr/bin/env bash
# make demo: the whole migration on one machine, with real servers.
#
#   1. installs what it needs (apt, pip) and builds ferry
#   2. a "source host": MariaDB, ClickHouse, Redis, a Kafka-protocol broker (Tansu),
#      a few thousand attachment files and the operations config, filled with sample data
#   3. ferry export → a package
#   4. KubeSim (HTTPS), ferry controller, and a "target": a second MariaDB, ClickHouse, Redis
#   5. kubectl apply the CRD and manifests/examples/migration.yaml (pointed at the local
#      servers), then kubectl get migrations as it advances; the file sync is paused and
#      resumed once by annotation
#   6. checks the target against the source and prints where to look next
# Everything runs on 127.0.0.1 in one temporary folder, removed on exit and on Ctrl-C
# (DEMO_KEEP=1 keeps it). DEMO_NONINTERACTIVE=1 (CI) only changes the pacing of the output.
# DEMO_IMAGE=localhost/ferry/ferry:0.1.0 (after `make image`, as root) runs every step pod in
# that image, as a cluster would: KubeSim's image mode, user 65532, a read-only root.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="/opt/swift/usr/bin:$root/.tools/bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

# --- 1. tools and build --------------------------------------------------------------------
step "1/6 tools and build"
scripts/install-tools.sh kubectl helm >/dev/null
scripts/install-servers.sh
scripts/install-kafka-tools.sh
swift build --product ferry 2>&1 | tail -1
swift build --product kubectl-ferry 2>&1 | tail -1
ferry="$root/.build/debug/ferry"
# kubectl finds the plugin (kubectl ferry …) on PATH.
export PATH="$root/.build/debug:$PATH"
py="$root/.tools/python"
export PYTHONPATH="$(ls "$py"/kafka_python-*.whl)"

demo=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
kubesim_pid="" controller_pid=""
cleanup() {
  set +e
  [ -n "$controller_pid" ] && kill "$controller_pid" 2>/dev/null && wait "$controller_pid" 2>/dev/null
  [ -n "$kubesim_pid" ] && kill "$kubesim_pid" 2>/dev/null && wait "$kubesim_pid" 2>/dev/null
  scripts/test-servers.sh down "$demo/source" >/dev/null 2>&1
  scripts/test-servers.sh down "$demo/target" >/dev/null 2>&1
  if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "demo: kept $demo"; else rm -rf "$demo"; fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM
started=$SECONDS

# --- 2. the source host ------------------------------------------------------------------------
step "2/6 the source host: MariaDB, ClickHouse, Redis, Kafka (Tansu), files, config"
SECURE_KAFKA=0 scripts/test-servers.sh up "$demo/source" >/dev/null
# shellcheck disable=SC1091
. "$demo/source/env.sh"
SRC_MY=$FERRY_TEST_MYSQL_PORT SRC_CH=$FERRY_TEST_CLICKHOUSE_HTTP KAFKA_PORT=$FERRY_TEST_KAFKA_PORT
mysql_src() { mariadb --no-defaults -h127.0.0.1 -P"$SRC_MY" -uroot -N -B "$@"; }
ch_src() { curl -sS --fail-with-body "http://127.0.0.1:$SRC_CH/?user=ferry&password=s3cret%20pass" --data-binary "$1"; }
mysql_src <<'SQL'
CREATE DATABASE project DEFAULT CHARACTER SET utf8mb4;
USE project;
CREATE TABLE project.users (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, email VARCHAR(128), KEY by_name (name)) ENGINE=InnoDB;
INSERT INTO project.users SELECT seq, CONCAT('user ', seq), CONCAT('u', seq, '@example.com') FROM seq_1_to_500;
CREATE TABLE project.tasks (id INT AUTO_INCREMENT PRIMARY KEY, owner INT NOT NULL, title VARCHAR(200), body TEXT,
  CONSTRAINT fk_owner FOREIGN KEY (owner) REFERENCES project.users (id)) ENGINE=InnoDB;
INSERT INTO project.tasks (owner, title, body) SELECT 1 + seq % 500, CONCAT('Task #', seq, ' — it''s "quoted"'), REPEAT('lorem ipsum\t', seq % 20) FROM seq_1_to_20000;
CREATE DATABASE wiki DEFAULT CHARACTER SET utf8mb4;
USE wiki;
CREATE TABLE wiki.pages (id INT PRIMARY KEY, title VARCHAR(200), content MEDIUMTEXT) ENGINE=InnoDB;
INSERT INTO wiki.pages SELECT seq, CONCAT('Page ', seq), REPEAT(CONCAT('Line ', seq, '\n'), 30) FROM seq_1_to_3000;
SQL
ch_src "CREATE DATABASE audit" >/dev/null
ch_src "CREATE TABLE audit.events (d Date, id UInt64, action String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id" >/dev/null
ch_src "INSERT INTO audit.events SELECT toDate('2026-06-01') + (number % 150), number, concat('action ', toString(number % 17)) FROM system.numbers LIMIT 50000" >/dev/null
python3 - "$KAFKA_PORT" <<'PY'
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata
boot = "127.0.0.1:" + sys.argv[1]
a = KafkaAdminClient(bootstrap_servers=boot); a.create_topics([NewTopic("ones.events", 4, 1)]); a.close()
p = KafkaProducer(bootstrap_servers=boot, linger_ms=0)
for part in range(4):
    for i in range(10):
        p.send("ones.events", value=b"event %d" % i, partition=part).get(timeout=10)
p.close()
for group, offs in (("search-indexer", [7, 8, 9, 10]), ("notifier", [3, 3, 5, 1])):
    c = KafkaConsumer(bootstrap_servers=boot, group_id=group, enable_auto_commit=False)
    c.commit({TopicPartition("ones.events", i): OffsetAndMetadata(o, None, -1) for i, o in enumerate(offs)})
    c.close()
PY
mkdir -p "$demo/app/files" "$demo/app/plugin" "$demo/app/conf"
python3 - "$demo/app" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
for i in range(3000):
    d = os.path.join(root, "files", "project-%02d" % (i % 40), "task-%d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "attachment-%04d.bin" % i), "wb") as f:
        f.write(rng.randbytes(2000 + rng.randrange(30000)))
for i in range(60):
    with open(os.path.join(root, "plugin", "plugin-%02d.js" % i), "w") as f:
        f.write("// plugin %d\n" % i * 50)
PY
printf 'database:\n  host: mysql\n  password: operations-secret\nsmtp: {host: mail.internal, port: 25}\n' >"$demo/app/conf/ones.yaml"
printf 'LICENSE-ONES-DEMO-0001\n' >"$demo/app/conf/license.key"
say "MariaDB :$SRC_MY (project, wiki), ClickHouse :$SRC_CH (audit.events), Kafka :$KAFKA_PORT (2 groups), 3,060 files"

# --- 3. export ----------------------------------------------------------------------------------
step "3/6 ferry export"
openssl rand -base64 32 >"$demo/config.key"
chmod 600 "$demo/config.key"
printf 's3cret pass' >"$demo/clickhouse.password"
cat >"$demo/export.yaml" <<YAML
output: $demo/package
appVersion: "6.4.1"
mysql: {host: 127.0.0.1, port: $SRC_MY, user: root}
clickhouse: {url: "http://127.0.0.1:$SRC_CH", user: ferry, passwordFile: $demo/clickhouse.password, tables: ["audit.*"]}
kafka: {bootstrap: "127.0.0.1:$KAFKA_PORT"}
files:
- {name: files, path: $demo/app/files}
- {name: plugin, path: $demo/app/plugin}
config: {files: [$demo/app/conf/ones.yaml, $demo/app/conf/license.key], keyFile: $demo/config.key}
YAML
"$ferry" export --config "$demo/export.yaml"
"$ferry" export --verify "$demo/package"
# After the export the old consumers moved on; the restore must set the saved offsets back.
python3 - "$KAFKA_PORT" <<'PY'
import sys
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
for group in ("search-indexer", "notifier"):
    c = KafkaConsumer(bootstrap_servers="127.0.0.1:" + sys.argv[1], group_id=group, enable_auto_commit=False)
    c.commit({TopicPartition("ones.events", i): OffsetAndMetadata(10, None, -1) for i in range(4)})
    c.close()
PY

# --- 4. the cluster and the target -----------------------------------------------------------
step "4/6 KubeSim, ferry controller, target MariaDB / ClickHouse / Redis"
KAFKA=0 scripts/test-servers.sh up "$demo/target" >/dev/null
# shellcheck disable=SC1091
. "$demo/target/env.sh"
DST_MY=$FERRY_TEST_MYSQL_PORT DST_CH=$FERRY_TEST_CLICKHOUSE_HTTP DST_REDIS=$FERRY_TEST_REDIS_PORT
for i in $(seq 1 40); do redis-cli -h 127.0.0.1 -p "$DST_REDIS" -a 'redis pass' --no-auth-warning SET "cache:$i" stale >/dev/null; done
# Step pods (image ferry:demo) run this build's ferry on the host, or, with DEMO_IMAGE, in the image.
step_command=$ferry images=()
if [ -n "${DEMO_IMAGE:-}" ]; then
  step_command=/usr/local/bin/ferry images=(--image "ferry:demo=$DEMO_IMAGE")
fi
"$ferry" sandbox api --tls --ephemeral --data-dir "$demo/kubesim" "${images[@]}" >"$demo/kubesim.log" 2>&1 &
kubesim_pid=$!
for _ in $(seq 1 100); do grep -q '^kubeconfig: ' "$demo/kubesim.log" 2>/dev/null && break; sleep 0.1; done
KUBECONFIG=$(sed -n 's/^kubeconfig: //p' "$demo/kubesim.log")
[ -n "$KUBECONFIG" ] || die "KubeSim did not start: $(cat "$demo/kubesim.log")"
export KUBECONFIG HOME="$demo/home"
mkdir -p "$HOME"
mover_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ferry" controller --kubeconfig "$KUBECONFIG" --step-command "$step_command" --step-image ferry:demo \
    --step-poll 0.5 --step-retry-delay 1 --metrics-host 127.0.0.1 --metrics-port 0 --mover-port "$mover_port" >"$demo/controller.log" 2>&1 &
controller_pid=$!
kubectl apply -f manifests/crd.yaml >/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: ones-web, labels: {app.kubernetes.io/part-of: ones}}
spec:
  replicas: 2
  selector: {matchLabels: {app: ones-web}}
  template:
    metadata: {labels: {app: ones-web}}
    spec: {terminationGracePeriodSeconds: 1, containers: [{name: web, image: ones/web:6.4.1, command: [sleep, "86400"]}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ones-config}
data: {kilobSyncSchemaHash: "b7e1d0"}
---
apiVersion: v1
kind: Secret
metadata: {name: mysql-root}
stringData: {username: root, password: ""}
---
apiVersion: v1
kind: Secret
metadata: {name: clickhouse-default}
stringData: {username: ferry, password: "s3cret pass"}
---
apiVersion: v1
kind: Secret
metadata: {name: redis-auth}
stringData: {password: "redis pass"}
---
apiVersion: v1
kind: Secret
metadata: {name: ones-config-key}
stringData: {key: "$(cat "$demo/config.key")"}
YAML
say "KUBECONFIG=$KUBECONFIG"
say "target: MariaDB :$DST_MY, ClickHouse :$DST_CH, Redis :$DST_REDIS (40 stale cache keys)"
[ -n "${DEMO_IMAGE:-}" ] && say "step pods run in the image $DEMO_IMAGE (as 65532, read-only root)"

# --- 5. the Migration -------------------------------------------------------------------------
step "5/6 kubectl apply -f manifests/examples/migration.yaml (pointed at the local servers)"
kubectl apply --dry-run=client -o json -f manifests/examples/migration.yaml >"$demo/example.json"
python3 - "$demo/example.json" "$demo/package" "$DST_MY" "$DST_CH" "$KAFKA_PORT" "$DST_REDIS" >"$demo/migration.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
pkg, my, ch, kafka, redis = sys.argv[2:7]
s = m["spec"]
s["package"] = {"hostPath": pkg}
s["mysql"].update(host="127.0.0.1", port=int(my))
s["clickhouse"]["url"] = "http://127.0.0.1:%s" % ch
s["kafka"]["bootstrap"] = "127.0.0.1:%s" % kafka
s["redis"].update(host="127.0.0.1", port=int(redis))
s["fileSync"]["bandwidth"] = 12_000_000          # slow enough to watch, and to pause
c = s["rebuilds"][1]["job"]["template"]["template"]["spec"]["containers"][0]
c["command"] = ["sh", "-c", "echo report rebuilt > /dev/termination-log"]  # KubeSim runs containers as local processes
json.dump(m, sys.stdout)
PY
kubectl apply -f "$demo/migration.json"
say "(the example, with package.hostPath, hosts and ports set for this machine)"
echo
# kubectl's columns, in fixed widths so the rows line up as they change.
row_format='%-6s %-10s %-28s %-12s %-22s %s\n'
migration_row() {
  kubectl get migrations --no-headers 2>/dev/null | head -1 | awk -F '   +' -v f="$row_format" '{ printf f, $1, $2, $3, $4, $5, $6 }' | sed 's/ *$//'
}
paused=no resumed=no last=""
deadline=$((SECONDS + 240))
while :; do
  row=$(migration_row)
  if [ "$row" != "$last" ]; then
    [ -z "$last" ] && printf "$row_format" NAME PHASE STEP PROGRESS FILES AGE
    echo "$row"
    last=$row
  fi
  phase=$(kubectl get migration ones -o jsonpath='{.status.phase}')
  step_now=$(kubectl get migration ones -o jsonpath='{.status.step}')
  done_bytes=$(kubectl get migration ones -o jsonpath='{.status.files.bytesDone}')
  if [ "$paused" = no ] && [[ "$step_now" == presync || "$step_now" == files ]] && [ "${done_bytes:-0}" -gt 15000000 ]; then
    echo "   \$ kubectl annotate migration ones ferry.dev/files=paused"
    kubectl annotate migration ones ferry.dev/files=paused --overwrite >/dev/null
    paused=yes
    for _ in 1 2 3 4 5 6; do sleep 0.5; row=$(migration_row); [ "$row" != "$last" ] && { echo "$row"; last=$row; }; done
    echo "   \$ kubectl annotate migration ones ferry.dev/files=running"
    kubectl annotate migration ones ferry.dev/files=running --overwrite >/dev/null
    resumed=yes
  fi
  [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
  [ $SECONDS -gt $deadline ] && { kubectl get migration ones -o yaml; tail -30 "$demo/controller.log"; die "the Migration did not finish in 240 s"; }
  sleep 0.5
done
if [ "$phase" != Succeeded ]; then
  kubectl get migration ones -o yaml
  die "the Migration ended $phase"
fi
[ "$paused" = yes ] && [ "$resumed" = yes ] || say "(the file sync finished before it could be paused)"

# --- 6. verification ---------------------------------------------------------------------------
step "6/6 verification: the target against the source"
fail=0
check() { if [ "$2" = "$3" ]; then printf '   \033[32m✓\033[0m %s\n' "$1"; else printf '   \033[31m✗\033[0m %s\n      source: %s\n      target: %s\n' "$1" "$2" "$3"; fail=1; fi; }
mysql_dst() { mariadb --no-defaults -h127.0.0.1 -P"$DST_MY" -uroot -N -B "$@"; }
ch_dst() { curl -sS "http://127.0.0.1:$DST_CH/?user=ferry&password=s3cret%20pass" --data-binary "$1"; }
for t in project.users project.tasks wiki.pages; do
  check "MySQL $t: CHECKSUM TABLE and rows" "$(mysql_src -e "CHECKSUM TABLE $t; SELECT COUNT(*) FROM $t" | tr '\n\t' '  ')" "$(mysql_dst -e "CHECKSUM TABLE $t; SELECT COUNT(*) FROM $t" | tr '\n\t' '  ')"
done
q="SELECT _partition_id, count(), sum(cityHash64(d, id, action)) FROM audit.events GROUP BY _partition_id ORDER BY _partition_id FORMAT TSV"
check "ClickHouse audit.events: rows and content per partition ($(ch_src "$q" | wc -l) partitions)" "$(ch_src "$q" | tr '\n' ' ')" "$(ch_dst "$q" | tr '\n' ' ')"
offsets=$(python3 - "$KAFKA_PORT" <<'PY'
import sys
from kafka import KafkaConsumer, TopicPartition
out = []
for group in ("search-indexer", "notifier"):
    c = KafkaConsumer(bootstrap_servers="127.0.0.1:" + sys.argv[1], group_id=group, enable_auto_commit=False)
    out.append("%s=%s" % (group, ",".join(str(c.committed(TopicPartition("ones.events", i))) for i in range(4))))
    c.close()
print(" ".join(out))
PY
)
check "Kafka consumer groups: offsets as exported" "search-indexer=7,8,9,10 notifier=3,3,5,1" "$offsets"
pvc="$demo/kubesim/volumes/default/ones-files"
check "files: attachments identical (diff -r)" "" "$(diff -rq "$demo/app/files" "$pvc" --exclude=plugin 2>&1 | head -3)"
check "files: plugins identical (diff -r)" "" "$(diff -rq "$demo/app/plugin" "$pvc/plugin" 2>&1 | head -3)"
if [ -n "${DEMO_IMAGE:-}" ]; then
  check "image: the mover wrote the files as the image's user" "65532" "$(find "$pvc" -type f -printf '%u\n' | sort -u | tr '\n' ' ' | sed 's/ $//')"
fi
secret=$(kubectl get secret ones-operations-config -o jsonpath='{.data.ones\.yaml}' | base64 -d | sha256sum)
check "config: Secret ones-operations-config holds ones.yaml as exported" "$(sha256sum <"$demo/app/conf/ones.yaml")" "$secret"
check "Redis: cache flushed" "0" "$(redis-cli -h 127.0.0.1 -p "$DST_REDIS" -a 'redis pass' --no-auth-warning DBSIZE)"
check "rebuild: search schema hash bumped" "changed" "$([ "$(kubectl get configmap ones-config -o jsonpath='{.data.kilobSyncSchemaHash}')" != b7e1d0 ] && echo changed)"
check "workloads: ones-web back at 2 replicas" "2" "$(kubectl get deployment ones-web -o jsonpath='{.spec.replicas}')"
estimated=$(kubectl get migration ones -o jsonpath='{.status.estimate.downtimeSeconds}')
measured=$(kubectl get migration ones -o jsonpath='{.status.downtime.seconds}')
check "estimate: downtime ${estimated:-?} s estimated before quiesce, ${measured:-?} s measured (within 2×)" "yes" \
  "$(awk -v e="${estimated:-0}" -v m="${measured:-0}" 'BEGIN { print (m > 0 && e >= m / 2 && e <= m * 2) ? "yes" : "no" }')"
echo
kubectl get migrations
echo
kubectl ferry status ones
say "(${SECONDS}s in all, $((SECONDS - started))s after the build)"
[ $fail = 0 ] || die "verification failed"

cat <<EOF

Where to look next
   kubectl ferry status ones                 the report above: steps, downtime, events, what to do next
   kubectl ferry plan ones                   the steps with an estimate each, and the downtime
   kubectl get migration ones -o yaml        every step with its result, attempts and times
   kubectl describe migration ones           the Events of each transition
   kubectl get jobs,pods                     the step Jobs (kubectl logs job/<name> shows a step's output)
   kubectl annotate migration ones ferry.dev/rerun=kafka     re-run one step
   README.md: the annotations, troubleshooting; docs/architecture.md: how it fits together
   (DEMO_KEEP=1 make demo keeps everything in the demo folder; this one is removed now)
EOF
