#!/usr/bin/env bash
# The README's quick start as a newcomer meets it, on a fresh clone of this checkout's HEAD:
# ./scripts/quickstart.sh must serve the console on 127.0.0.1:8080 and leave a working CLI; then
# ./scripts/test.sh, in the same clone and on the build/ quickstart configured (test.sh's flags,
# BUILD_TESTING=OFF), must turn the tests on, run them and pass. And test.sh must fail when ctest
# finds no tests, so that a run of nothing never looks like a passing suite.
# Both commands run with MARKET_SKIP_INSTALL=1 (the packages are this machine's already), and
# test.sh runs a few quick tests without its image, fuzzing, sanitizer and fresh-clone stages:
# what is checked here is the two commands in that order, the suite itself is test.sh's.
#   MARKET_FIRST_RUN_DIR=DIR     where the clone goes (default: build-first-run in the checkout);
#                                a passing check removes its clone, a failing one keeps it
#   MARKET_FIRST_RUN_TESTS=RE    the tests the clone's test.sh runs (default: ^core:)
#   MARKET_FIRST_RUN_TIMEOUT=S   how long quickstart may take to build and serve (default 2400)
# Needs 127.0.0.1:8080 free. A registry already on 127.0.0.1:5000 is used as quickstart uses it;
# one that quickstart starts because there is none is stopped at the end.
# With ccache, the clone builds with CCACHE_BASEDIR at the folder it shares with the checkout,
# so test.sh's build of the clone compiles from the cache the checkout's build filled.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
parent=${MARKET_FIRST_RUN_DIR:-$root/build-first-run}
tests=${MARKET_FIRST_RUN_TESTS:-^core:}
timeout=${MARKET_FIRST_RUN_TIMEOUT:-2400}

# A fresh machine's environment: none of this shell's MARKET_* settings (test.sh exports its
# services, its build folder and its server binary) reach the clone's commands.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^MARKET_' || true)

say() { echo "first-run: $*"; }
fail() {
  echo "first-run: FAILED: $*" >&2
  exit 1
}
show() {  # a log, indented, for a failure's context
  echo "---- $1" >&2
  sed 's/^/  | /' "$1" >&2
  echo "----" >&2
}
alive() {  # a process that runs (a child that exited stays a zombie until waited for)
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $stat != Z* ]]
}
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
ccache_report() {  # LOG WHAT: the hits and the misses of one command's compiles (CCACHE_STATSLOG)
  command -v ccache >/dev/null && [ -s "$1" ] || return 0
  local misses
  say "$2 through ccache:"
  CCACHE_STATSLOG="$1" ccache --show-log-stats | sed -n '/^Cacheable/,/^  Misses/p' | sed 's/^/  /'
  misses=$(awk '/^# /{f=$2} /^cache_miss$/{print f}' "$1" | sort -u)
  if [ -n "$misses" ]; then
    say "  compiled anew: $(wc -l <<<"$misses") files, e.g. $(head -n 3 <<<"$misses" | tr '\n' ' ')"
  fi
}

if ss -Hltn 'sport = :8080' | grep -q .; then
  fail "port 8080, where quickstart serves, is taken (stop that server, or skip this check with" \
    "MARKET_SKIP_FIRST_RUN=1 in scripts/test.sh): $(ss -Hltnp 'sport = :8080')"
fi

mkdir -p "$parent"
parent=$(cd "$parent" && pwd)
work=$(mktemp -d "$parent/clone.XXXXXX")
chmod 0755 "$work"
clone=$work/market

# ccache rewrites paths under its base folder relative to the build folder: with the base at a
# folder holding both the checkout and the clone, both builds hash the same paths.
if command -v ccache >/dev/null; then
  common=$root
  while [ "${work#"$common"/}" = "$work" ]; do common=$(dirname "$common"); done
  if [ "$common" != / ]; then
    export CCACHE_BASEDIR=$common
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
  else
    say "note: the clone and the checkout share no folder but /: the clone's builds miss ccache"
  fi
fi

qs=""
registry_was_up=0
curl -fsS -o /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null && registry_was_up=1

stop_quickstart() {
  if [ -n "$qs" ]; then
    # quickstart runs in a session of its own and execs the server: its process group is the
    # server and, while it still builds, cmake and the compilers.
    kill -TERM -- "-$qs" 2>/dev/null || true
    for _ in $(seq 1 150); do alive "$qs" || break; sleep 0.2; done
    kill -KILL -- "-$qs" 2>/dev/null || true
    wait "$qs" 2>/dev/null || true
    qs=""
  fi
  if [ "$registry_was_up" = 0 ]; then
    # The registry quickstart started (setsid: a session of its own), known by its config file in
    # this clone; a registry this check did not start is never touched.
    local pids
    pids=$(pgrep -x -f "docker-registry serve $clone/.market/registry/config.yml" || true)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill $pids 2>/dev/null || true
      for _ in $(seq 1 50); do
        # shellcheck disable=SC2086
        kill -0 $pids 2>/dev/null || break
        sleep 0.2
      done
    fi
  fi
}
cleanup() {
  local status=$?
  set +e
  stop_quickstart
  if [ "$status" = 0 ]; then
    rm -rf "$work"
  else
    echo "first-run: the clone and its logs are kept in $work" >&2
  fi
}
trap cleanup EXIT

started=$(date +%s)
head=$(git -C "$root" rev-parse HEAD)
git -c advice.detachedHead=false clone -q "$root" "$clone"
[ "$(git -C "$clone" rev-parse HEAD)" = "$head" ] || fail "the clone is not at $head"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
  say "note: the checkout has uncommitted changes; the clone has commit $head only"
