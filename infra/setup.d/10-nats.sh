#!/usr/bin/env bash
# NATS server with JetStream for the integration tests (test/streams/jetstream.int.test.ts).
# Idempotent: installs Debian's nats-server only when no nats-server is on PATH.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then
  echo "10-nats: $(nats-server --version 2>&1 | head -1) present"
  exit 0
fi
if [ "${IPVM_SETUP_SKIP_APT:-0}" = 1 ]; then
  echo "10-nats: nats-server missing, apt skipped (IPVM_SETUP_SKIP_APT=1): set NATS_URL for the tests"
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends nats-server
echo "10-nats: $(nats-server --version 2>&1 | head -1) installed"
