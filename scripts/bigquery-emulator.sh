#!/usr/bin/env bash
# Prints the path of the BigQuery emulator binary the store/bigquery tests
# start (internal/testenv.StartBigQuery), building it first when it is not in
# the cache yet. The emulator links go-zetasqlite (C++ through cgo), so the
# first build takes a long while (15-30 minutes on a small machine); later
# calls only print the path.
#
# Cache: ${SKEWFREE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skewfree}
# Source: the tools module in tools/bigquery-emulator (pinned version there).
set -euo pipefail

version=v0.6.6
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SKEWFREE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/skewfree}"
dir="$cache/bigquery-emulator-$version"
bin="$dir/bigquery-emulator"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
# --built: exit 1 when the binary is not built yet (nothing else).
if [ "${1:-}" = "--built" ]; then
  exit 1
fi

mkdir -p "$dir"
# --background: start the build (below) detached, its output in
# $dir/build.log, and return at once; a later call waits for it (the lock).
if [ "${1:-}" = "--background" ]; then
  echo "bigquery-emulator: building in the background (log: $dir/build.log)" >&2
  nohup "${BASH_SOURCE[0]}" >"$dir/build.log" 2>&1 </dev/null &
  echo "$bin"
  exit 0
fi

# One build at a time: a second call waits for the first, then finds its
# binary.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.lock"
  if ! flock -n 9; then
    echo "bigquery-emulator: waiting for the build in progress (log: $dir/build.log)" >&2
    flock 9
  fi
  if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
  fi
fi

# go-zetasqlite's C++ only builds with clang.
if ! command -v clang >/dev/null 2>&1 || ! command -v clang++ >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bigquery-emulator: installing clang with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends clang >/dev/null
  else
    echo "bigquery-emulator: clang is missing; install it (Debian/Ubuntu: sudo apt-get install -y clang)" >&2
    exit 1
  fi
fi

# Build to a temporary name and rename: a build killed half way never leaves
# a binary that the next call would take as done.
tmp="$(mktemp "$dir/bigquery-emulator.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "bigquery-emulator: not built yet: building $version into $dir now (first time only; this takes 15-30 minutes, more on a busy machine, and about 7 GB of memory)" >&2
start=$(date +%s)
(
  cd "$root/tools/bigquery-emulator"
  CGO_ENABLED=1 CXX=clang++ CC=clang go build -o "$tmp" \
    github.com/goccy/bigquery-emulator/cmd/bigquery-emulator
)
chmod +x "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
echo "bigquery-emulator: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
