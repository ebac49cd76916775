#!/usr/bin/env bash
# Real data servers for Ferry's tests and benchmarks, on 127.0.0.1 only, in one folder.
#
#   scripts/test-servers.sh up DIR      start MariaDB, ClickHouse and Redis under DIR (created);
#                                       write DIR/env.sh with their ports and PIDs; print it
#   scripts/test-servers.sh down DIR    stop exactly the PIDs in DIR/env.sh and delete DIR
#
# KAFKA=0 skips the Kafka brokers; SECURE_KAFKA=0 skips the SASL/TLS ones; ONLY=mysql starts MariaDB alone.
#
# Needs (Debian): mariadb-server mariadb-client clickhouse-server clickhouse-client redis-server
# (scripts/install-servers.sh installs them). Ports: the first free ones at or after
# 23306 (MariaDB), 28123/29000 (ClickHouse http/tcp), 26379 (Redis).
set -euo pipefail

log() { printf '[test-servers] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
free_port() { local p=$1; while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p+1)); done; echo "$p"; }
wait_until() { # wait_until SECONDS CMD...
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then return 1; fi
    sleep 0.05
  done
}
stop_pid() {
  local p=$1 i=0
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  while kill -0 "$p" 2>/dev/null; do
    sleep 0.05; i=$((i+1))
    if [ $i -gt 400 ]; then kill -KILL "$p" 2>/dev/null || true; break; fi
  done
  return 0
}

start_mariadb() { # DIR PORT   (MY_BINLOG=1: binary log with GTIDs, server id MY_SERVER_ID, for replication)
  local d=$1 port=$2 user_opt=() log_opt=(--skip-log-bin)
  [ "${MY_BINLOG:-0}" = 1 ] && log_opt=(--log-bin=mariadb-bin --binlog-format=ROW --log-slave-updates=1 --gtid-domain-id=0
                                        --server-id="${MY_SERVER_ID:-1}" --relay-log=relay-bin)
  mkdir -p "$d"
  [ "$(id -u)" = 0 ] && user_opt=(--user=root)
  mariadb-install-db --no-defaults --datadir="$d/data" "${user_opt[@]}" \
      --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
      >"$d/install-db.log" 2>&1 || { cat "$d/install-db.log" >&2; die "mariadb-install-db failed"; }
  setsid /usr/sbin/mariadbd --no-defaults "${user_opt[@]}" --datadir="$d/data" \
      --socket="$d/mysql.sock" --port="$port" --bind-address=127.0.0.1 \
      --pid-file="$d/mariadbd.pid" --log-error="$d/error.log" --skip-name-resolve "${log_opt[@]}" \
      --innodb-buffer-pool-size="${MY_BUFFER_POOL:-1G}" --innodb-log-file-size=256M \
      --innodb-flush-log-at-trx-commit=2 --max-allowed-packet=256M \
      </dev/null >"$d/stdout.log" 2>&1 &
  MY_PID=$!
  wait_until 60 mariadb-admin --no-defaults --socket="$d/mysql.sock" -uroot ping \
      || { tail -20 "$d/error.log" >&2; die "mariadbd did not become ready"; }
}

start_clickhouse() { # DIR HTTP TCP
  local d=$1 http=$2 tcp=$3
  mkdir -p "$d"/{data,tmp,user_files,format_schemas,log}
  cat >"$d/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/log/server.log</log><errorlog>$d/log/err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$tcp</tcp_port>
  <http_port>$http</http_port>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>1000</flush_interval_milliseconds></query_log>
</yandex>
XML
  # "default" has no password; "ferry" needs one; "small" has a tight memory limit (for OOM tests).
  cat >"$d/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>4000000000</max_memory_usage><log_queries>1</log_queries></default>
    <small><max_memory_usage>30000000</max_memory_usage></small>
  </profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <ferry><password>s3cret pass</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></ferry>
    <small><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>small</profile><quota>default</quota></small>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  # CH_EXTRA_CONFIG: more configuration (ZooKeeper, macros, clusters; @TCP@ is this server's native port), merged from config.d.
  if [ -n "${CH_EXTRA_CONFIG:-}" ]; then mkdir -p "$d/config.d"; printf '<?xml version="1.0"?>\n<yandex>%s</yandex>\n' "${CH_EXTRA_CONFIG//@TCP@/$tcp}" >"$d/config.d/extra.xml"; fi
  setsid /usr/sbin/clickhouse-server --config-file="$d/config.xml" --pidfile="$d/clickhouse.pid" \
      </dev/null >"$d/log/stdout.log" 2>&1 &
  CH_PID=$!
  wait_until 60 curl -sf "http://127.0.0.1:$http/ping" \
      || { cat "$d/log/stdout.log" "$d/log/err.log" >&2 2>/dev/null; die "clickhouse did not become ready"; }
}

