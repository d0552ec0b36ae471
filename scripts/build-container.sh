#!/usr/bin/env bash
# Builds the server's image with buildah from an already built market-server.
#   scripts/build-container.sh [--base IMAGE] [--tag TAG] [--binary PATH]
# Defaults: --base docker.io/library/debian:bookworm-slim, --tag image-market:latest,
# --binary build/server/market-server. Without internet access to Docker Hub, make a base with
# scripts/make-debian-base.sh and pass it as --base. BUILDAH may carry global options
# (e.g. "buildah --storage-driver vfs --root DIR"); BUILDAH_ISOLATION=chroot where there is no
# user namespace (containers, CI).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
base=docker.io/library/debian:bookworm-slim
tag=image-market:latest
binary=$root/build/server/market-server
tls=()  # --tls-verify=false for a base image in a plain-HTTP registry
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --tls-verify=*) tls=("$1"); shift ;;
    *) echo "usage: build-container.sh [--base IMAGE] [--tag TAG] [--binary PATH]" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "build-container: no server binary at $binary (build it first)" >&2; exit 2; }

context=$(mktemp -d /tmp/market-image-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
# Only what the image needs: the build folder holds gigabytes of objects.
strip -o "$context/market-server" "$binary"
cp "$root/deploy/market.toml" "$context/market.toml"
read -r -a buildah <<<"${BUILDAH:-buildah}"
"${buildah[@]}" bud "${tls[@]}" -f "$root/deploy/Containerfile" \
  --build-arg "BASE=$base" -t "$tag" "$context"
