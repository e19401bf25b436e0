#!/usr/bin/env bash
# Builds the Debian packages siteclockd and siteclock-server into out/deb/
# with dpkg-deb, for amd64, arm64 and armhf (all three when none is named).
#
# Usage: scripts/deb.sh [amd64] [arm64] [armhf]
# Environment: VERSION (the Makefile's git describe), LDFLAGS (its version
# stamp). arm64 and armhf take the static binaries `make pi` left in
# bin/linux-arm64 and bin/linux-armv7; amd64 is built here the same way
# (static cgo, see scripts/pi.sh for why), into bin/linux-amd64.
#
# Each package holds the binary, its systemd unit (systemd/), its default
# configuration in /etc/siteclock/ as a conffile (kept across upgrades,
# never overwritten without asking), the kiosk's udev rules, and the
# maintainer scripts in packaging/ that make the user siteclock, its
# groups and the state folder and enable the service.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

: "${VERSION:=$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
: "${LDFLAGS:=-X github.com/siteclock/siteclock/firmware.Version=$VERSION}"
maintainer="siteclock maintainers <maintainers@users.noreply.h-seed-ed6a1e6f.example>"
homepage=https://github.com/siteclock/siteclock
# The packages' file times and changelog date are the commit's, so that a
# rebuild of the same commit gives the same packages.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# debVersion turns git describe into a Debian version that sorts right:
# v1.2.0 → 1.2.0, v1.2.0-3-gabc1234 → 1.2.0+3.gabc1234, and a commit with
# no tag → 0.0~git20261122051500.abc1234 (older than any release).
debVersion() {
  local v=${1#v}
  if [[ $v =~ ^[0-9]+\.[0-9]+ ]]; then
    v=${v/-/+}
    echo "${v//-/.}"
  else
    echo "0.0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S).${v//-/.}"
  fi
}
debv=$(debVersion "$VERSION")

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(amd64 arm64 armhf)
mkdir -p out/deb
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build ARCH PACKAGE BINDIR DESCRIPTION: one .deb.
build() {
  local arch=$1 pkg=$2 bindir=$3 short=$4 long=$5
  local root=$work/$pkg-$arch
  rm -rf "$root"
  install -D -m 0755 "$bindir/$pkg" "$root/usr/bin/$pkg"
  install -D -m 0644 "systemd/$pkg.service" "$root/lib/systemd/system/$pkg.service"
  install -D -m 0644 packaging/copyright "$root/usr/share/doc/$pkg/copyright"
  install -D -m 0644 "packaging/lintian/$pkg" "$root/usr/share/lintian/overrides/$pkg"
  printf '%s (%s) unstable; urgency=medium\n\n  * Built from siteclock %s.\n\n -- %s  %s\n' \
    "$pkg" "$debv" "$VERSION" "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" |
    gzip -9n > "$root/usr/share/doc/$pkg/changelog.gz"
  local conffiles=()
  case $pkg in
    siteclockd)
      install -D -m 0644 packaging/siteclockd.toml "$root/etc/siteclock/siteclockd.toml"
      install -D -m 0644 packaging/60-siteclock.rules "$root/lib/udev/rules.d/60-siteclock.rules"
      conffiles=(/etc/siteclock/siteclockd.toml) ;;
    siteclock-server)
      install -D -m 0644 packaging/siteclock-server.conf "$root/etc/siteclock/siteclock-server.conf"
      conffiles=(/etc/siteclock/siteclock-server.conf) ;;
  esac
  mkdir -p "$root/DEBIAN"
  for s in postinst prerm postrm; do
    install -m 0755 "packaging/$pkg/$s" "$root/DEBIAN/$s"
  done
  printf '%s\n' "${conffiles[@]}" > "$root/DEBIAN/conffiles"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $debv
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: adduser
Section: misc
Priority: optional
Homepage: $homepage
Description: $short
$long
CONTROL
  find "$root" -exec touch --no-dereference -d "@$SOURCE_DATE_EPOCH" {} +
  local deb=out/deb/${pkg}_${debv}_${arch}.deb
  rm -f out/deb/"${pkg}"_*_"${arch}".deb # the last build's, whatever its version
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
  echo "deb: $deb ($(du -h "$deb" | cut -f1))"
}

for t in "${targets[@]}"; do
  case $t in
    amd64)
      bindir=bin/linux-amd64 want='ELF 64-bit LSB executable, x86-64'
      mkdir -p "$bindir"
      CGO_ENABLED=1 GOOS=linux GOARCH=amd64 CC=${CC_AMD64:-gcc} \
        go build -trimpath -tags osusergo,netgo,sqlite_omit_load_extension \
          -ldflags "$LDFLAGS -s -w -linkmode=external -extldflags -static" \
          -o "$bindir/" ./cmd/siteclockd ./cmd/siteclock-server ;;
    arm64) bindir=bin/linux-arm64 want='ELF 64-bit LSB executable, ARM aarch64' ;;
    armhf) bindir=bin/linux-armv7 want='ELF 32-bit LSB executable, ARM, EABI5' ;;
    *) echo "deb: unknown architecture $t; say amd64, arm64 or armhf" >&2; exit 1 ;;
  esac
  for b in siteclockd siteclock-server; do
    [ -x "$bindir/$b" ] || { echo "deb: $bindir/$b is missing; make deb builds it (make pi for the arm ones)" >&2; exit 1; }
    case $(file -b "$bindir/$b") in
      "$want"*"statically linked"*) ;;
      *) echo "deb: $bindir/$b is not a static $want binary: $(file -b "$bindir/$b")" >&2; exit 1 ;;
    esac
  done
  build "$t" siteclockd "$bindir" "siteclock job-site time clock: the kiosk daemon" \
" siteclockd runs a siteclock kiosk on a Raspberry Pi: workers type their PIN
 and punch IN or OUT, a USB camera takes a photo, and every punch is
 committed durably to a local queue before the screen says saved, then sent
 to the back office (siteclock-server) whenever the network allows.
 .
 The package installs the systemd service (hardened, with a watchdog), a
 default configuration for the README's wiring in /etc/siteclock, udev rules
 for the GPIO, I2C and input devices, and the system user siteclock."
  build "$t" siteclock-server "$bindir" "siteclock job-site time clock: the back office" \
" siteclock-server keeps a company's employees, roles and device settings,
 enrolls siteclock kiosks with the company setup code, receives their
 punches and photos, and serves the admin web UI with timecards.
 .
 The package installs the systemd service (hardened, with a watchdog) and
 its flags in /etc/siteclock/siteclock-server.conf; data lives in
 /var/lib/siteclock-server."
done
