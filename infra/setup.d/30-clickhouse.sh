#!/usr/bin/env bash
# ClickHouse server for the table-store integration tests (the embedded chdb adapter needs
# nothing: it ships inside the npm package).
#
# Installs Debian's clickhouse-server (18.16) and makes sure no system service is left running:
# the tests start their own private server (infra/clickhouse/start.sh) on a free loopback port.
# Idempotent: a second run only checks. IPVM_SETUP_SKIP_APT=1 skips the apt step.
set -euo pipefail

have_server() { command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/bin/clickhouse ]; }

if have_server && dpkg -s clickhouse-server >/dev/null 2>&1; then
  echo "30-clickhouse: clickhouse-server present ($(dpkg-query -W -f='${Version}' clickhouse-server))"
  exit 0
fi
if [ "${IPVM_SETUP_SKIP_APT:-0}" = 1 ]; then
  echo "30-clickhouse: IPVM_SETUP_SKIP_APT=1 and clickhouse-server missing; its tests will need CLICKHOUSE_URL" >&2
  exit 0
fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# Keep the package's init script from starting a system-wide server during installation.
# An existing policy-rc.d is left untouched (and restored if we created ours).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

echo "30-clickhouse: apt-get install clickhouse-server"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clickhouse-server

# If a service got started anyway (no policy-rc.d honoured), stop it: tests use a private one.
if command -v service >/dev/null 2>&1; then
  $SUDO service clickhouse-server stop >/dev/null 2>&1 || true
fi
echo "30-clickhouse: installed $(dpkg-query -W -f='${Version}' clickhouse-server)"