start_zookeeper() { # DIR PORT — ZooKeeper 3.8 from Debian's zookeeper package; sets ZK_PID
  local d=$1 port=$2
  [ -f /usr/share/java/zookeeper.jar ] || die "zookeeper missing (scripts/install-servers.sh)"
  mkdir -p "$d/data" "$d/conf"
  printf 'tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\nmaxClientCnxns=0\n' \
      "$d/data" "$port" >"$d/conf/zoo.cfg"
  printf 'log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s/zookeeper.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\nlog4j.appender.F.layout.ConversionPattern=%%d %%p %%m%%n\n' \
      "$d" >"$d/conf/log4j.properties"
  setsid java -Xmx256m -cp "$d/conf:/usr/share/java/zookeeper.jar" org.apache.zookeeper.server.ZooKeeperServerMain "$d/conf/zoo.cfg" \
      </dev/null >"$d/stdout.log" 2>&1 &
  ZK_PID=$!
  # srvr answers "not currently serving requests" until sessions can be made (ruok says imok earlier).
  # Each try has its own deadline: a server that accepts and never answers must not hang the wait.
  wait_until 60 timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf srvr >&3; grep -q '^Mode:' <&3" \
      || { cat "$d/stdout.log" "$d/zookeeper.log" >&2 2>/dev/null; die "zookeeper did not become ready"; }
}

start_replicas() { # DIR — ZooKeeper and two ClickHouse servers, replicas of one shard of cluster "target"
  local d=$1 zk a_http a_tcp b_http b_tcp cluster
  zk=$(free_port "${ZK_PORT:-22181}")
  start_zookeeper "$d/zookeeper" "$zk"
  a_http=$(free_port 28423); a_tcp=$(free_port 29300); b_http=$(free_port 28523); b_tcp=$(free_port 29400)
  cluster="<remote_servers><target><shard><internal_replication>true</internal_replication><replica><host>127.0.0.1</host><port>$a_tcp</port></replica><replica><host>127.0.0.1</host><port>$b_tcp</port></replica></shard></target></remote_servers>"
  cluster="$cluster<zookeeper><node><host>127.0.0.1</host><port>$zk</port></node></zookeeper><distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl><interserver_http_host>127.0.0.1</interserver_http_host>"
  CH_EXTRA_CONFIG="$cluster<macros><shard>01</shard><replica>a</replica></macros><interserver_http_port>$(free_port 29309)</interserver_http_port>" start_clickhouse "$d/replica-a" "$a_http" "$a_tcp"
  REPLICA_A_PID=$CH_PID
  CH_EXTRA_CONFIG="$cluster<macros><shard>01</shard><replica>b</replica></macros><interserver_http_port>$(free_port 29409)</interserver_http_port>" start_clickhouse "$d/replica-b" "$b_http" "$b_tcp"
  REPLICA_B_PID=$CH_PID
  CH_PID=""
  # Both in session with ZooKeeper before anything is asked of them (18.16 crashes on a DDL without a session).
  for http in $a_http $b_http; do
    wait_until 60 sh -c "curl -sf 'http://127.0.0.1:$http/' --data-binary \"SELECT count() FROM system.zookeeper WHERE path = '/'\"" \
        || die "clickhouse on $http has no ZooKeeper session"
  done
  REPLICAS="$a_http:$a_tcp,$b_http:$b_tcp"; ZK=$zk
}