fi
say "cloned $head into $clone"

# 1. ./scripts/quickstart.sh, as the README says, until it serves.
phase=$(date +%s)
(cd "$clone" && CCACHE_STATSLOG="$work/ccache-quickstart.log" MARKET_SKIP_INSTALL=1 \
  exec setsid ./scripts/quickstart.sh) </dev/null >"$work/quickstart.log" 2>&1 &
qs=$!
deadline=$(( phase + timeout ))
until curl -fsS -o /dev/null http://127.0.0.1:8080/healthz 2>/dev/null; do
  if ! alive "$qs"; then
    show "$work/quickstart.log"
    fail "quickstart.sh exited before serving on 127.0.0.1:8080"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    show "$work/quickstart.log"
    fail "quickstart.sh did not answer /healthz on 127.0.0.1:8080 within ${timeout}s"
  fi
  sleep 2
done
ss -Hltnp 'sport = :8080' | grep -q "pid=$qs," ||
  fail "the server on 8080 is not quickstart's: $(ss -Hltnp 'sport = :8080')"
say "quickstart.sh serves on 127.0.0.1:8080 after $(elapsed "$phase")"
ccache_report "$work/ccache-quickstart.log" "quickstart's build"

curl -fsS -D "$work/console.headers" -o "$work/console.html" http://127.0.0.1:8080/ ||
  fail "GET / failed"
grep -qi '^content-type: text/html' "$work/console.headers" ||
  fail "GET / is not HTML: $(grep -i '^content-type' "$work/console.headers")"
grep -qi '<title>[^<]*Image Market' "$work/console.html" || {
  show "$work/console.html"
  fail "GET / is not the console page"
}
# The README's shell example: a project made with curl, listed by the CLI quickstart built.
[ -x "$clone/build/cli/market" ] || fail "quickstart built no build/cli/market"
"$clone/build/cli/market" --help >"$work/market-help.txt" 2>&1 || {
  show "$work/market-help.txt"
  fail "build/cli/market --help failed"
}
curl -fsS -XPOST http://127.0.0.1:8080/api/project/new -d projectName=hello -d operator=me \
  >"$work/new.json" || fail "POST /api/project/new failed"
MARKET_OPERATOR=me "$clone/build/cli/market" list >"$work/market-list.txt" 2>&1 || {
  show "$work/market-list.txt"
  fail "build/cli/market list failed"
}
grep -qw hello "$work/market-list.txt" || {
  show "$work/market-list.txt"
  fail "build/cli/market list does not show the project made with curl"
}
say "GET / is the console, build/cli/market --help runs and market list shows a new project"
say "quickstart left build/ with $(grep -E '^(CMAKE_BUILD_TYPE|BUILD_TESTING):' "$clone/build/CMakeCache.txt" | tr '\n' ' ')"
stop_quickstart
if ss -Hltn 'sport = :8080' | grep -q .; then fail "port 8080 is still taken after the server stopped"; fi

# 2. ./scripts/test.sh in the same clone, on the build/ quickstart configured.
run_test_sh() {  # NAME REGEX: test.sh trimmed to the build, the services and REGEX's tests,
  # its output in NAME.log
  (cd "$clone" && MARKET_SKIP_INSTALL=1 MARKET_SKIP_CONTAINER=1 MARKET_FUZZ_SECONDS=0 \
    MARKET_WITH_SANITIZERS=0 MARKET_SKIP_FIRST_RUN=1 MARKET_TEST_REGEX="$2" \
    CCACHE_STATSLOG="$work/ccache-$1.log" ./scripts/test.sh) </dev/null >"$work/$1.log" 2>&1
}
phase=$(date +%s)
if ! run_test_sh test "$tests"; then
  show "$work/test.log"
  fail "scripts/test.sh failed after quickstart.sh"
fi
grep -qx 'BUILD_TESTING:BOOL=ON' "$clone/build/CMakeCache.txt" ||
  fail "test.sh passed but build/ still has $(grep '^BUILD_TESTING:' "$clone/build/CMakeCache.txt")"
summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$work/test.log" | tail -n 1)
ran=$(sed -E 's/.* out of ([0-9]+)$/\1/' <<<"$summary")
selected=$(ctest --test-dir "$clone/build" -N -R "$tests" | sed -nE 's/^Total Tests: ([0-9]+)$/\1/p')
if [ -z "$ran" ] || [ "$ran" = 0 ] || [ "$ran" != "$selected" ]; then
  show "$work/test.log"
  fail "test.sh passed without running the $selected tests matching $tests (ctest: '$summary')"
fi
say "test.sh passed after quickstart.sh in $(elapsed "$phase"): $summary"
sed -n '/^== time per stage:/,$p' "$work/test.log" | sed 's/^/  /'
ccache_report "$work/ccache-test.log" "test.sh's build of the clone"

# 3. The guard itself: test.sh fails when ctest finds no tests to run.
phase=$(date +%s)
if run_test_sh test-none '^no test has this name$'; then
  show "$work/test-none.log"
  fail "test.sh passed with no tests to run"
fi
grep -q 'No tests were found' "$work/test-none.log" || {
  show "$work/test-none.log"
  fail "test.sh failed with no tests to run, but not for that reason"
}
say "test.sh fails when ctest finds no tests ($(elapsed "$phase"))"
say "passed in $(elapsed "$started")"
