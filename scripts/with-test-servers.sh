#!/usr/bin/env bash
# Runs a command with Ferry's test servers (MariaDB, ClickHouse, Redis) up; stops them afterwards.
#   scripts/with-test-servers.sh CMD ARGS...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-servers.XXXXXX")
rmdir "$dir"
trap '"$here/test-servers.sh" down "$dir"' EXIT
trap 'exit 130' INT TERM
"$here/test-servers.sh" up "$dir" >/dev/null || exit 1
# shellcheck disable=SC1091
. "$dir/env.sh"
"$@"
