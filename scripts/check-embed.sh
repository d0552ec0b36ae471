#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then configures, builds and runs
# examples/embed against that installed package, as an embedder would: the example program, then
# its unit test on the installed fakes (market::testing).
#   scripts/check-embed.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: check-embed.sh BUILD_DIR}
work=$(mktemp -d /tmp/market-embed.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" --component market_development >/dev/null
cmake -S "$root/examples/embed" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  >/dev/null
# Quiet unless it fails: then the compiler's and linker's messages are what matters.
if ! cmake --build "$work/build" >"$work/build.log" 2>&1; then
  cat "$work/build.log"
  exit 1
fi
"$work/build/embed_example"
"$work/build/embed_build_flow_test"
