#!/usr/bin/env bash
# Runs the benchmarks behind BENCHMARKS.md and prints their figures.
# The queue benchmarks compare a durable punch commit with a bare SQLite
# insert on the same disk in the same run; the headless benchmark compares
# key-to-screen with a round trip through cat; the idle benchmark watches a
# daemon with nothing to do for SITECLOCK_IDLE_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m) $(nproc) cores, $(go version)"
  go test -run "^$" -bench . -benchtime 2000x -count 5 ./queue
  go test -run '^$' -bench Ingest -benchtime 1000x -count 3 ./backoffice
  go test -run '^$' -bench CheckIn/herd -benchtime 50x ./backoffice
  go test -run '^$' -bench CheckIn/steady -benchtime 10x ./backoffice
  go test -run '^$' -bench KeyToScreen -benchtime 2000x ./cmd/siteclockd
  go test -run '^$' -bench Idle -benchtime 1x -timeout 10m ./cmd/siteclockd
  go test -run '^$' -bench 'BenchmarkRender|BenchmarkFramebufferCopy|BenchmarkI2CScreenChange' -benchmem -count 3 ./display
  go test -run '^$' -bench BenchmarkYUYVToJPEG -benchtime 2s -count 3 ./camera
  go test -run '^$' -bench Seal -benchtime 200x ./photoseal
  go test -run '^$' -bench DownloadAndVerify -benchtime 10x -count 3 ./firmware
} 2>&1 | tee out/bench.txt
