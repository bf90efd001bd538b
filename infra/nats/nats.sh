#!/usr/bin/env bash
# A NATS server with JetStream on loopback, for tests and local development. Never touches a
# server that may already run on the default port: the port is chosen (or given) explicitly.
#
#   infra/nats/nats.sh run   [--port P] [--dir DIR]   # foreground
#   infra/nats/nats.sh start [--port P] [--dir DIR]   # background, waits until ready
#   infra/nats/nats.sh ready --port P [--timeout 30]  # readiness probe
#   infra/nats/nats.sh stop  --dir DIR                # clean stop (SIGTERM, then wait)
#
# The JetStream store is a temp dir unless --dir is given. `start` prints NATS_URL when ready.
set -euo pipefail
cmd="${1:-}"; shift || true
PORT=""; DIR=""; TIMEOUT=30
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    *) echo "nats.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    port_open "$p" || { echo "$p"; return 0; }
  done
  echo "nats.sh: no free port found" >&2; return 1
}
prepare() {
  command -v nats-server >/dev/null || { echo "nats.sh: nats-server not found: run infra/setup.d/10-nats.sh" >&2; exit 1; }
  [ -n "$PORT" ] || PORT="$(free_port)"
  [ -n "$DIR" ] || DIR="$(mktemp -d -t ipvm-nats.XXXXXX)"
  mkdir -p "$DIR/store"
  NATS_CMD=(nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$DIR/store" -n "ipvm-test-$PORT")
}
ready() {
  [ -n "$PORT" ] || { echo "nats.sh: ready needs --port" >&2; return 2; }
  local deadline=$(( SECONDS + TIMEOUT ))
  while [ $SECONDS -lt $deadline ]; do
    if port_open "$PORT"; then
      if [ -z "$DIR" ] || [ ! -f "$DIR/server.log" ] || grep -q 'Server is ready' "$DIR/server.log"; then return 0; fi
    fi
    if [ -n "$DIR" ] && [ -f "$DIR/server.pid" ] && ! kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null; then
      echo "nats.sh: server exited during start-up" >&2; tail -20 "$DIR/server.log" >&2 || true; return 1
    fi
    sleep 0.05
  done
  echo "nats.sh: server not ready on port $PORT after ${TIMEOUT}s" >&2; return 1
}
case "$cmd" in
  run)
    prepare
    echo "nats.sh: nats-server on 127.0.0.1:$PORT, store in $DIR" >&2
    exec "${NATS_CMD[@]}"
    ;;
  start)
    prepare
    nohup "${NATS_CMD[@]}" >"$DIR/server.log" 2>&1 &
    echo $! > "$DIR/server.pid"
    ready
    echo "NATS_URL=nats://127.0.0.1:$PORT"
    echo "NATS_DIR=$DIR"
    ;;
  ready) ready ;;
  stop)
    [ -n "$DIR" ] && [ -f "$DIR/server.pid" ] || { echo "nats.sh: stop needs --dir of a started server" >&2; exit 2; }
    pid="$(cat "$DIR/server.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
    fi
    rm -f "$DIR/server.pid"
    ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
