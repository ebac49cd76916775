#!/usr/bin/env bash
# The object-storage side of the tests: moto's S3 server (PyPI moto[server], installed with its
# dependencies into .tools/python/moto, never into the system's Python). Prints nothing on success.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$root/.tools/python/moto"
if [ ! -f "$target/.installed-5.2" ]; then
  echo "install-s3-tools: fetching moto[server]" >&2
  rm -rf "$target"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --target "$target" 'moto[server]>=5.2,<5.3' >&2 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --target "$target" 'moto[server]' >&2
  touch "$target/.installed-5.2"
fi
