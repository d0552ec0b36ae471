#!/usr/bin/env bash
# Pushes a small base image, <registry>/base/busybox:latest (FROM scratch + Debian's
# busybox-static), so that builds on a machine without internet have something to start FROM.
#   scripts/make-base-image.sh 127.0.0.1:5000
set -euo pipefail
registry=${1:?usage: make-base-image.sh HOST:PORT}
image="$registry/base/busybox:latest"
storage=(--storage-driver vfs)

if curl -fsS -o /dev/null "http://$registry/v2/base/busybox/manifests/latest" \
     -H 'Accept: application/vnd.oci.image.manifest.v1+json' 2>/dev/null; then
  echo "base image $image already present"
  exit 0
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp /bin/busybox "$context/busybox"
cat >"$context/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
DOCKERFILE
buildah "${storage[@]}" bud --quiet --isolation chroot -t "$image" "$context" >/dev/null
buildah "${storage[@]}" push --quiet --tls-verify=false "$image" "docker://$image"
buildah "${storage[@]}" rmi "$image" >/dev/null
echo "pushed $image"
