#!/usr/bin/env bash
# CI's check of deploy/Containerfile: builds the server's image from the built binary on a
# debootstrap-made Debian base (no Docker Hub needed), then runs the image: --version, and the
# server itself answering /healthz and creating a project on SQLite.
#   scripts/check-container.sh REGISTRY [BINARY]   # REGISTRY: host:port, plain HTTP
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
registry=${1:?usage: check-container.sh REGISTRY [BINARY]}
binary=${2:-$root/build/server/market-server}
storage=$(mktemp -d /tmp/market-image-storage.XXXXXX)
export BUILDAH="buildah --storage-driver vfs --root $storage/root --runroot $storage/run"
export BUILDAH_ISOLATION=chroot
read -r -a buildah <<<"$BUILDAH"
ctr=""
server=""
port=""
cleanup() {
  set +e  # best effort: nothing here may change the script's outcome
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null
    # buildah run may leave the server itself behind: it is the one on our port.
    pkill -f -- "--listen 127.0.0.1:$port" 2>/dev/null
    wait "$server" 2>/dev/null
  fi
  [ -n "$ctr" ] && "${buildah[@]}" rm "$ctr" >/dev/null 2>&1
  "${buildah[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$storage"
}
trap cleanup EXIT

start=$(date +%s)
"$root/scripts/make-debian-base.sh" "$registry"
"$root/scripts/build-container.sh" --base "$registry/base/debian:bookworm" \
  --tag localhost/image-market:check --binary "$binary" --tls-verify=false >/dev/null
echo "check-container: image built in $(( $(date +%s) - start ))s"

ctr=$("${buildah[@]}" from localhost/image-market:check)
version=$("${buildah[@]}" run "$ctr" -- /usr/local/bin/market-server --version)
echo "check-container: $version"
[[ "$version" == *market-server* ]] || { echo "unexpected --version: $version" >&2; exit 1; }

# The image's own user and configuration, with a loopback port (chroot isolation shares the
# host's network).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${buildah[@]}" run --user image-market "$ctr" -- /usr/local/bin/market-server \
  --config /etc/image-market/market.toml --listen "127.0.0.1:$port" &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
answer=$(curl -fsS -X POST "http://127.0.0.1:$port/api/project/new" \
  -d 'projectName=from-the-image&operator=ci')
[[ "$answer" == *'"code":10000'* ]] || { echo "project/new in the image: $answer" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$port/api/project/info?projectName=from-the-image" | grep -q '"code":10000'
echo "check-container: the image serves the API ($(( $(date +%s) - start ))s in all)"
