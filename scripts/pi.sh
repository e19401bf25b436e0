#!/usr/bin/env bash
# Cross-builds siteclockd and siteclock-server for the Raspberry Pi into
# bin/linux-arm64/ (Pi 3, 4, 5, Zero 2 W on a 64-bit OS) and bin/linux-armv7/
# (the same boards on a 32-bit OS), then checks each binary is an ELF for
# the right machine, statically linked, and (when qemu-user is installed)
# that it runs and reports the stamped version.
#
# Usage: scripts/pi.sh [arm64] [armv7]     (both when none is named)
# Environment: LDFLAGS (the Makefile passes its version stamp).
#
# Why cgo: SQLite (github.com/mattn/go-sqlite3) and V4L2 (go4vl, which needs
# linux/videodev2.h) are C. Debian's cross compilers build them.
# CGO_ENABLED=1 is set explicitly: with CC set but CGO_ENABLED unset, Go turns
# cgo off when cross-compiling and go-sqlite3 builds a stub that fails only at
# run time, on the Pi.
#
# Why static: a dynamic binary needs the build machine's glibc (2.36 on
# Debian 12) or newer on the Pi, so it would not start on Raspberry Pi OS
# Bullseye (glibc 2.31), and an OS upgrade could break it. Linked statically
# (glibc, libgcc, SQLite) one file runs on any Pi OS release and on
# gokrazy-style images with no libc at all. What static glibc cannot do is
# load NSS modules, so the tags osusergo,netgo keep user and DNS lookups in
# pure Go, and sqlite_omit_load_extension drops SQLite's dlopen (we load no
# extensions). The cost is about 1 MB a binary.
#
# Not supported: ARMv6 (Pi 1, Pi Zero W v1, Compute Module 1). Debian's armhf
# C runtime and libgcc are ARMv7 Thumb-2 code, so a cgo binary linked with
# them dies with SIGILL on the ARM1176; GOARM=6 only changes the Go half. A
# Pi Zero 2 W is a Cortex-A53 and takes the arm64 or armv7 build.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${LDFLAGS:=-X github.com/siteclock/siteclock/firmware.Version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
tags=osusergo,netgo,sqlite_omit_load_extension
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(arm64 armv7)

for t in "${targets[@]}"; do
  case $t in
    arm64) goarch=arm64 goarm= cc=aarch64-linux-gnu-gcc qemu=qemu-aarch64 want='ELF 64-bit LSB executable, ARM aarch64' ;;
    armv7) goarch=arm goarm=7 cc=arm-linux-gnueabihf-gcc qemu=qemu-arm want='ELF 32-bit LSB executable, ARM, EABI5' ;;
    armv6) echo "pi: ARMv6 (Pi 1, Pi Zero W v1) is not supported: Debian's armhf C runtime is ARMv7 and the cgo binary would die with SIGILL there; see scripts/pi.sh" >&2; exit 1 ;;
    *) echo "pi: unknown target $t; say arm64 or armv7" >&2; exit 1 ;;
  esac
  command -v "$cc" >/dev/null || { echo "pi: $cc is missing; run make pi as root (it installs Debian's cross compilers) or apt-get install gcc-${cc%-gcc}" >&2; exit 1; }
  out=bin/linux-$t
  mkdir -p "$out"
  SECONDS=0
  CGO_ENABLED=1 GOOS=linux GOARCH=$goarch GOARM=$goarm CC=$cc \
    go build -trimpath -tags "$tags" \
      -ldflags "$LDFLAGS -s -w -linkmode=external -extldflags -static" \
      -o "$out/" ./cmd/siteclockd ./cmd/siteclock-server
  secs=$SECONDS
  for b in siteclockd siteclock-server; do
    f=$out/$b
    desc=$(file -b "$f")
    case $desc in
      "$want"*"statically linked"*) ;;
      *) echo "pi: $f is not what was asked for ($want, statically linked): $desc" >&2; exit 1 ;;
    esac
    printf 'pi: %-32s %5s  %s\n' "$f" "$(du -h "$f" | cut -f1)" "${desc%%, BuildID*}"
  done
  if command -v "$qemu" >/dev/null; then
    # The version stamp and cgo both must have made it in: a stub SQLite
    # would fail the roster import with "requires cgo".
    v=$("$qemu" "$out/siteclockd" version)
    st=$(mktemp -d)
    "$qemu" "$out/siteclockd" roster import -state "$st" demo/roster.json >/dev/null \
      || { rm -rf "$st"; echo "pi: $out/siteclockd cannot import a roster under $qemu (cgo SQLite missing?)" >&2; exit 1; }
    rm -rf "$st"
    echo "pi: $t runs under $qemu: $v (built in ${secs}s)"
  fi
done
