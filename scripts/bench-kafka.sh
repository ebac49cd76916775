#!/usr/bin/env bash
# Seek GROUPS consumer groups × PARTITIONS partitions: `ferry restore kafka` versus a kafka-python
# script doing the same commits, against the same Tansu broker in the same run.
#
#   scripts/bench-kafka.sh     (env: KAFKA_GROUPS=200 KAFKA_PARTITIONS=50 FERRY_BIN=.build/release/ferry)
#
# Needs scripts/install-kafka-tools.sh (Tansu, kafka-python). Prints seconds and requests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
GROUPS_N=${KAFKA_GROUPS:-200}; PARTS=${KAFKA_PARTITIONS:-50}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
[ -x "$FERRY_BIN" ] || { echo "build it first: swift build -c release --product ferry" >&2; exit 1; }
"$root/scripts/install-kafka-tools.sh"
work=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/.tools/bin/tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
tansu=$!
trap 'kill $tansu 2>/dev/null; wait $tansu 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export PYTHONPATH=$(ls "$root"/.tools/python/kafka_python-*.whl)
mkdir -p "$work/package/kafka"
python3 - "127.0.0.1:$port" "$GROUPS_N" "$PARTS" "$work/package" <<'PY'
import json, sys
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
boot, groups, parts, pkg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
a = KafkaAdminClient(bootstrap_servers=boot); a.create_topics([NewTopic("bench", parts, 1)]); a.close()
p = KafkaProducer(bootstrap_servers=boot, linger_ms=0)
for part in range(parts):
    for i in range(3): p.send("bench", value=b"x", partition=part).get(timeout=10)
p.close()
offsets = {"groups": {"g%03d" % g: {"bench": {str(q): (g + q) % 4 for q in range(parts)}} for g in range(groups)},
           "partitions": {}, "exportedAt": "2026-11-21T00:00:00Z"}
json.dump(offsets, open(pkg + "/kafka/offsets.json", "w"))
json.dump({"kafkaOffsets": "kafka/offsets.json", "mysql": {}, "clickhouse": {}, "files": {}, "sha256": {}}, open(pkg + "/manifest.json", "w"))
json.dump({"formatVersion": 1, "appVersion": "1", "createdAt": "2026-11-21T00:00:00Z", "sourceHost": "bench",
           "contents": {"mysql": [], "clickhouse": [], "kafka": True, "redis": False, "files": []}}, open(pkg + "/ferry-package.json", "w"))
PY
t0=$(date +%s.%N)
"$FERRY_BIN" restore kafka --package "$work/package" --bootstrap "127.0.0.1:$port" --member-wait 0 --result-file "$work/ferry.json" >/dev/null
t1=$(date +%s.%N)
python3 - "127.0.0.1:$port" "$GROUPS_N" "$PARTS" "$work/peer.json" <<'PY'
import json, sys, time
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
boot, groups, parts, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
start = time.time()
for g in range(groups):
    c = KafkaConsumer(bootstrap_servers=boot, group_id="p%03d" % g, enable_auto_commit=False)
    c.commit({TopicPartition("bench", q): OffsetAndMetadata((g + q) % 4, None, -1) for q in range(parts)})
    c.close()
json.dump({"seconds": time.time() - start}, open(out, "w"))
PY
python3 - "$work/ferry.json" "$work/peer.json" "$t0" "$t1" "$GROUPS_N" "$PARTS" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["result"]; p = json.load(open(sys.argv[2]))
wall = float(sys.argv[4]) - float(sys.argv[3]); groups, parts = int(sys.argv[5]), int(sys.argv[6])
print("== kafka seek: %d groups x %d partitions (Tansu 0.6, 127.0.0.1)" % (groups, parts))
print("%-52s %8s %10s" % ("", "seconds", "requests"))
print("%-52s %8.2f %10d   (%d partitions set and read back, group-membership checks included; process wall %.2f s)" % ("ferry restore kafka", f["seconds"], f["requests"], f["partitionsSet"], wall))
print("%-52s %8.2f %10s   (commits only: no membership check, no clamping, no read-back)" % ("kafka-python, one consumer per group, commit()", p["seconds"], "n/a"))
print("ferry vs kafka-python: %.2fx" % (p["seconds"] / f["seconds"]))
PY