start_swift() { # DIR — OpenStack Swift (account, container, object, proxy with s3api + tempauth) and memcached; sets SWIFT_PORT, SWIFT_PIDS
  local d=$1 p n port
  command -v swift-proxy-server >/dev/null || die "swift missing (scripts/install-servers.sh)"
  mkdir -p "$d/etc" "$d/srv/node/d1" "$d/run"
  printf '[swift-hash]\nswift_hash_path_suffix = ferrytest\nswift_hash_path_prefix = ferrytest\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n' >"$d/etc/swift.conf"
  local user; user=$(id -un)
  SWIFT_PIDS=""
  local mc; mc=$(free_port 26211)
  setsid memcached -u "$user" -l 127.0.0.1 -p "$mc" -m 32 </dev/null >"$d/run/memcached.log" 2>&1 &
  SWIFT_PIDS="$SWIFT_PIDS $!"
  port=26010
  for n in object container account; do
    p=$(free_port "$port"); port=$((p + 1))
    (cd "$d/etc" && swift-ring-builder "$n.builder" create 8 1 1 >/dev/null && swift-ring-builder "$n.builder" add "r1z1-127.0.0.1:$p/d1" 1 >/dev/null \
      && swift-ring-builder "$n.builder" rebalance >/dev/null) || die "swift-ring-builder $n failed"
    printf '[DEFAULT]\ndevices = %s\nmount_check = false\nbind_ip = 127.0.0.1\nbind_port = %s\nworkers = 0\nswift_dir = %s\nuser = %s\nlog_level = WARNING\n[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' \
      "$d/srv/node" "$p" "$d/etc" "$user" "$n" "$n" "$n" >"$d/etc/$n-server.conf"
    setsid "swift-$n-server" "$d/etc/$n-server.conf" </dev/null >"$d/run/$n.log" 2>&1 &
    SWIFT_PIDS="$SWIFT_PIDS $!"
  done
  SWIFT_PORT=$(free_port "${SWIFT_PORT:-26080}")
  cat >"$d/etc/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $SWIFT_PORT
workers = 0
swift_dir = $d/etc
user = $user
log_level = WARNING
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:s3api]
use = egg:swift#s3api
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
  setsid swift-proxy-server "$d/etc/proxy-server.conf" </dev/null >"$d/run/proxy.log" 2>&1 &
  SWIFT_PIDS="$SWIFT_PIDS $!"
  wait_until 60 curl -sf "http://127.0.0.1:$SWIFT_PORT/healthcheck" || { cat "$d/run/"*.log >&2; die "swift did not become ready"; }
  # The proxy answers before the account and container servers do (S3 then says 503 "reduce your
  # request rate"): ready once a container can be made and read back through tempauth.
  wait_until 60 swift_writable "$SWIFT_PORT" || { cat "$d/run/"*.log >&2; die "swift's account and container servers did not become ready"; }
}

