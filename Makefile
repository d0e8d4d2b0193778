# softphone — build, run, test, bench.
# `make run` and `make test` install the Debian packages they need (as root,
# with apt-get) when they are missing.

GO        ?= go
export GOTOOLCHAIN ?= local
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/softphone
CONFIG    ?= configs/softphone.ini
TESTFLAGS ?=

.PHONY: all build build-pprof run test unit bench bench-smoke lint clean deps-run deps-test

all: build

deps-run:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

build: deps-run
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/softphone

## build-pprof: the daemon with its profile server (SOFTPHONE_PPROF, see
## `softphone help`), which the default build leaves out.
build-pprof: deps-run
	$(GO) build -tags pprof -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/softphone

## run: the daemon on the example config (real devices where there are any,
## else miniaudio's null device).
run: build
	$(BIN) run -c $(CONFIG)

## test: every test, integration tests included, under the race detector;
## the tests start and stop their own peers (PulseAudio, Kamailio, baresip,
## sipp) on free ports. RACE_DAEMON=1 also builds the daemon the end-to-end
## tests start with -race (a race it reports fails the test); it is off by
## default because the daemon then needs several times the CPU.
RACE_DAEMON ?=
test: deps-test
	$(GO) vet ./...
	$(GO) vet -tags pprof ./cmd/softphone
	SOFTPHONE_INTEGRATION=1 SOFTPHONE_RACE_DAEMON=$(RACE_DAEMON) $(GO) test -race -count=1 -timeout 18m $(TESTFLAGS) ./...
	$(GO) test -race -count=1 -tags pprof -run 'StartDebug' ./cmd/softphone

## unit: the tests that need no peers.
unit:
	$(GO) test -count=1 ./...

## bench: the daemon and baresip side by side (bench/, about 22 min): one
## table on stdout, the raw figures in $(BENCHJSON); then the Go benchmarks.
## BENCHFLAGS passes options, e.g. BENCHFLAGS="-figures 1,2 -runs 5".
BENCHJSON  ?= bin/bench-results.json
BENCHFLAGS ?=
bench: build
	@scripts/deps.sh bench
	$(GO) run ./bench/cmd/softphone-bench -softphone $(BIN) -json $(BENCHJSON) $(BENCHFLAGS)
	SOFTPHONE_INTEGRATION=1 $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./...

## bench-smoke: the harness once on tiny settings (about a minute).
bench-smoke: build
	@scripts/deps.sh bench
	$(GO) run ./bench/cmd/softphone-bench -softphone $(BIN) -json $(BENCHJSON) -tiny

## lint: gofmt, go vet and staticcheck (the version pinned as a tool in
## go.mod, built from the module proxy).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) vet -tags pprof ./cmd/softphone
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags pprof ./cmd/softphone

clean:
	rm -rf bin
