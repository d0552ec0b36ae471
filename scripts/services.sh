#!/usr/bin/env bash
# Starts or stops the throwaway services the tests need, on loopback and free ports:
# a PostgreSQL 15 cluster and a docker-registry with deletes enabled.
#   scripts/services.sh start DIR   # writes DIR/env with MARKET_TEST_POSTGRES_URL, MARKET_TEST_REGISTRY
#   scripts/services.sh stop DIR
set -euo pipefail

cmd=${1:?usage: services.sh start|stop DIR}
dir=${2:?usage: services.sh start|stop DIR}
pg_bin=/usr/lib/postgresql/15/bin

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: use the postgres account the package created.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local pg_port reg_port
  pg_port=$(free_port)
  reg_port=$(free_port)

  mkdir -p "$dir/pg"
  if [ "$(id -u)" -eq 0 ]; then
    # The postgres account must reach its data folder: mktemp -d makes DIR 0700 root.
    chmod 0755 "$dir"
    chown postgres "$dir/pg"
  fi
  as_pg "$pg_bin/initdb" -D "$dir/pg/data" -A trust -U postgres -E UTF8 >"$dir/pg/initdb.log"
  as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 \
    -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" \
    start >/dev/null

  mkdir -p "$dir/registry/data"
  cat >"$dir/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$reg_port
YAML
  setsid docker-registry serve "$dir/registry/config.yml" >"$dir/registry/server.log" 2>&1 &
  echo $! >"$dir/registry/pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$reg_port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$reg_port/v2/" >/dev/null

  cat >"$dir/env" <<ENV
export MARKET_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$pg_port/postgres
export MARKET_TEST_REGISTRY=127.0.0.1:$reg_port
# Tests push to registries of their own and pull the base image from this plain-HTTP one: every
# server a test starts may pull from it without TLS (insecure-registries).
export MARKET_INSECURE_REGISTRIES=127.0.0.1:$reg_port
ENV
  echo "services: PostgreSQL on 127.0.0.1:$pg_port, docker-registry on 127.0.0.1:$reg_port"
}

stop() {
  if [ -f "$dir/registry/pid" ]; then
    kill "$(cat "$dir/registry/pid")" 2>/dev/null || true
    rm -f "$dir/registry/pid"
  fi
  if [ -d "$dir/pg/data" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: services.sh start|stop DIR" >&2; exit 2 ;;
esac
