#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, MARKET_FUZZ=ON, ASan+UBSan) in their own
# build folder and runs each for FUZZ_SECONDS on a scratch copy of its seed corpus. Exits non-zero
# when a harness finds a crash, a sanitizer report or a broken property, and prints the
# reproducer: add that file to tests/fuzz/regressions/<harness>/ with the fix.
#   FUZZ_SECONDS=60           run time per harness
#   FUZZ_HARNESSES="a b"      a subset (request_decoding plugin_render registry_response)
#   MARKET_FUZZ_BUILD_DIR=D   build folder (default: build-fuzz)
#   MARKET_FUZZ_CXX=clang++-16  the compiler (clang 16+: libstdc++'s <expected> needs it)
#   MARKET_FUZZ_OUT=D         where crash reproducers go (default: <build folder>/findings)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MARKET_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
harnesses=${FUZZ_HARNESSES:-request_decoding plugin_render registry_response}
cxx=${MARKET_FUZZ_CXX:-clang++-16}
cc=${cxx/clang++/clang}
out=${MARKET_FUZZ_OUT:-$build/findings}

launcher=()
# Rebuilds in CI and on a developer's machine come from the cache when ccache is there.
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" -DMARKET_FUZZ=ON \
  -DCMAKE_PROJECT_INCLUDE="$root/cmake/MarketFuzz.cmake" "${launcher[@]}"
targets=()
for h in $harnesses; do targets+=(--target "${h}_fuzzer"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"

mkdir -p "$out"
work=$(mktemp -d /tmp/market-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Leaks at exit are reported by the regression test under scripts/sanitize.sh; a fuzzer run
# stops at the first finding, so only what a single input does counts here.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for h in $harnesses; do
  corpus="$work/$h"
  mkdir -p "$corpus"
  cp "$root/tests/fuzz/corpus/$h/"* "$corpus/"
  # Inputs that once broke a check are good seeds too.
  cp "$root/tests/fuzz/regressions/$h/"* "$corpus/" 2>/dev/null || true
  dict=()
  [ -f "$root/tests/fuzz/dict/$h.dict" ] && dict=(-dict="$root/tests/fuzz/dict/$h.dict")
  echo "== $h: ${seconds}s"
  # registry_response makes real loopback round trips: a slow input is a hang, not a finding,
  # until it takes longer than the client's own timeouts allow.
  if "$build/tests/fuzz/${h}_fuzzer" "$corpus" "${dict[@]}" -max_total_time="$seconds" \
      -max_len=8192 -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/$h-" >"$work/$h.log" 2>&1; then
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/$h.log" || true
  else
    failed=1
    tail -n 60 "$work/$h.log"
    echo "!! $h found a problem; reproducer(s):"
    ls -1 "$out/$h-"* 2>/dev/null || echo "   (none written; see the log above)"
    echo "   replay: $build/tests/fuzz/${h}_fuzzer <file>"
  fi
done
exit "$failed"