swift_writable() { # PORT — a container made and read back
  local auth url token
  auth=$(curl -sfi -H "X-Auth-User: test:tester" -H "X-Auth-Key: testing" "http://127.0.0.1:$1/auth/v1.0") || return 1
  url=$(printf '%s\n' "$auth" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-storage-url"{print $2}')
  token=$(printf '%s\n' "$auth" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}')
  [ -n "$url" ] && [ -n "$token" ] || return 1
  curl -sf -X PUT -H "X-Auth-Token: $token" "$url/ferry-ready" >/dev/null && curl -sf -I -H "X-Auth-Token: $token" "$url/ferry-ready" >/dev/null
}

start_redis() { # DIR PORT
  local d=$1 port=$2
  mkdir -p "$d"
  setsid redis-server --bind 127.0.0.1 --port "$port" --dir "$d" --save '' --appendonly no \
      --daemonize no --logfile "$d/redis.log" --requirepass "redis pass" \
      </dev/null >"$d/stdout.log" 2>&1 &
  REDIS_PID=$!
  wait_until 30 sh -c "[ \"\$(redis-cli -h 127.0.0.1 -p $port --no-auth-warning -a 'redis pass' ping)\" = PONG ]" \
      || { cat "$d/redis.log" >&2; die "redis did not become ready"; }
}

start_kafka() { # DIR PORT — Tansu (scripts/install-kafka-tools.sh), in-memory storage
  local d=$1 port=$2 tansu=$TANSU
  if [ ! -x "$tansu" ]; then log "tansu missing (scripts/install-kafka-tools.sh): no Kafka broker"; KAFKA_PORT=0; return 0; fi
  mkdir -p "$d"
  setsid "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >"$d/tansu.log" 2>&1 </dev/null &
  KAFKA_PID=$!
  wait_until 30 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" || { cat "$d/tansu.log" >&2; die "tansu did not start"; }
}

make_certs() { # DIR — a test CA, a broker certificate for 127.0.0.1/localhost, a client certificate
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 30 -subj "/CN=Ferry test CA" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -keyout "$d/broker.key" -out "$d/broker.csr" -subj "/CN=localhost" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/broker.ext"
  openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
      -extfile "$d/broker.ext" -out "$d/broker.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -keyout "$d/client.key" -out "$d/client.csr" -subj "/CN=ferry-client" >/dev/null 2>&1
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
      -out "$d/client.crt" >/dev/null 2>&1
  cat "$d/broker.crt" "$d/broker.key" >"$d/broker.pem"
}

start_tansu() { # DIR LISTEN_PORT ADVERTISED_PORT [tansu args...] — sets TANSU_PID
  local d=$1 port=$2 advertised=$3; shift 3
  mkdir -p "$d"
  setsid "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$advertised" \
      --storage-engine memory://tansu/ "$@" >"$d/tansu.log" 2>&1 </dev/null &
  TANSU_PID=$!
  wait_until 30 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" || { cat "$d/tansu.log" >&2; die "tansu did not start"; }
}

start_tls_proxy() { # DIR PORT TO_PORT VERIFY(0|1) — socat terminates TLS (OpenSSL) in front of a broker; sets PROXY_PID
  local d=$1 port=$2 to=$3 verify=$4
  setsid socat "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$d/broker.pem,cafile=$d/ca.crt,verify=$verify" \
      "TCP:127.0.0.1:$to" >"$d/socat-$port.log" 2>&1 </dev/null &
  PROXY_PID=$!
  wait_until 30 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" || { cat "$d/socat-$port.log" >&2; die "socat did not start"; }
}

start_sasl_gateway() { # DIR PORT TO_PORT — scripts/kafka-sasl-gateway.py (SCRAM by scramp); sets GATEWAY_PID
  local d=$1 port=$2 to=$3 py="$ROOT/.tools/python"
  setsid env PYTHONPATH="$(ls "$py"/scramp-*.whl):$(ls "$py"/asn1crypto-*.whl)" python3 "$ROOT/scripts/kafka-sasl-gateway.py" \
      --listen "$port" --upstream "127.0.0.1:$to" --user "$KAFKA_SASL_USER:$KAFKA_SASL_PASSWORD" \
      >"$d/gateway-$port.log" 2>&1 </dev/null &
  GATEWAY_PID=$!
  wait_until 30 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" || { cat "$d/gateway-$port.log" >&2; die "the SASL gateway did not start"; }
}

start_secure_kafka() { # DIR — brokers that need SASL, TLS with SASL, or a client certificate. Each
  # broker advertises the address clients reach it at. TLS is terminated by socat (OpenSSL): Tansu
  # 0.6's own TLS flags cannot be combined; SASL by kafka-sasl-gateway.py (see there why).
  local d=$1 inner
  if [ ! -x "$TANSU" ] || ! command -v socat >/dev/null || ! command -v openssl >/dev/null \
      || ! ls "$ROOT"/.tools/python/scramp-*.whl >/dev/null 2>&1; then
    log "tansu, socat, openssl or scramp missing: no SASL/TLS Kafka brokers"; return 0
  fi
  make_certs "$d/tls"
  KAFKA_SASL_USER=ferry KAFKA_SASL_PASSWORD="s3cret, with = and spaces"
  KAFKA_SASL_PORT=$(free_port 29192); inner=$(free_port $((KAFKA_SASL_PORT + 1)))
  start_tansu "$d/sasl" "$inner" "$KAFKA_SASL_PORT"; KAFKA_SASL_BROKER_PID=$TANSU_PID
  start_sasl_gateway "$d/sasl" "$KAFKA_SASL_PORT" "$inner"; KAFKA_SASL_PID=$GATEWAY_PID
  KAFKA_TLS_PORT=$(free_port 29292); inner=$(free_port $((KAFKA_TLS_PORT + 1)))
  local gw; gw=$(free_port $((inner + 1)))
  start_tansu "$d/tls-sasl" "$inner" "$KAFKA_TLS_PORT"; KAFKA_TLS_BROKER_PID=$TANSU_PID
  start_sasl_gateway "$d/tls-sasl" "$gw" "$inner"; KAFKA_TLS_GATEWAY_PID=$GATEWAY_PID
  start_tls_proxy "$d/tls" "$KAFKA_TLS_PORT" "$gw" 0; KAFKA_TLS_PID=$PROXY_PID
  KAFKA_MTLS_PORT=$(free_port 29392); inner=$(free_port $((KAFKA_MTLS_PORT + 1)))
  start_tansu "$d/mtls" "$inner" "$KAFKA_MTLS_PORT"; KAFKA_MTLS_BROKER_PID=$TANSU_PID
  start_tls_proxy "$d/tls" "$KAFKA_MTLS_PORT" "$inner" 1; KAFKA_MTLS_PID=$PROXY_PID
}

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TANSU=$(command -v tansu || echo "$ROOT/.tools/bin/tansu")

case "${1:-}" in
  up)
    dir=${2:?usage: test-servers.sh up DIR}
    mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
    MY_PORT=$(free_port "${MY_PORT:-23306}")
    CH_HTTP=$(free_port "${CH_HTTP:-28123}"); CH_TCP=$(free_port "${CH_TCP:-29000}")
    REDIS_PORT=$(free_port "${REDIS_PORT:-26379}")
    KAFKA_PORT=$(free_port "${KAFKA_PORT:-29092}")
    trap 'for p in ${MY_PID:-} ${CH_PID:-} ${REDIS_PID:-} ${KAFKA_PID:-} ${KAFKA_SASL_BROKER_PID:-} ${KAFKA_SASL_PID:-} ${KAFKA_TLS_BROKER_PID:-} ${KAFKA_TLS_GATEWAY_PID:-} ${KAFKA_TLS_PID:-} ${KAFKA_MTLS_BROKER_PID:-} ${KAFKA_MTLS_PID:-}; do stop_pid $p; done' ERR
    only=${ONLY:-all}   # ONLY=mysql starts MariaDB alone (benchmarks); ONLY=clickhouse, ClickHouse alone; ONLY=replicas, ZooKeeper and two ClickHouse replicas; ONLY=swift, OpenStack Swift with s3api
    if [ "$only" = swift ]; then
      trap 'for p in ${SWIFT_PIDS:-}; do stop_pid $p; done' ERR
      start_swift "$dir"
      printf 'export FERRY_TEST_SWIFT_PORT=%s FERRY_TEST_SWIFT_PIDS="%s"\n' "$SWIFT_PORT" "$SWIFT_PIDS" >"$dir/env.sh"
      cat "$dir/env.sh"
      exit 0
    fi
    if [ "$only" = replicas ]; then
      trap 'for p in ${ZK_PID:-} ${REPLICA_A_PID:-} ${REPLICA_B_PID:-} ${CH_PID:-}; do stop_pid $p; done' ERR
      start_replicas "$dir"
      printf 'export FERRY_TEST_ZK_PORT=%s FERRY_TEST_CH_REPLICAS=%s FERRY_TEST_REPLICAS_PIDS="%s %s %s"\n' "$ZK" "$REPLICAS" "$REPLICA_A_PID" "$REPLICA_B_PID" "$ZK_PID" >"$dir/env.sh"
      cat "$dir/env.sh"
      exit 0
    fi
    if [ "$only" = clickhouse ]; then MY_PID=""; MY_PORT=0; else start_mariadb "$dir/mariadb" "$MY_PORT"; fi
    if [ "$only" = clickhouse ]; then start_clickhouse "$dir/clickhouse" "$CH_HTTP" "$CH_TCP"; fi
    if [ "$only" = all ]; then
      start_clickhouse "$dir/clickhouse" "$CH_HTTP" "$CH_TCP"
      start_redis "$dir/redis" "$REDIS_PORT"
      if [ "${KAFKA:-1}" = 1 ]; then start_kafka "$dir/kafka" "$KAFKA_PORT"; else KAFKA_PORT=0; fi
      if [ "${KAFKA:-1}" = 1 ] && [ "${SECURE_KAFKA:-1}" = 1 ]; then start_secure_kafka "$dir/kafka"; fi
    fi
    cat >"$dir/env.sh" <<ENV
