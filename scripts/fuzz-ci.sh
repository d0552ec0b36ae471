#!/usr/bin/env bash
# CI's fuzzing step: builds the three libFuzzer harnesses of tests/fuzz (clang 16, ASan+UBSan) in
# their own build folder and runs each for MARKET_FUZZ_SECONDS on a scratch copy of its seed
# corpus and regressions, so the tree stays clean. Fails when any harness finds a crash, a
# sanitizer report or a broken property; the reproducer is printed (base64) as well as kept, so
# a CI log alone is enough to turn it into tests/fuzz/regressions/<harness>/<name>.
# Installs nothing: it needs clang-16 and libclang-rt-16-dev (scripts/install-deps.sh).
#   MARKET_FUZZ_SECONDS=60        run time per harness
#   MARKET_FUZZ_BUILD_DIR=DIR     build folder (default: build-fuzz-ci)
#   MARKET_FUZZ_CXX=clang++-16    the compiler
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MARKET_FUZZ_BUILD_DIR:-$root/build-fuzz-ci}
cxx=${MARKET_FUZZ_CXX:-clang++-16}

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz-ci: $cxx not found (apt-get install clang-16 libclang-rt-16-dev)" >&2
  exit 2
fi
# libFuzzer's runtime ships in libclang-rt-16-dev, not with the compiler.
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
    "$cxx" -x c++ -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
  echo "fuzz-ci: $cxx cannot link -fsanitize=fuzzer (apt-get install libclang-rt-16-dev)" >&2
  exit 2
fi

findings=$(mktemp -d /tmp/market-fuzz-findings.XXXXXX)
trap 'rm -rf "$findings"' EXIT

start=$(date +%s)
status=0
FUZZ_SECONDS=${MARKET_FUZZ_SECONDS:-60} MARKET_FUZZ_BUILD_DIR="$build" MARKET_FUZZ_CXX="$cxx" \
  MARKET_FUZZ_OUT="$findings" "$root/scripts/fuzz.sh" || status=$?

for f in "$findings"/*; do
  [ -f "$f" ] || continue
  echo "== reproducer $(basename "$f") ($(stat -c %s "$f") bytes), base64:"
  base64 -w 100 "$f" | head -c 20000
  echo
done
echo "fuzz-ci: $(( $(date +%s) - start ))s in all (build and runs), status $status"
exit "$status"
