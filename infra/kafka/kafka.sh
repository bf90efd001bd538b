#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft: combined broker + controller) on loopback, for tests
# and local development. The jars come from Maven Central via infra/setup.d/20-kafka.sh.
#
#   infra/kafka/kafka.sh run   [--port 9092] [--controller-port P] [--dir DIR]   # foreground
#   infra/kafka/kafka.sh start [--port 9092] [--controller-port P] [--dir DIR]   # background, waits until ready
#   infra/kafka/kafka.sh ready --port 9092 [--timeout 120]                      # readiness probe
#   infra/kafka/kafka.sh stop  --dir DIR                                          # clean stop (SIGTERM, then wait)
#
# Every run formats a fresh storage directory (a temp dir unless --dir is given) with a random
# cluster id, so runs never share state. `start` prints KAFKA_BROKERS=127.0.0.1:PORT when ready.
# The controller listens on a port of its own: a free one unless --controller-port names it (it
# must differ from --port).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
LIB="${KAFKA_LIB_DIR:-$HERE/lib}"
cmd="${1:-}"; shift || true
PORT=9092; CPORT=""; DIR=""; TIMEOUT=120
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --controller-port) CPORT="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    *) echo "kafka.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    [ "$p" != "$PORT" ] || continue
    port_open "$p" || { echo "$p"; return 0; }
  done
  echo "kafka.sh: no free port found" >&2; return 1
}

prepare() {
  if [ -n "$CPORT" ] && [ "$CPORT" = "$PORT" ]; then
    echo "kafka.sh: --controller-port ($CPORT) must differ from --port:" \
      "the broker and its controller listen apart" >&2
    exit 2
  fi
  if ! ls "$LIB"/kafka_2.13-*.jar >/dev/null 2>&1; then
    echo "kafka.sh: Kafka jars missing in $LIB: run infra/setup.d/20-kafka.sh" >&2; exit 1
  fi
  command -v java >/dev/null || { echo "kafka.sh: java (17+) not found" >&2; exit 1; }
  [ -n "$CPORT" ] || CPORT="$(free_port)"
  [ -n "$DIR" ] || DIR="$(mktemp -d -t ipvm-kafka.XXXXXX)"
  mkdir -p "$DIR/data"
  cat > "$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.flush.interval.messages=9223372036854775807
PROPS
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding.
  local cluster_id
  # (Never starting with "-", which the storage tool would take for an option.)
  cluster_id="-"
  while [ "${cluster_id#-}" != "$cluster_id" ]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  java -cp "$LIB/*" -Dlog4j.configuration="file:$HERE/log4j.properties" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 \
    || { cat "$DIR/format.log" >&2; exit 1; }
}

java_cmd() {
  JAVA_CMD=(java -Xms256m -Xmx512m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$HERE/log4j.properties" "-Dkafka.logs.dir=$DIR"
    -cp "$LIB/*" kafka.Kafka "$DIR/server.properties")
}

ready() {
  # Ready when the broker logged its start-up line (if a log is known) and the port accepts.
  local deadline=$(( SECONDS + TIMEOUT ))
  while [ $SECONDS -lt $deadline ]; do
    if port_open "$PORT"; then
      if [ -z "$DIR" ] || [ ! -f "$DIR/server.log" ] || grep -q 'Kafka Server started' "$DIR/server.log"; then
        return 0
      fi
    fi
    if [ -n "$DIR" ] && [ -f "$DIR/server.pid" ] && ! kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null; then
      echo "kafka.sh: broker exited during start-up" >&2; tail -20 "$DIR/server.log" >&2 || true; return 1
    fi
    sleep 0.2
  done
  echo "kafka.sh: broker not ready on port $PORT after ${TIMEOUT}s" >&2; return 1
}

case "$cmd" in
  run)
    prepare
    echo "kafka.sh: broker on 127.0.0.1:$PORT, data in $DIR" >&2
    java_cmd
    exec "${JAVA_CMD[@]}"
    ;;
  start)
    prepare
    java_cmd
    nohup "${JAVA_CMD[@]}" >"$DIR/server.log" 2>&1 &
    echo $! > "$DIR/server.pid"
    ready
    echo "KAFKA_BROKERS=127.0.0.1:$PORT"
    echo "KAFKA_DIR=$DIR"
    ;;
  ready) ready ;;
  stop)
    [ -n "$DIR" ] && [ -f "$DIR/server.pid" ] || { echo "kafka.sh: stop needs --dir of a started broker" >&2; exit 2; }
    pid="$(cat "$DIR/server.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
    fi
    rm -f "$DIR/server.pid"
    ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
