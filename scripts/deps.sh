#!/usr/bin/env bash
# Makes sure the programs the tests need are on this machine, installing them
# through apt when missing and possible; otherwise says exactly what to install.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
# The catalog page's browser test drives Debian's Chromium (never a
# downloaded browser).
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  :
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
  # The package starts a system-wide server; tests start their own.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi
  service redis-server stop >/dev/null 2>&1 || true
else
  echo "deps: missing ${need[*]}; install them (Debian/Ubuntu: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi

# The BigQuery emulator the store/bigquery tests start: built once into the
# tools cache (clang installed when missing), then only located. When it
# must be built, the build runs in the background (make test's emulator
# step waits for it), so our own compilation overlaps it.
"$(dirname "${BASH_SOURCE[0]}")/bigquery-emulator.sh" --background >/dev/null
