#!/usr/bin/env bash
# Local Redis 7 (Debian's redis-server) on 127.0.0.1, for development, tests and CI.
#   redis.sh install  apt-get install redis-server when it is missing (needs root)
#   redis.sh up [ARG ...]  install, then start with our config and ARGs (redis-server options,
#                     as deploy/redis/cluster.sh passes); reuse a running server
#   redis.sh down     SHUTDOWN NOSAVE, wait; remove the data folder
#   redis.sh status   exit 0 when a server answers PING
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${STREAMAPP_REDIS_DIR:-${STREAMAPP_STACK_DIR:-$root/.stack}/redis}
port=${STREAMAPP_REDIS_PORT:-6379}

install() {
  command -v redis-server >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "redis.sh: redis-server is missing and we are not root; run: sudo apt-get install -y redis-server" >&2; exit 1
  fi
  echo "redis.sh: installing Debian's redis-server" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
}

ping() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }

up() {
  install
  if ping; then echo "redis.sh: redis already answering on 127.0.0.1:$port, reusing it" >&2; return 0; fi
  mkdir -p "$state"
  redis-server "$here/redis.conf" --port "$port" --dir "$state" \
    --pidfile "$state/redis.pid" --logfile "$state/redis.log" --daemonize yes "$@"
  for _ in $(seq 1 100); do
    if ping; then echo "redis.sh: $(redis-server --version | cut -d' ' -f3) ready on 127.0.0.1:$port" >&2; return 0; fi
    sleep 0.1
  done
  echo "redis.sh: redis did not answer PING within 10 s; see $state/redis.log" >&2; exit 1
}

down() {
  if [ -f "$state/redis.pid" ]; then
    pid=$(cat "$state/redis.pid")
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "redis.sh: redis stopped" >&2
  fi
  rm -rf "$state"
}

case "${1:-}" in
  install) install ;;
  up) shift; up "$@" ;;
  down) down ;;
  status) ping ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
