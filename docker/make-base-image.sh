#!/usr/bin/env bash
# Build a minimal Debian 12 base image from Debian's package archive, for hosts
# that cannot pull a base image from a container registry:
#     docker/make-base-image.sh [NAME:TAG]      (default trainer-workshop-base:bookworm)
# Then build the workshop image FROM it: make image BASE_IMAGE=NAME:TAG.
# Needs root and debootstrap (apt-get install debootstrap); about a minute.
# DEBIAN_MIRROR overrides debootstrap's default mirror.
# BASE_ARCH=arm64 builds a linux/arm64 base on an amd64 host (emulated: needs
# qemu-user-static and binfmt_misc: .ci/run sets them up); about a minute here.
set -euo pipefail
name="${1:-trainer-workshop-base:bookworm}"
arch="${BASE_ARCH:-$(dpkg --print-architecture)}"
command -v debootstrap >/dev/null || { echo "debootstrap is not installed: apt-get install debootstrap (as root)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "debootstrap needs root: sudo $0 $*" >&2; exit 2; }
root=$(mktemp -d /var/tmp/workshop-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --arch="$arch" bookworm "$root" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >"$root.log" 2>&1 \
    || { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# Keep the image small and the apt lists out of it.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar --numeric-owner -C "$root" -c . | docker import --platform "linux/$arch" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase --arch=$arch bookworm" - "$name"
echo "base image $name built"
