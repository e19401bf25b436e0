# siteclock: `make run` starts the demo kiosk, `make test` runs every test.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED := 1

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/siteclock/siteclock/firmware.Version=$(VERSION)
DEMO_STATE ?= .run/kiosk
# Test timeout: the slow suites (SIGKILL crash loops, end-to-end) included.
TEST_TIMEOUT ?= 20m

.PHONY: help deps build run run-headless test test-quick bench vet clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## check or install what building needs (Go, gcc, modules)
	@scripts/deps.sh

build: deps ## build bin/siteclockd
	go build -ldflags '$(LDFLAGS)' -o bin/siteclockd ./cmd/siteclockd

$(DEMO_STATE)/kiosk.db: | build
	bin/siteclockd roster import -state $(DEMO_STATE) demo/roster.json

run: build $(DEMO_STATE)/kiosk.db ## start the demo: a simulated kiosk in this terminal
	bin/siteclockd -config demo/siteclockd.toml -state $(DEMO_STATE)

run-headless: build $(DEMO_STATE)/kiosk.db ## the demo kiosk reading keys from standard input
	bin/siteclockd -config demo/siteclockd.toml -state $(DEMO_STATE) -headless

vet: deps
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test: deps vet ## run every test, the slow suites too
	go test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-quick: deps ## the fast tests for the inner loop
	go test -short ./...

bench: build ## run the benchmarks (figures go to BENCHMARKS.md)
	scripts/bench.sh

clean: ## remove builds and the demo state
	rm -rf bin .run
