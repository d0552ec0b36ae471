#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then configures, builds and runs
# examples/embed against that installed package, as an embedder would.
#   scripts/check-embed.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: check-embed.sh BUILD_DIR}
work=$(mktemp -d /tmp/market-embed.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" --component market_development >/dev/null
cmake -S "$root/examples/embed" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/embed_example"
