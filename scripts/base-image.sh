#!/usr/bin/env bash
# Make the base image debian:bookworm-slim when it cannot be pulled (no registry
# here): debootstrap a minimal Debian and import it. Skips itself when present.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
step "pulling $IMAGE"
if timeout 60 docker pull -q "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
note "no registry reachable: building $IMAGE locally with debootstrap (about 90 s)"
apt_install debootstrap
mkdir -p "$BUILD_DIR"
rootfs="$(mktemp -d /tmp/rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$rootfs" \
  "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$BUILD_DIR/debootstrap.log" 2>&1 \
  || die "debootstrap failed: read $BUILD_DIR/debootstrap.log."
# Keep the image small, as the real slim image is.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import - "$IMAGE" >/dev/null || die "docker import failed."
rm -f "$BUILD_DIR/debootstrap.log"
note "built $IMAGE"
