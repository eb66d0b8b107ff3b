#!/usr/bin/env bash
# Installs the real components the tests start: Debian prometheus + prometheus-alertmanager, nginx
# (the TLS proxy in front of the ES-API test server) with openssl (its test certificates), and chromium
# (headless, renders the backtest's HTML report).
# (osmem-server and aiosmtpd come from PyPI through the `dev` extra.)
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"  # nginx lives in /usr/sbin
missing=()
for bin in prometheus promtool prometheus-alertmanager amtool nginx openssl chromium; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing prometheus prometheus-alertmanager nginx openssl chromium (missing: ${missing[*]})"
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager nginx openssl >/dev/null
  if ! command -v chromium >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium \
      >/dev/null
  fi
  exit 0
fi
msg="missing ${missing[*]}: install with 'sudo apt-get install prometheus prometheus-alertmanager nginx openssl chromium'"
if [ "${CI:-}" = "true" ]; then
  echo "ERROR: $msg" >&2
  exit 1
fi
echo "WARNING: $msg; tests that need them will be skipped" >&2
