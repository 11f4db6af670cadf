#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, once, when they are missing.
# CI and new machines start bare; nothing here downloads a binary outside the registries.
set -euo pipefail
need=()
# The console's browser tests drive Debian's chromium (Playwright cannot download its own here).
command -v chromium >/dev/null || need+=(chromium)
# The fault suite steps the hub's clock with Debian's libfaketime (LD_PRELOAD).
test -f /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 || need+=(libfaketime)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]} from Debian" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
