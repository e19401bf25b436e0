# siteclock: `make run` starts the demo kiosk, `make test` runs every test.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED := 1

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/siteclock/siteclock/firmware.Version=$(VERSION)
# Test timeout: the slow suites (SIGKILL crash loops, end-to-end) included.
TEST_TIMEOUT ?= 20m
# Fuzz targets (PACKAGE:FuzzName) of the decoders of what comes from outside: the device
# protocol both ways, the roster file, the configuration, sealed photos (docs/RELIABILITY.md).
# make fuzz-short runs each for FUZZTIME inputs; a longer hunt: make fuzz-short FUZZTIME=10m.
# A count rather than a duration: Go 1.26's fuzz coordinator can fail a run that hits a
# time limit on a busy machine with a bare "context deadline exceeded" (golang/go#75804).
FUZZTIME ?= 3000x
FUZZ_TARGETS := ./backoffice:FuzzEnroll ./backoffice:FuzzCheckIn ./backoffice:FuzzPunchBatch \
	./backoffice:FuzzPhotoUpload ./uplink:FuzzServerAnswers ./roster:FuzzParse \
	./cmd/siteclockd:FuzzLoadConfig ./photoseal:FuzzOpen ./photoseal:FuzzParseKey

.PHONY: help deps build run run-offline test test-quick bench vet clean
.PHONY: fuzz-short
.PHONY: pi test-arm deb test-deb test-hil test-powercut
# Debian packages for the Pi builds and their tests under qemu-user (COMMAND:PACKAGE or /FILE:PACKAGE).
PI_DEPS := aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu arm-linux-gnueabihf-gcc:gcc-arm-linux-gnueabihf \
	/usr/aarch64-linux-gnu/lib/libc.a:libc6-dev-arm64-cross /usr/arm-linux-gnueabihf/lib/libc.a:libc6-dev-armhf-cross \
	qemu-aarch64:qemu-user qemu-arm:qemu-user file:file

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## check or install what building needs (Go, gcc, modules)
	@scripts/deps.sh

build: deps ## build bin/siteclockd and bin/siteclock-server
	go build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/siteclockd ./cmd/siteclock-server

run: build ## start the demo: the back office, and a simulated kiosk enrolled with it in this terminal
	scripts/demo.sh

run-offline: build ## a simulated kiosk with no back office (roster from demo/roster.json)
	test -f .run/offline/kiosk.db || bin/siteclockd roster import -state .run/offline demo/roster.json
	bin/siteclockd -config demo/siteclockd.toml -state .run/offline

vet: deps
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test: deps vet test-deb fuzz-short test-arm test-hil test-powercut ## run every test, the slow suites too (the browser tests need chromium: installed when root)
	@scripts/deps.sh chromium:chromium systemd-analyze:systemd
	SITECLOCK_ARTIFACTS=$(CURDIR)/out/screenshots go test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-quick: deps ## the fast tests for the inner loop
	@scripts/deps.sh systemd-analyze:systemd
	go test -short ./...

fuzz-short: deps ## run each fuzz target for FUZZTIME (3000 inputs; seed corpora in testdata/fuzz/)
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x $${t%%:*}; \
	done

bench: build ## run the benchmarks (figures go to BENCHMARKS.md)
	scripts/bench.sh

clean: ## remove builds and the demo state
	rm -rf bin .run

pi: deps ## cross-build both programs for the Raspberry Pi (arm64, armv7; static, cgo) into bin/linux-*/
	@scripts/deps.sh $(PI_DEPS)
	LDFLAGS='$(LDFLAGS)' scripts/pi.sh

test-arm: deps ## the kiosk's tests as arm64 and armv7 binaries under qemu-user (which and why: scripts/test-arm.sh)
	@scripts/deps.sh $(PI_DEPS)
	scripts/test-arm.sh

deb: pi ## Debian packages of both programs for amd64, arm64 and armhf into out/deb/ (scripts/deb.sh)
	VERSION='$(VERSION)' LDFLAGS='$(LDFLAGS)' scripts/deb.sh

test-deb: deps ## install the amd64 packages with dpkg (as root), check them, remove and purge them; lintian
	@scripts/deps.sh file:file lintian:lintian systemd-analyze:systemd adduser:adduser
	export VERSION='$(VERSION)' LDFLAGS='$(LDFLAGS)'; scripts/deb.sh amd64 && scripts/test-deb.sh

test-hil: deps ## siteclockd with its real drivers in an emulated kernel: keypad, camera, framebuffer (hil/run.sh)
	LDFLAGS='$(LDFLAGS)' hil/run.sh

test-powercut: deps ## power cuts (QEMU killed) under punches on a virtual ext4 disk; POWERCUT_SEED=N repeats a run
	LDFLAGS='$(LDFLAGS)' hil/run.sh powercut
