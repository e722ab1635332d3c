#!/usr/bin/env bash
# System packages the stack and the tests need: a JDK and Maven (Kafka from Maven Central),
# Debian's redis-server, kcat (a producer/consumer nobody here wrote, for end-to-end tests) and
# prometheus (promtool checks the alert rules; the server scrapes a worker in a test).
set -euo pipefail
missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v kcat >/dev/null || missing+=(kcat)
command -v promtool >/dev/null || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]} from Debian" >&2
apt-get update -qq >&2
others=()
for package in "${missing[@]}"; do
  if [ "$package" != prometheus ]; then others+=("$package"); fi
done
if [ ${#others[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${others[@]}" >&2
fi
if [ ${#others[@]} -lt ${#missing[@]} ]; then
  # No recommends: they would add node-exporter and friends we do not use. The package may
  # start a system Prometheus on every interface; tests start their own on loopback.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
  if pgrep -x prometheus >/dev/null; then service prometheus stop >&2 || pkill -x prometheus || true; fi
fi
