//go:build tools

// Package tools pins the BigQuery emulator that the store/bigquery tests run
// against. It is a module of its own (go.mod beside this file) so that the
// emulator's large dependency tree (go-zetasqlite, cgo) never enters the main
// module: `go test ./...` from the repository root does not see this folder.
// scripts/bigquery-emulator.sh builds the binary from here.
package tools

import (
	_ "github.com/goccy/bigquery-emulator/cmd/bigquery-emulator"
)
