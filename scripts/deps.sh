#!/usr/bin/env bash
# Checks, and where it can installs, what building and testing siteclock
# needs on Debian: Go (1.26 or newer), a C compiler and libc headers for cgo
# (github.com/mattn/go-sqlite3), and the Go modules.
# As root it installs missing Debian packages with apt-get; otherwise it says
# what to install.
set -euo pipefail

want_go_minor=26
missing_pkgs=()

need_pkg() { # need_pkg COMMAND PACKAGE, or need_pkg /FILE PACKAGE for packages with no command
  case $1 in
    /*) [ -e "$1" ] || missing_pkgs+=("$2") ;;
    *) command -v "$1" >/dev/null 2>&1 || missing_pkgs+=("$2") ;;
  esac
}

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed. Install Go 1.$want_go_minor or newer from https://go.dev/dl/ into /usr/local/go" >&2
  echo "      (Debian 12's golang package is too old), then run this again." >&2
  exit 1
fi
gov=$(go env GOVERSION | sed 's/^go//')
minor=$(echo "$gov" | cut -d. -f2)
if [ "$(echo "$gov" | cut -d. -f1)" -lt 1 ] || [ "$minor" -lt "$want_go_minor" ]; then
  echo "deps: Go $gov is too old; siteclock needs Go 1.$want_go_minor or newer (https://go.dev/dl/)." >&2
  exit 1
fi

need_pkg gcc gcc
need_pkg make make
[ -f /usr/include/stdlib.h ] || missing_pkgs+=(libc6-dev)
for extra in "$@"; do # extra Debian packages a target needs: COMMAND:PACKAGE or /FILE:PACKAGE
  need_pkg "${extra%%:*}" "${extra##*:}"
done

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${missing_pkgs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  else
    echo "deps: missing Debian packages: ${missing_pkgs[*]}" >&2
    echo "      install them with: sudo apt-get install ${missing_pkgs[*]}" >&2
    exit 1
  fi
fi

# Go modules: downloaded once, checked against go.sum.
go mod download
