#!/usr/bin/env bash
# Installs the real servers and client tools the tests and benchmarks use (Debian 12), when missing.
set -euo pipefail
need=()
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb >/dev/null || need+=(mariadb-client)
[ -x /usr/sbin/clickhouse-server ] || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null || need+=(clickhouse-client)
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)   # the ClickHouse replicas' ZooKeeper (brings a Java runtime)
command -v redis-server >/dev/null || need+=(redis-server)
command -v swift-proxy-server >/dev/null || need+=(swift-proxy swift-object swift-container swift-account)   # S3 (s3api) for the object-storage tests
command -v memcached >/dev/null || need+=(memcached)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v zstd >/dev/null || need+=(zstd)   # the old tool's clickhouse-backup/*.zst
command -v curl >/dev/null || need+=(curl)
command -v socat >/dev/null || need+=(socat)      # TLS in front of the Kafka test broker
command -v rclone >/dev/null || need+=(rclone)    # an independent S3 client that checks what the mover wrote
command -v openssl >/dev/null || need+=(openssl)  # test certificates
[ -x /usr/sbin/mkfs.xfs ] || [ -x /sbin/mkfs.xfs ] || need+=(xfsprogs)   # a loop-mounted XFS for the reflink test
if [ "${WITH_BENCH_TOOLS:-0}" = 1 ]; then
  command -v myloader >/dev/null || need+=(mydumper)
  command -v hyperfine >/dev/null || need+=(hyperfine)
  command -v rsync >/dev/null || need+=(rsync)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "install-servers: apt-get install ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A private TMPDIR: something may clean /tmp while dpkg runs.
TMPDIR=$(mktemp -d /var/tmp/apt.XXXXXX)
export TMPDIR
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian may start the services on their default ports; the tests use their own instances.
for s in mariadb clickhouse-server redis-server zookeeper memcached swift-proxy swift-object swift-container swift-account; do service "$s" stop >/dev/null 2>&1 || true; done
rm -rf "$TMPDIR"
