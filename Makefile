# Skewfree. `make dev` runs the local stack; `make test` installs what the
# tests need (when missing) and runs them.
GO ?= go
CORE := ./features/... ./store/... ./trainingset/... ./pipeline/...

REST = $$($(GO) list ./... | grep -v -e /features -e /store/ -e /trainingset -e /pipeline)

.PHONY: test deps vet lint bench bench-join dev build proto testbuild emulator

# From empty caches the BigQuery emulator's C++ build (about 25 minutes,
# mostly one compiler process) runs in the background (deps starts it)
# while lint and testbuild compile everything of ours on the other core;
# emulator then waits for it before any test runs.
test: deps lint testbuild emulator
	$(GO) test -race -count=1 $(CORE)
	$(GO) test -count=1 -timeout 30m $(REST)

# Compiles and links every test binary, running none (-exec true), while
# the emulator builds; nothing to overlap once it is built.
testbuild:
	@if scripts/bigquery-emulator.sh --built >/dev/null; then exit 0; fi; \
	echo "compiling the tests while the BigQuery emulator builds"; \
	$(GO) test -race -count=1 -exec true $(CORE) >/dev/null && \
	$(GO) test -count=1 -exec true $(REST) >/dev/null

emulator:
	@scripts/bigquery-emulator.sh >/dev/null

deps:
	@scripts/deps.sh

vet:
	$(GO) vet ./...

# workflowcheck (Temporal's determinism analyzer) runs from its own module,
# so it adds nothing to ours.
WORKFLOWCHECK := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(WORKFLOWCHECK) ./workflows/...

build:
	$(GO) build ./...

# Regenerates serving/grpcapi's protobuf code (checked in): protoc from
# Debian's protobuf-compiler, the Go plugins through `go run`.
proto:
	@scripts/proto.sh

# Benchmarks print ratios against a baseline measured in the same run,
# then the serving summary (library, HTTP, gRPC, raw Redis) as one table.
BENCH_PKGS := ./features/... ./store/... ./serving/... ./internal/... ./trainingset/... ./activities/...
bench: deps bench-join
	@out=$$(mktemp) && rc=$$(mktemp) && \
	{ $(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS); echo $$? > $$rc; } | tee $$out && \
	echo && $(GO) run ./internal/cmd/benchtable < $$out && \
	status=$$(cat $$rc) && rm -f $$out $$rc && exit $$status

# Training-set join vs DuckDB's ASOF join over the same Parquet files
# (bench/ is its own module so the main module never links DuckDB).
bench-join:
	cd bench && $(GO) run -mod=mod ./cmd/joinbench

# Built, then exec'd (not `go run`): go run exits 1 when interrupted even
# if the program stops cleanly, and Ctrl-C is how a person stops dev.
# `make dev CLOUD=1` keeps the offline store and raw data on an in-process
# fake Cloud Storage (gs://skewfree-dev/...) and appends every run to the
# BigQuery emulator (skewfree-dev.history), the cloud path run locally. The
# emulator is built once by scripts/bigquery-emulator.sh (15-30 minutes the
# first time; it says so), then found in its cache at once.
dev:
	$(GO) build -o bin/dev ./dev
ifneq ($(filter 1 true yes,$(CLOUD)),)
	@bq=$$(scripts/bigquery-emulator.sh) && exec bin/dev -cloud -bigquery-emulator "$$bq"
else
	exec bin/dev
endif