export FERRY_TEST_MYSQL_PORT=$MY_PORT FERRY_TEST_MYSQL_PID=$MY_PID
export FERRY_TEST_CLICKHOUSE_HTTP=$CH_HTTP FERRY_TEST_CLICKHOUSE_TCP=$CH_TCP FERRY_TEST_CLICKHOUSE_PID=${CH_PID:-}
export FERRY_TEST_REDIS_PORT=$REDIS_PORT FERRY_TEST_REDIS_PID=${REDIS_PID:-} FERRY_TEST_REDIS_PASSWORD='redis pass'
export FERRY_TEST_KAFKA_PORT=$KAFKA_PORT FERRY_TEST_KAFKA_PID=${KAFKA_PID:-}
export FERRY_TEST_KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-0} FERRY_TEST_KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-0} FERRY_TEST_KAFKA_MTLS_PORT=${KAFKA_MTLS_PORT:-0}
export FERRY_TEST_KAFKA_TLS_DIR=$dir/kafka/tls FERRY_TEST_KAFKA_SASL_USER=${KAFKA_SASL_USER:-} FERRY_TEST_KAFKA_SASL_PASSWORD='${KAFKA_SASL_PASSWORD:-}'
export FERRY_TEST_KAFKA_SECURE_PIDS='${KAFKA_SASL_BROKER_PID:-} ${KAFKA_SASL_PID:-} ${KAFKA_TLS_BROKER_PID:-} ${KAFKA_TLS_GATEWAY_PID:-} ${KAFKA_TLS_PID:-} ${KAFKA_MTLS_BROKER_PID:-} ${KAFKA_MTLS_PID:-}'
export FERRY_TEST_SERVERS_DIR=$dir
ENV
    cat "$dir/env.sh"
    ;;
  down)
    dir=${2:?usage: test-servers.sh down DIR}
    [ -f "$dir/env.sh" ] || { rm -rf "$dir"; exit 0; }
    # Only the PIDs this folder's env.sh names: never ones inherited from the caller's environment.
    unset FERRY_TEST_MYSQL_PID FERRY_TEST_CLICKHOUSE_PID FERRY_TEST_REDIS_PID FERRY_TEST_KAFKA_PID FERRY_TEST_KAFKA_SECURE_PIDS FERRY_TEST_REPLICAS_PIDS FERRY_TEST_SWIFT_PIDS
    # shellcheck disable=SC1091
    . "$dir/env.sh"
    for p in "${FERRY_TEST_MYSQL_PID:-}" "${FERRY_TEST_CLICKHOUSE_PID:-}" "${FERRY_TEST_REDIS_PID:-}" "${FERRY_TEST_KAFKA_PID:-}" ${FERRY_TEST_KAFKA_SECURE_PIDS:-} ${FERRY_TEST_REPLICAS_PIDS:-} ${FERRY_TEST_SWIFT_PIDS:-}; do [ -n "$p" ] && stop_pid "$p"; done
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 up DIR | down DIR" >&2; exit 2 ;;
esac
