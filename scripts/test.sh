#!/usr/bin/env bash
# Builds Image Market and runs every test: unit tests, the storage suite on SQLite and on a
# throwaway PostgreSQL, the registry clients against a real docker-registry, real buildah
# builds, and the browser test of the configuration page.
#   MARKET_SKIP_INSTALL=1   do not (re)install Debian packages
#   MARKET_BUILD_DIR=DIR    build folder (default: build)
#   MARKET_CMAKE_ARGS=...   extra CMake arguments (e.g. -DMARKET_SANITIZE=ON)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MARKET_BUILD_DIR:-$root/build}

if [ "${MARKET_SKIP_INSTALL:-0}" != 1 ]; then
  "$root/scripts/install-deps.sh"
fi
# The browser test's one npm dependency (playwright-core drives Debian's chromium).
if [ -f "$root/tests/browser/package-lock.json" ]; then
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi

# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${MARKET_CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)"

services=$(mktemp -d /tmp/market-services.XXXXXX)
trap '"$root/scripts/services.sh" stop "$services"; rm -rf "$services"' EXIT
"$root/scripts/services.sh" start "$services"
# shellcheck disable=SC1091
source "$services/env"
export MARKET_SERVER_BIN="$build/server/market-server"
# Every build test starts FROM <registry>/base/busybox:latest; push it once, before any runs.
"$root/scripts/make-base-image.sh" "$MARKET_TEST_REGISTRY"

# A test that fails is run once more before the suite counts it as failed: CI machines are
# shared and the suite drives real buildah, PostgreSQL and a browser. A failure on both runs
# still fails the suite, and the first failure's output stays in the log.
ctest --test-dir "$build" --output-on-failure --timeout 900 -j2 --repeat until-pass:2
