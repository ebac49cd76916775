#!/usr/bin/env bash
# GET latency through ferry gateway on a target hit, against the store directly (OpenStack
# Swift's S3 API), same objects, same client (boto3, one kept-alive connection), interleaved.
#
#   scripts/bench-gateway.sh    (env: OBJECTS=200 GETS=2000 SIZE=16384 FERRY_BIN=.build/release/ferry BENCH_TMP=/tmp)
#
# Prints p50 and p99 for both and the gateway's overhead. Goal: p50 overhead ≤ 2 ms.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$root/../shared/bench}
. "$SHARED/lib.sh"
OBJECTS=${OBJECTS:-200}; GETS=${GETS:-2000}; SIZE=${SIZE:-16384}
FERRY_BIN=${FERRY_BIN:-$root/.build/release/ferry}
[ -x "$FERRY_BIN" ] || die "build it first: swift build -c release --product ferry"
make_work ferry-gateway
ONLY=swift "$root/scripts/test-servers.sh" up "$WORK/swift" >"$WORK/servers.env"
eval "$(grep FERRY_TEST_SWIFT_PORT "$WORK/servers.env")"
trap '"$root/scripts/test-servers.sh" down "$WORK/swift" >/dev/null 2>&1 || true; cleanup' EXIT
EP=http://127.0.0.1:$FERRY_TEST_SWIFT_PORT
for d in store app mover; do mkdir -p "$WORK/$d"; done
printf test:tester >"$WORK/store/AWS_ACCESS_KEY_ID"; printf testing >"$WORK/store/AWS_SECRET_ACCESS_KEY"
printf app-key >"$WORK/app/AWS_ACCESS_KEY_ID"; printf app-secret >"$WORK/app/AWS_SECRET_ACCESS_KEY"
printf mover-key >"$WORK/mover/AWS_ACCESS_KEY_ID"; printf mover-secret >"$WORK/mover/AWS_SECRET_ACCESS_KEY"
mkdir -p "$WORK/source"
export PYTHONPATH=$root/.tools/python/moto
python3 - "$EP" "$OBJECTS" "$SIZE" <<'PY'
import boto3, botocore, os, sys, time
ep, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id="test:tester", aws_secret_access_key="testing", region_name="us-east-1",
                  config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10}))
for i in range(60):
    try: s3.create_bucket(Bucket="bench-gw"); break
    except Exception: time.sleep(0.5)
for i in range(n): s3.put_object(Bucket="bench-gw", Key=f"obj/{i}", Body=os.urandom(size))
PY
GW_PORT=$(free_port 29000)
"$FERRY_BIN" gateway --target "s3://t@bench-gw/" --s3-store "t={\"endpoint\":\"$EP\",\"credentialsDir\":\"$WORK/store\"}" --source "$WORK/source" \
  --app-keys-dir "$WORK/app" --mover-keys-dir "$WORK/mover" --host 127.0.0.1 --port "$GW_PORT" --metrics-port=-1 >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
wait_until 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$GW_PORT" || die "the gateway did not start: $(cat "$WORK/gateway.log")"
python3 - "$EP" "http://127.0.0.1:$GW_PORT" "$OBJECTS" "$GETS" <<'PY'
import boto3, botocore, random, statistics, sys, time
store, gw, n, gets = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def client(ep, key, secret):
    return boto3.client("s3", endpoint_url=ep, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1",
                        config=botocore.config.Config(s3={"addressing_style": "path"}, max_pool_connections=1, retries={"max_attempts": 1}))
sides = {"store (Swift s3api)": client(store, "test:tester", "testing"), "ferry gateway": client(gw, "app-key", "app-secret")}
times = {k: [] for k in sides}
rng = random.Random(1)
for name, c in sides.items():  # warm up: connections, caches
    for i in range(50): c.get_object(Bucket="bench-gw", Key=f"obj/{i % n}")["Body"].read()
for i in range(gets):
    key = f"obj/{rng.randrange(n)}"
    for name, c in (sides.items() if i % 2 == 0 else reversed(list(sides.items()))):
        t = time.perf_counter(); c.get_object(Bucket="bench-gw", Key=key)["Body"].read(); times[name].append((time.perf_counter() - t) * 1000)
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))]
print(f"\nGET on a target hit, {gets} each, interleaved, one kept-alive connection (boto3)")
print(f"{'':26} {'p50_ms':>8} {'p99_ms':>8}")
for name, v in times.items(): print(f"{name:26} {pct(v, .5):8.2f} {pct(v, .99):8.2f}")
s, g = times["store (Swift s3api)"], times["ferry gateway"]
print(f"\ngateway overhead: p50 {pct(g, .5) - pct(s, .5):+.2f} ms, p99 {pct(g, .99) - pct(s, .99):+.2f} ms")
PY
