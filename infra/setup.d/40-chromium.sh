#!/usr/bin/env bash
# Headless Chromium for the console's browser tests (test/console/browser.int.test.ts, driven by
# playwright-core) and bench/console.bench.ts. Idempotent: installs Debian's chromium only when
# neither /usr/lib/chromium/chromium nor a chromium on PATH exists. Nothing is downloaded by npm.
set -euo pipefail
for bin in /usr/lib/chromium/chromium "$(command -v chromium 2>/dev/null || true)"; do
  if [ -n "$bin" ] && [ -x "$bin" ]; then
    echo "40-chromium: $("$bin" --version 2>/dev/null | head -1) present ($bin)"
    exit 0
  fi
done
if [ "${IPVM_SETUP_SKIP_APT:-0}" = 1 ]; then
  echo "40-chromium: chromium missing, apt skipped (IPVM_SETUP_SKIP_APT=1): the console's browser tests will skip (IPVM_CHROMIUM=/path/to/chromium points them at another build)"
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium
echo "40-chromium: $(/usr/lib/chromium/chromium --version 2>/dev/null | head -1) installed"
