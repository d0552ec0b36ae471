#!/usr/bin/env bash
# Builds the whole project with AddressSanitizer and UndefinedBehaviorSanitizer (g++,
# -DMARKET_SANITIZE=ON) in build-asan/ and runs every test there once.
#   MARKET_BUILD_DIR=DIR   build folder (default: build-asan)
#   MARKET_TEST_POSTGRES_URL, MARKET_TEST_REGISTRY: the test services, as for scripts/test.sh.
#     When MARKET_SERVICES_ENV names a file (the env file scripts/services.sh writes), it is
#     sourced first; when neither is set the script starts throwaway services itself.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MARKET_BUILD_DIR:-$root/build-asan}

if [ -n "${MARKET_SERVICES_ENV:-}" ]; then
  # shellcheck disable=SC1090
  source "$MARKET_SERVICES_ENV"
fi
if [ -z "${MARKET_TEST_POSTGRES_URL:-}" ] && [ -z "${MARKET_TEST_REGISTRY:-}" ]; then
  services=$(mktemp -d /tmp/market-services.XXXXXX)
  trap '"$root/scripts/services.sh" stop "$services"; rm -rf "$services"' EXIT
  "$root/scripts/services.sh" start "$services"
  # shellcheck disable=SC1091
  source "$services/env"
fi

start=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX:-g++}" -DCMAKE_C_COMPILER="${CC:-gcc}" -DMARKET_SANITIZE=ON
cmake --build "$build" -j"$(nproc)"
built=$(date +%s)

# Every report stops the process that made it (MarketSanitizers.cmake: no UBSan recovery), so
# the test that caused it fails with the stack in its output.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export MARKET_SERVER_BIN="$build/server/market-server"
status=0
ctest --test-dir "$build" --output-on-failure --timeout 1800 -j2 || status=$?
done_at=$(date +%s)
echo "sanitize: build $((built - start))s, tests $((done_at - built))s"
exit "$status"
