#!/usr/bin/env bash
# Builds Image Market and runs every test: unit tests, the storage suite on SQLite and on a
# throwaway PostgreSQL, the registry clients against a real docker-registry, real buildah
# builds, and the browser test of the configuration page.
#   MARKET_SKIP_INSTALL=1   do not (re)install Debian packages
#   MARKET_BUILD_DIR=DIR    build folder (default: build)
#   MARKET_CMAKE_ARGS=...   extra CMake arguments (e.g. -DMARKET_SANITIZE=ON)
#   MARKET_FUZZ_SECONDS=N   run time of each libFuzzer harness after the suite (default 60; 0 skips)
#   MARKET_SKIP_CONTAINER=1 do not build and run the server's image (deploy/Containerfile)
#   MARKET_WITH_SANITIZERS=0 do not build and run the whole suite again under ASan and UBSan
#                           (scripts/sanitize.sh: a second build, -Og, about 1.2 times the first)
#   MARKET_TEST_REGEX=RE    run only the tests whose names match RE (ctest -R); none matching fails
#   MARKET_SKIP_FIRST_RUN=1 do not run the README's two commands on a fresh clone
#                           (scripts/check-first-run.sh: quickstart.sh, then test.sh on its build/)
# With ccache on PATH the builds go through it; CCACHE_BASEDIR defaults to the checkout, so a
# clone inside it (the fresh-clone check) compiles from the cache this build filled.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MARKET_BUILD_DIR:-$root/build}

# Each stage's start and, at the end, how long each took: CI has a time budget to keep.
stages=()
stage_started=0
stage() {
  local now
  now=$(date +%s)
  if [ "$stage_started" != 0 ]; then stages+=("$(( now - stage_started ))s  $stage_name"); fi
  stage_name=$1
  stage_started=$now
  echo "== $1 ($(date -u +%H:%M:%S))"
}
stage_summary() {
  stage "done"
  echo "== time per stage:"
  printf '   %s\n' "${stages[@]}"
}

stage "install packages"
if [ "${MARKET_SKIP_INSTALL:-0}" != 1 ]; then
  "$root/scripts/install-deps.sh"
fi
# The browser test's one npm dependency (playwright-core drives Debian's chromium).
if [ -f "$root/tests/browser/package-lock.json" ]; then
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --loglevel=error)
fi

stage "build"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  # Paths under the base folder are hashed relative to the build folder, and the build folder
  # itself is left out of the hash of a -g compile (its debug information then names the folder
  # of the compile that filled the cache): the same sources in another folder hit the cache.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
fi
# Line tables only (-g1) instead of full debug information: backtraces and sanitizer reports
# still name files and lines, and the build takes about a quarter less time.
# shellcheck disable=SC2086
# BUILD_TESTING=ON by name: quickstart configures the same folder with it off, and a cached OFF
# would leave ctest nothing to run.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  "${launcher[@]}" ${MARKET_CMAKE_ARGS:-}
cmake --build "$build" -j"$(nproc)"

stage "services and the base image"

services=$(mktemp -d /tmp/market-services.XXXXXX)
trap '"$root/scripts/services.sh" stop "$services"; rm -rf "$services"' EXIT
"$root/scripts/services.sh" start "$services"
# shellcheck disable=SC1091
source "$services/env"
export MARKET_SERVER_BIN="$build/server/market-server"
# Every build test starts FROM <registry>/base/busybox:latest; push it once, before any runs.
"$root/scripts/make-base-image.sh" "$MARKET_TEST_REGISTRY"

stage "test suite"
# A test that fails is run once more before the suite counts it as failed: CI machines are
# shared and the suite drives real buildah, PostgreSQL and a browser. A failure on both runs
# still fails the suite, and the first failure's output stays in the log.
# --no-tests=error: a build folder configured without tests (quickstart's BUILD_TESTING=OFF) or
# a MARKET_TEST_REGEX that matches nothing fails here instead of passing with nothing run.
select=()
[ -n "${MARKET_TEST_REGEX:-}" ] && select=(-R "$MARKET_TEST_REGEX")
ctest --test-dir "$build" --output-on-failure --timeout 900 -j2 --repeat until-pass:2 \
  --no-tests=error "${select[@]}"

if [ "${MARKET_SKIP_FIRST_RUN:-0}" != 1 ]; then
  stage "the README's two commands on a fresh clone"
  "$root/scripts/check-first-run.sh"
fi

if [ "${MARKET_SKIP_CONTAINER:-0}" != 1 ]; then
  stage "server image (deploy/Containerfile)"
  "$root/scripts/check-container.sh" "$MARKET_TEST_REGISTRY" "$build/server/market-server"
fi
if [ "${MARKET_FUZZ_SECONDS:-60}" != 0 ]; then
  stage "fuzzing, ${MARKET_FUZZ_SECONDS:-60} s per harness"
  MARKET_FUZZ_SECONDS=${MARKET_FUZZ_SECONDS:-60} MARKET_FUZZ_BUILD_DIR="$build-fuzz" \
    "$root/scripts/fuzz-ci.sh"
fi
if [ "${MARKET_WITH_SANITIZERS:-1}" != 0 ]; then
  stage "the suite under AddressSanitizer and UndefinedBehaviorSanitizer"
  MARKET_BUILD_DIR="$build-asan" "$root/scripts/sanitize.sh"
fi
stage_summary
