#!/usr/bin/env bash
# make image: Ferry's runtime image, built on this machine without Docker or a registry.
#
#   scripts/build-image.sh     (env: IMAGE=ferry/ferry:<chart appVersion>  OUT=.build/image
#                               SKIP_BINARIES=1 reuses .build-static/release/ferry
#                               MIRROR=http://deb.debian.org/debian)
#
# 1. The binary, as the Dockerfile builds it: static Swift runtime, -Osize, non-PIE, stripped.
#    ferry-controller (what the Deployment runs) is a link to it: called by that name, ferry is
#    `ferry controller`. One binary, because each static Swift binary carries its own Foundation
#    and ICU (~40 MB).
# 2. A Debian bookworm root filesystem from mmdebstrap holding what the steps run (the
#    Dockerfile's runtime packages below), trimmed by image/trim.sh (no apt, Perl, docs).
# 3. The image with buildah: that tree, the binary and its link in /usr/local/bin, user 65532:65532, the
#    Dockerfile's entrypoint and command. It lands in local containers storage as $IMAGE and in
#    $OUT/ferry.oci.tar (push it with `skopeo copy oci-archive:… docker://registry/…`).
#
# What the image is — packages, user, entrypoint, command, binaries, links — is written here and in
# the Dockerfile; Tests/FerryOperatorTests/ImageDefinitionTests.swift checks that both say the same.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

PACKAGES="mariadb-client zstd ca-certificates tzdata"
IMAGE_USER="65532:65532"
ENTRYPOINT='["/usr/local/bin/ferry"]'
CMD="controller"
BINARIES="ferry"
LINKS="ferry-controller"
SUITE=bookworm

version=$(awk '/^appVersion:/ { gsub(/"/, "", $2); print $2 }' charts/ferry/Chart.yaml)
IMAGE=${IMAGE:-ferry/ferry:$version}
OUT=${OUT:-$root/.build/image}
STATIC=$root/.build-static/release

missing=()
for tool in buildah mmdebstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "make image needs ${missing[*]}: install with 'apt-get install buildah mmdebstrap' (Debian 12 or later), or build with Docker from the Dockerfile" >&2
  exit 1
fi
[ "$(id -u)" = 0 ] || { echo "make image runs mmdebstrap and buildah as root (they build a root filesystem); run it with sudo" >&2; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
mkdir -p "$OUT"

# 1. The binaries.
if [ "${SKIP_BINARIES:-0}" != 1 ]; then
  t=$(now)
  for product in $BINARIES; do
    swift build -c release --product "$product" --static-swift-stdlib -Xswiftc -Osize -Xlinker -no-pie -Xlinker -s --scratch-path .build-static >&2
  done
  echo "image: binary built in $(since "$t") s" >&2
fi
for product in $BINARIES; do
  [ -x "$STATIC/$product" ] || { echo "image: $STATIC/$product is missing; run without SKIP_BINARIES=1 to build it" >&2; exit 1; }
done

# 2. The root filesystem.
t=$(now)
started=$t
rm -f "$OUT/rootfs.tar"
mmdebstrap --quiet --variant=essential --include="${PACKAGES// /,}" \
  --aptopt='APT::Install-Recommends "false"' \
  --customize-hook="sh '$root/image/trim.sh' \"\$1\"" \
  "$SUITE" "$OUT/rootfs.tar" ${MIRROR:-}
echo "image: root filesystem ($SUITE: $PACKAGES) in $(since "$t") s" >&2

# 3. The image.
t=$(now)
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$OUT/rootfs.tar" / >/dev/null
for product in $BINARIES; do
  buildah copy --quiet --chmod 0755 "$ctr" "$STATIC/$product" "/usr/local/bin/$product" >/dev/null
done
mnt=$(buildah mount "$ctr")
for link in $LINKS; do ln -s ferry "$mnt/usr/local/bin/$link"; done
buildah umount "$ctr" >/dev/null
buildah config --user "$IMAGE_USER" --entrypoint "$ENTRYPOINT" --cmd "$CMD" \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label org.opencontainers.image.title=ferry --label org.opencontainers.image.version="$version" "$ctr"
buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
trap - EXIT
rm -f "$OUT/ferry.oci.tar"
buildah push --quiet "$IMAGE" "oci-archive:$OUT/ferry.oci.tar:$IMAGE" >/dev/null
rm -f "$OUT/rootfs.tar"
size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -1)
echo "image: $IMAGE assembled in $(since "$t") s ($(since "$started") s after the binaries); $size uncompressed, $(du -h "$OUT/ferry.oci.tar" | cut -f1) as $OUT/ferry.oci.tar" >&2
echo "$IMAGE"
