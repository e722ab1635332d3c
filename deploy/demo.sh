#!/usr/bin/env bash
# The main job on the local stack (started by `make up`): a worker, the learner, a replay of real
# events and a live view of the recommendations they cause (model version, latency, reason).
# Ctrl-C stops the worker, the learner and the replay; `make down` stops Kafka and Redis.
#   DEMO_DATASET  rees46 (default) or taobao     DEMO_SPEED  N × real time (default 30)
# Settings come from STREAMAPP_* variables as for every command (`streamapp settings`).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
dataset=${DEMO_DATASET:-rees46}
speed=${DEMO_SPEED:-30}
port=${STREAMAPP_WEB_PORT:-6066}
logs=.stack
say() { echo "demo: $*"; }

# The log must be there before anything starts; `datasets` says where it looked and what to do.
$bin/streamapp datasets "$dataset" >/dev/null || exit 2
mkdir -p "$logs"

# The API answers nobody without a key: unless one is configured, the demo issues its own
# (kept in .stack/ and shown below).
if [ -z "${STREAMAPP_API_KEYS_FILE:-}" ]; then
  export STREAMAPP_API_KEYS_FILE=$logs/api-keys.yaml
  if [ ! -s "$logs/api-key" ] || [ ! -s "$STREAMAPP_API_KEYS_FILE" ]; then
    $bin/streamapp api-key new --name demo --all-tenants --file "$STREAMAPP_API_KEYS_FILE" \
      --key-out "$logs/api-key" >/dev/null
  fi
fi
api_key=$(cat "$logs/api-key" 2>/dev/null || echo "<your key>")

say "starting a worker and the learner (logs: $logs/worker.log, $logs/learner.log)"
$bin/streamapp worker --loglevel warning > "$logs/worker.log" 2>&1 &
worker=$!
STREAMAPP_SNAPSHOT_INTERVAL_S=${STREAMAPP_SNAPSHOT_INTERVAL_S:-10} \
  $bin/streamapp learner --loglevel warning > "$logs/learner.log" 2>&1 &
learner=$!
replay=""
watch=""
cleanup() {
  trap - INT TERM EXIT
  for pid in $watch $replay; do kill "$pid" 2>/dev/null || true; done
  kill -TERM "$worker" "$learner" 2>/dev/null || true
  wait 2>/dev/null || true
  echo; say "stopped (logs in $logs/). Kafka and Redis still run: 'make down' stops them."
}
# Ctrl-C is how a demo ends, not a failure.
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

# A process that should run until Ctrl-C has exited: show why and stop. Ctrl-C reaches the whole
# process group at once, so a child may be seen gone before this shell runs its INT trap: the
# pause lets that trap (a clean stop, exit 0) run first.
died() {
  sleep 1
  say "the $1 exited; last lines of $2:"
  tail -n 20 "$2"
  exit 1
}

started=$SECONDS
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
  kill -0 "$worker" 2>/dev/null || died worker "$logs/worker.log"
  kill -0 "$learner" 2>/dev/null || died learner "$logs/learner.log"
  waited=$((SECONDS - started))
  if [ "$waited" -ge 120 ]; then
    say "the worker is not ready after 120 s; last lines of $logs/worker.log:"
    tail -n 20 "$logs/worker.log"
    exit 1
  fi
  if [ "$waited" -gt 0 ] && [ $((waited % 5)) -eq 0 ]; then
    say "waiting for the worker to join its consumer group and answer /readyz ($waited s)"
  fi
  sleep 1
done
say "worker ready: http://127.0.0.1:$port/metrics; a user's list:"
say "  curl -H 'Authorization: Bearer $api_key' http://127.0.0.1:$port/v1/users/<id>/recommendations"
say "replaying the $dataset log at ${speed}x real time, with derived stock-outs and restocks (log: $logs/replay.log)"
say "the learner publishes its first model within ${STREAMAPP_SNAPSHOT_INTERVAL_S:-10} s; lists then name it as model=mf-..."
say "press Ctrl-C to stop"
$bin/streamapp replay --dataset "$dataset" --speed "$speed" --initial-stock 1 --restock-after 1800 \
  > "$logs/replay.log" 2>&1 &
replay=$!
$bin/streamapp watch &
watch=$!

while true; do
  kill -0 "$worker" 2>/dev/null || died worker "$logs/worker.log"
  kill -0 "$learner" 2>/dev/null || died learner "$logs/learner.log"
  kill -0 "$watch" 2>/dev/null || { wait "$watch" || true; sleep 1; say "watch exited"; exit 1; }
  if [ -n "$replay" ] && ! kill -0 "$replay" 2>/dev/null; then
    if wait "$replay"; then
      say "replay finished: $(tail -n 1 "$logs/replay.log"); Ctrl-C stops the demo"
      replay=""
    else
      died replay "$logs/replay.log"
    fi
  fi
  sleep 1
done
