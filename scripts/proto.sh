#!/usr/bin/env bash
# Regenerates the Go code of serving/grpcapi's protocol buffers (`make
# proto`). protoc comes from Debian's protobuf-compiler (installed when
# missing and possible); the Go plugins run with `go run` at pinned
# versions: protoc-gen-go at the version of google.golang.org/protobuf in
# go.mod, protoc-gen-go-grpc at PROTOC_GEN_GO_GRPC below. The generated
# files are checked in, so building never needs any of this.
set -euo pipefail

PROTOC_GEN_GO_GRPC=v1.6.1

cd "$(dirname "$0")/.."
if ! command -v protoc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "proto: installing protobuf-compiler with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq protobuf-compiler >/dev/null
  else
    echo "proto: missing protoc; install it (Debian/Ubuntu: sudo apt-get install -y protobuf-compiler)" >&2
    exit 1
  fi
fi

# protoc runs plugins as programs: small wrappers around `go run`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$(pwd)
cat >"$tmp/protoc-gen-go" <<WRAP
#!/bin/sh
cd "$root" && exec go run google.golang.org/protobuf/cmd/protoc-gen-go "\$@"
WRAP
cat >"$tmp/protoc-gen-go-grpc" <<WRAP
#!/bin/sh
exec go run google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC "\$@"
WRAP
chmod +x "$tmp/protoc-gen-go" "$tmp/protoc-gen-go-grpc"

dir=serving/grpcapi/proto
protoc -I "$dir" \
  --plugin=protoc-gen-go="$tmp/protoc-gen-go" --go_out="$dir" --go_opt=paths=source_relative \
  --plugin=protoc-gen-go-grpc="$tmp/protoc-gen-go-grpc" --go-grpc_out="$dir" --go-grpc_opt=paths=source_relative \
  "$dir/feast/types/Value.proto" "$dir/feast/serving/ServingService.proto"
echo "proto: regenerated $(cd "$dir" && find . -name '*.pb.go' | sort | tr '\n' ' ')" >&2
