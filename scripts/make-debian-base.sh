#!/usr/bin/env bash
# Makes a Debian 12 base image with debootstrap (from the Debian mirror, no Docker Hub) and
# pushes it to REGISTRY as base/debian:bookworm, for building deploy/Containerfile offline.
#   scripts/make-debian-base.sh REGISTRY   # host:port of a plain-HTTP registry
# BUILDAH may carry global options (e.g. "buildah --storage-driver vfs --root DIR").
set -euo pipefail

registry=${1:?usage: make-debian-base.sh REGISTRY}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d /tmp/market-debian-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
# The image's apt reads the same mirror; no caches or logs in the layer.
echo "deb $mirror bookworm main" >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*
image=$registry/base/debian:bookworm
read -r -a buildah <<<"${BUILDAH:-buildah}"
ctr=$("${buildah[@]}" from scratch)
"${buildah[@]}" copy "$ctr" "$rootfs" / >/dev/null
"${buildah[@]}" config --cmd /bin/bash "$ctr"
"${buildah[@]}" commit --quiet "$ctr" "$image" >/dev/null
"${buildah[@]}" rm "$ctr" >/dev/null
"${buildah[@]}" push --tls-verify=false "$image" "docker://$image" >/dev/null
echo "pushed $image"
