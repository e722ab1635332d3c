#!/usr/bin/env bash
# The main job on the local stack (started by `make up`): a worker, the learner, a replay of
# real events and a live view of the recommendations they cause (with the model version). Ctrl-C stops the worker and the replay;
# `make down` stops Kafka and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
mkdir -p .stack
dataset=${DEMO_DATASET:-rees46}
speed=${DEMO_SPEED:-30}
port=${STREAMAPP_WEB_PORT:-6066}

$bin/streamapp worker --loglevel warning > .stack/worker.log 2>&1 &
worker=$!
STREAMAPP_SNAPSHOT_INTERVAL_S=${STREAMAPP_SNAPSHOT_INTERVAL_S:-10} \
  $bin/streamapp learner --loglevel warning > .stack/learner.log 2>&1 &
learner=$!
replay=""
cleanup() {
  trap - INT TERM EXIT
  [ -n "$replay" ] && kill "$replay" 2>/dev/null
  kill -TERM "$worker" "$learner" 2>/dev/null && wait "$worker" "$learner" 2>/dev/null
  echo; echo "demo stopped (logs: .stack/worker.log, .stack/learner.log). Kafka and Redis still run: 'make down' stops them."
}
trap cleanup INT TERM EXIT

for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$worker" 2>/dev/null || { echo "worker exited; see .stack/worker.log"; tail -20 .stack/worker.log; exit 1; }
  sleep 0.5
done
echo "worker ready: http://127.0.0.1:$port/metrics, http://127.0.0.1:$port/v1/users/<id>/recommendations"
echo "replaying the $dataset log at ${speed}x real time, with derived stock-outs and restocks"
echo "press Ctrl-C to stop"
$bin/streamapp replay --dataset "$dataset" --speed "$speed" --initial-stock 1 --restock-after 1800 \
  > .stack/replay.log 2>&1 &
replay=$!
$bin/streamapp watch
