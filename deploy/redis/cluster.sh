#!/usr/bin/env bash
# A local Redis Cluster of three masters (Debian's redis-server, started by redis.sh) on
# 127.0.0.1, for the tests that run the engine on a cluster and for trying it out. No replicas:
# like the single Redis, it is a cache of Kafka (docs/scaling.md).
#   cluster.sh up       start the three nodes, create the cluster (16384 slots over the
#                       three); reuse a cluster already answering
#   cluster.sh down     stop every node; remove the data folder
#   cluster.sh status   exit 0 when the cluster says cluster_state:ok
# Ports: STREAMAPP_REDIS_CLUSTER_PORT (7001) and the next two.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${STREAMAPP_STACK_DIR:-$root/.stack}/redis-cluster
first=${STREAMAPP_REDIS_CLUSTER_PORT:-7001}
ports=("$first" "$((first + 1))" "$((first + 2))")

healthy() {
  redis-cli -h 127.0.0.1 -p "$first" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

node() {  # node PORT up|down [redis-server options]
  local port=$1; shift
  STREAMAPP_REDIS_PORT=$port STREAMAPP_REDIS_DIR=$state/$port bash "$here/redis.sh" "$@"
}

up() {
  if healthy; then echo "cluster.sh: a cluster already answers on 127.0.0.1:$first, reusing it" >&2; return 0; fi
  for port in "${ports[@]}"; do
    node "$port" up --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 5000 --maxmemory 1gb
  done
  redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
    >"$state/create.log" 2>&1 || { echo "cluster.sh: creating the cluster failed; see $state/create.log" >&2; exit 1; }
  local deadline=$((SECONDS + 10))
  until healthy; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "cluster.sh: the cluster did not reach cluster_state:ok within 10 s; see $state/*/redis.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "cluster.sh: three masters ready on 127.0.0.1:${ports[0]}-${ports[2]}" >&2
}

down() {
  for port in "${ports[@]}"; do node "$port" down; done
  rm -rf "$state"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) healthy ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
