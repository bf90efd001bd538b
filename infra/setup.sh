#!/usr/bin/env bash
# One command from a fresh clone to a machine that can run every test:
#   npm packages (including Node 22 itself, as the node@22 devDependency), then each step in
#   infra/setup.d/ in order: nats-server (apt), Kafka's jars (Maven Central), clickhouse-server
#   (apt), … Every step is idempotent: a second run only checks.
# IPVM_SETUP_SKIP_APT=1 skips the apt steps (for machines where the servers come otherwise:
# KAFKA_BROKERS, NATS_URL and CLICKHOUSE_URL point the tests at existing servers).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "setup: npm packages"
# `npm install`, not `npm ci`: some optional per-platform packages of jco and chdb are not on
# every registry mirror; install skips them (they are for other platforms) where ci refuses.
npm install --no-audit --no-fund

for step in infra/setup.d/*.sh; do
  [ -e "$step" ] || continue
  echo "setup: $step"
  bash "$step"
done
echo "setup: done"
