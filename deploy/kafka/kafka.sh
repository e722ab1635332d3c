#!/usr/bin/env bash
# Local Apache Kafka (KRaft, single node) from Maven Central jars.
#   kafka.sh fetch   gather the jars into the version-specific cache (idempotent)
#   kafka.sh up      fetch, format (first time) and start on 127.0.0.1; reuse a running broker
#   kafka.sh down    SIGTERM, wait, SIGKILL; remove the data folder
#   kafka.sh status  exit 0 when a broker answers on the port
#   kafka.sh tool CLASS ARGS...  run one of Kafka's own tools with the same jars, e.g.
#       kafka.sh tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
#         --bootstrap-server 127.0.0.1:9092 --describe --group streamapp
# A broker with other listeners (SASL, TLS, an authorizer) takes them from a properties file
# appended to ours (STREAMAPP_KAFKA_PROPERTIES: its lines win) and the arguments its first
# format needs from STREAMAPP_KAFKA_FORMAT_ARGS (e.g. --add-scram for its SCRAM users).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache=${STREAMAPP_CACHE_DIR:-$HOME/.cache/streamapp}
libs="$cache/kafka-$version/libs"
state=${STREAMAPP_STACK_DIR:-$root/.stack}/kafka
port=${STREAMAPP_KAFKA_PORT:-9092}
controller_port=${STREAMAPP_KAFKA_CONTROLLER_PORT:-9093}
pidfile="$state/kafka.pid"
log="$state/server.log"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v java >/dev/null || { echo "kafka.sh: java not found; install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
  command -v mvn >/dev/null || { echo "kafka.sh: mvn not found; install Maven (Debian: apt-get install maven)" >&2; exit 1; }
  echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central into $libs" >&2
  mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" -Dlibs.dir="$libs" package >&2
  touch "$libs/.complete"
}

# Runs the JVM in place of the calling subshell, so that $! is the broker's own pid; with
# detach=setsid, in a session of its own.
java_cmd() {
  exec ${detach:-} java -Xmx${STREAMAPP_KAFKA_HEAP:-768m} -Xms${STREAMAPP_KAFKA_HEAP:-768m} -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -Dstreamapp.kafka.log="$log" \
    -cp "$libs/*" "$@"
}

up() {
  if port_open "$port"; then echo "kafka.sh: broker already listening on 127.0.0.1:$port, reusing it" >&2; return 0; fi
  fetch
  mkdir -p "$state/data"
  sed -e "s:@LOG_DIR@:$state/data:" -e "s:@PORT@:$port:g" -e "s:@CONTROLLER_PORT@:$controller_port:g" \
    "$here/server.properties.in" > "$state/server.properties"
  if [ -n "${STREAMAPP_KAFKA_PROPERTIES:-}" ]; then cat "$STREAMAPP_KAFKA_PROPERTIES" >> "$state/server.properties"; fi
  if [ ! -f "$state/data/meta.properties" ]; then
    cluster_id=$( (java_cmd kafka.tools.StorageTool random-uuid) 2>/dev/null | tail -n1)
    read -r -a format_args <<< "${STREAMAPP_KAFKA_FORMAT_ARGS:-}"
    (java_cmd kafka.tools.StorageTool format --standalone --cluster-id="$cluster_id" \
      -c "$state/server.properties" "${format_args[@]}") >/dev/null
  fi
  : > "$log"
  echo "kafka.sh: starting Apache Kafka $version on 127.0.0.1:$port (usually ready within 10 s)" >&2
  # Its own session: a Ctrl-C in the terminal that started it (`make demo`) stops the demo,
  # not the broker, which `make down` stops.
  (detach=setsid java_cmd kafka.Kafka "$state/server.properties") >"$state/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 240); do
    if grep -q "Kafka Server started" "$log" 2>/dev/null; then
      echo "kafka.sh: Apache Kafka $version ready on 127.0.0.1:$port (pid $(cat "$pidfile"))" >&2; return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "kafka.sh: broker exited during start; last lines of $state/stdout.log and $log:" >&2
      tail -n 30 "$state/stdout.log" "$log" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "kafka.sh: broker did not print 'Kafka Server started' within 120 s; see $log" >&2; exit 1
}

down() {
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    echo "kafka.sh: broker stopped" >&2
  fi
  rm -rf "$state"
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) port_open "$port" ;;
  tool) shift; fetch; exec java -Xmx256m -Dlog4j2.configurationFile="$here/log4j2.properties" \
          -Dstreamapp.kafka.log=/dev/null -cp "$libs/*" "$@" ;;
  *) echo "usage: $0 fetch|up|down|status|tool CLASS ARGS..." >&2; exit 2 ;;
esac
