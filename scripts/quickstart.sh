#!/usr/bin/env bash
# One command from a fresh Debian machine to a running Image Market on local defaults:
# installs the packages, builds, starts a local docker-registry on 127.0.0.1:5000 with a
# busybox base image, and runs market-server on http://127.0.0.1:8080 with a SQLite file.
# State lives in .market/ beside the checkout. Ctrl-C stops the server.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.market"
build="$root/build"

if [ "${MARKET_SKIP_INSTALL:-0}" != 1 ]; then
  "$root/scripts/install-deps.sh"
fi
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# The build type and flags of scripts/test.sh: the README's second command then builds only the
# tests in this folder instead of compiling everything again.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  "${launcher[@]}"
cmake --build "$build" -j"$(nproc)" --target market_server market_cli

mkdir -p "$state/registry/data"
if ! curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then
  cat >"$state/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $state/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
YAML
  setsid docker-registry serve "$state/registry/config.yml" >"$state/registry/server.log" 2>&1 &
  for _ in $(seq 1 100); do
    curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "docker-registry listening on 127.0.0.1:5000 (data in $state/registry)"
fi
"$root/scripts/make-base-image.sh" 127.0.0.1:5000

echo "Image Market on http://127.0.0.1:8080/  (the console: projects, then each project's page)"
echo "The CLI: $build/cli/market --help (its server defaults to http://127.0.0.1:8080)"
exec "$build/server/market-server" \
  --listen 127.0.0.1:8080 \
  --database "sqlite:$state/market.db" \
  --registry http://127.0.0.1:5000 --registry-insecure \
  --workspace "$state/workspace"
