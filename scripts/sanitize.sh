#!/usr/bin/env bash
# CI's sanitizer step: builds the whole project with AddressSanitizer and UndefinedBehaviorSanitizer
# (g++, -DMARKET_SANITIZE=ON) in its own build folder and runs the whole ctest suite there once.
# A sanitizer report stops the process that made it (no UBSan recovery, ASan aborts), so the
# test that caused it fails with the report in its output. Prints how long the build and the
# run took.
#   MARKET_BUILD_DIR=DIR          build folder (default: build-asan)
#   MARKET_TEST_POSTGRES_URL, MARKET_TEST_REGISTRY: the test services, as for scripts/test.sh
#     (the caller starts them and pushes the base image). When MARKET_SERVICES_ENV names a file
#     (the env file scripts/services.sh writes) it is sourced first; when neither is set the
#     script starts throwaway services itself.
#   MARKET_SANITIZE_EXCLUDE=REGEX  ctest -E: tests left out (e.g. the real-buildah ones)
#   MARKET_SANITIZE_JOBS=N         tests run at once (default 2)
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
  export MARKET_TEST_POSTGRES_URL MARKET_TEST_REGISTRY
fi
if [ -n "${MARKET_TEST_REGISTRY:-}" ]; then
  # Idempotent: the build tests start FROM this image.
  "$root/scripts/make-base-image.sh" "$MARKET_TEST_REGISTRY"
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
start=$(date +%s)
# -Og -g1, not RelWithDebInfo: g++ takes six times as long on this code base with the
# sanitizers at -O2 -g, and 1.2 times at -Og -g1, which still gives file:line stack traces.
# Debug keeps assertions on.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-Og -g1" -DCMAKE_C_FLAGS_DEBUG="-Og -g1" \
  -DCMAKE_CXX_COMPILER="${CXX:-g++}" -DCMAKE_C_COMPILER="${CC:-gcc}" -DMARKET_SANITIZE=ON \
  "${launcher[@]}"
cmake --build "$build" -j"$(nproc)"
built=$(date +%s)

# detect_leaks: leaks at exit fail the test too. abort_on_error gives a core-like stop that
# ctest reports as a failure even where a test only looks at the exit status.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export MARKET_SERVER_BIN="$build/server/market-server"
exclude=()
[ -n "${MARKET_SANITIZE_EXCLUDE:-}" ] && exclude=(-E "$MARKET_SANITIZE_EXCLUDE")
status=0
# As in scripts/test.sh, a failed test runs once more (the suite drives real services and is
# slower here), but a sanitizer report fails the step even when the second run passed.
log=$(mktemp /tmp/market-sanitize.XXXXXX.log)
ctest --test-dir "$build" --output-on-failure --timeout 1800 -j"${MARKET_SANITIZE_JOBS:-2}" \
  --repeat until-pass:2 "${exclude[@]}" 2>&1 | tee "$log" || status=$?
if grep -qE '(ERROR|WARNING): (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
  echo "sanitize: sanitizer reports in the run:"
  grep -nE '(ERROR|WARNING): (AddressSanitizer|LeakSanitizer)|runtime error:' "$log" | head -20
  status=1
fi
rm -f "$log"
done_at=$(date +%s)
echo "sanitize: build $((built - start))s, tests $((done_at - built))s, status $status"
exit "$status"
