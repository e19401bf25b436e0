#!/usr/bin/env bash
# Installs the amd64 packages from out/deb/ on this machine with dpkg, checks
# what they installed (files, conffiles, the user siteclock and its groups,
# the state folders, the services enabled, the units valid with the real
# binaries in place, the programs working as the service user), upgrades
# over them with a changed conffile, removes and purges them, and runs
# lintian. It needs root (CI runs as root) but not systemd as PID 1: that
# the maintainer scripts cope without it is part of the test.
#
# What it adds to the machine it takes away again: the packages, and the
# user, groups and folders it found missing before.
#
# Usage: scripts/test-deb.sh   (after scripts/deb.sh amd64; make test-deb runs both)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "it installs packages with dpkg: run it as root (CI does), or skip it with make test-quick"
[ "$(dpkg --print-architecture)" = amd64 ] || fail "this machine is $(dpkg --print-architecture); the test installs the amd64 packages"
# One at a time on a machine: two runs would install and purge each other's
# packages (and dpkg refuses to run twice at once).
exec 9>/run/lock/siteclock-test-deb.lock
flock 9
pkgs=(siteclockd siteclock-server)
for p in "${pkgs[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
    fail "$p is installed on this machine and the test would purge it; remove it first (dpkg --purge ${pkgs[*]}) or run the test on a CI machine"
  fi
done
debs=()
for p in "${pkgs[@]}"; do
  d=$(ls -t out/deb/"${p}"_*_amd64.deb 2>/dev/null | head -1)
  [ -n "$d" ] || fail "no out/deb/${p}_*_amd64.deb: build it with scripts/deb.sh amd64"
  debs+=("$d")
done

# lintian is the slow part: it runs beside the install checks.
lintian_out=$(mktemp)
lintian --tag-display-limit 0 --fail-on error "${debs[@]}" >"$lintian_out" 2>&1 &
lintian_pid=$!

# What the machine had before, to put it back.
had_user=no; getent passwd siteclock >/dev/null && had_user=yes
missing_groups=()
for g in siteclock video gpio i2c input tty; do getent group "$g" >/dev/null || missing_groups+=("$g"); done
missing_dirs=()
for d in /var/lib/siteclock /var/lib/siteclock-server /etc/siteclock; do [ -e "$d" ] || missing_dirs+=("$d"); done
tmp=$(mktemp -d)
chmod 0755 "$tmp"
cleanup() {
  dpkg --purge "${pkgs[@]}" >/dev/null 2>&1 || true
  [ $had_user = yes ] || deluser --quiet --system siteclock >/dev/null 2>&1 || true
  for g in "${missing_groups[@]}"; do delgroup --quiet --system "$g" >/dev/null 2>&1 || true; done
  for d in "${missing_dirs[@]}"; do rm -rf "$d"; done
  rm -rf "$tmp"
  kill "$lintian_pid" 2>/dev/null || true
  rm -f "$lintian_out"
}
trap cleanup EXIT

step() { echo "test-deb: $*"; }
expect_file() { [ -e "$1" ] || fail "$1 missing"; }
expect_gone() { [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$1 still there"; }

step "install ${debs[*]}"
dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i failed"; }

step "files"
for f in /usr/bin/siteclockd /lib/systemd/system/siteclockd.service /lib/udev/rules.d/60-siteclock.rules \
         /etc/siteclock/siteclockd.toml /usr/share/doc/siteclockd/copyright \
         /usr/bin/siteclock-server /lib/systemd/system/siteclock-server.service \
         /etc/siteclock/siteclock-server.conf /usr/share/doc/siteclock-server/copyright; do
  expect_file "$f"
done
cmp -s systemd/siteclockd.service /lib/systemd/system/siteclockd.service || fail "the installed unit is not systemd/siteclockd.service"
for p in "${pkgs[@]}"; do
  conf=/etc/siteclock/$p.toml; [ $p = siteclock-server ] && conf=/etc/siteclock/$p.conf
  dpkg-query -W -f='${Conffiles}\n' "$p" | grep -q "^ $conf " || fail "$conf is not a conffile of $p"
  out=$("/usr/bin/$p" version) || fail "/usr/bin/$p version failed"
  [ -z "${VERSION:-}" ] || [ "$out" = "$p $VERSION" ] || fail "$p version says \"$out\", want \"$p $VERSION\""
done

step "user siteclock and its groups"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd siteclock) || fail "no user siteclock"
[ "$uid" -lt 1000 ] || fail "siteclock is uid $uid, not a system user"
[ "$home" = /var/lib/siteclock ] || fail "siteclock's home is $home"
case $shell in */nologin|/bin/false) ;; *) fail "siteclock can log in (shell $shell)" ;; esac
groups=" $(id -nG siteclock) "
for g in siteclock video gpio i2c input tty; do
  [[ $groups == *" $g "* ]] || fail "siteclock is not in group $g (groups:$groups)"
done
for d in /var/lib/siteclock /var/lib/siteclock-server; do
  [ "$(stat -c '%U:%G %a' "$d")" = "siteclock:siteclock 700" ] || fail "$d is $(stat -c '%U:%G %a' "$d"), want siteclock:siteclock 700"
done

step "services enabled for the next boot"
for p in "${pkgs[@]}"; do
  l=/etc/systemd/system/multi-user.target.wants/$p.service
  [ "$(readlink "$l")" = "/lib/systemd/system/$p.service" ] || fail "$p is not enabled ($l)"
done

step "units valid with the installed binaries"
out=$(systemd-analyze verify --man=no siteclockd.service siteclock-server.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify complains: $out"

step "the programs work as the service user, with the installed configuration"
install -m 0644 demo/roster.json "$tmp/roster.json"
runuser -u siteclock -- siteclockd roster import "$tmp/roster.json" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "siteclockd roster import as siteclock (with /etc/siteclock/siteclockd.toml)"; }
grep -q "into /var/lib/siteclock/kiosk.db" "$tmp/out" || fail "roster import went elsewhere: $(cat "$tmp/out")"
runuser -u siteclock -- siteclockd status >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "siteclockd status as siteclock"; }
grep -q "^roster: " "$tmp/out" || fail "siteclockd status: $(cat "$tmp/out")"
runuser -u siteclock -- siteclock-server company create -data /var/lib/siteclock-server -name "test-deb" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "siteclock-server company create as siteclock"; }

step "upgrade over it: the changed configuration is kept"
echo '# changed by test-deb' >> /etc/siteclock/siteclockd.toml
dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i over the installed packages failed"; }
tail -1 /etc/siteclock/siteclockd.toml | grep -q 'changed by test-deb' || fail "the upgrade replaced the changed /etc/siteclock/siteclockd.toml"

step "remove"
dpkg -r "${pkgs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -r failed"; }
for f in /usr/bin/siteclockd /usr/bin/siteclock-server /lib/systemd/system/siteclockd.service \
         /lib/systemd/system/siteclock-server.service /lib/udev/rules.d/60-siteclock.rules; do
  expect_gone "$f"
done
# Until a purge, conffiles stay, and so does whether the service was
# enabled (a reinstall keeps an administrator's choice).
expect_file /etc/siteclock/siteclockd.toml

step "purge"
dpkg -P "${pkgs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -P failed"; }
for f in /etc/siteclock /etc/systemd/system/siteclockd.service /etc/systemd/system/siteclock-server.service \
         /etc/systemd/system/multi-user.target.wants/siteclockd.service \
         /etc/systemd/system/multi-user.target.wants/siteclock-server.service; do
  expect_gone "$f"
done
# Punches are never dropped, not even by a purge.
expect_file /var/lib/siteclock/kiosk.db
expect_file /var/lib/siteclock-server/office.db
grep -q "kept /var/lib/siteclock " "$tmp/dpkg.log" || fail "purge did not say it kept /var/lib/siteclock"

step "lintian"
if ! wait "$lintian_pid"; then
  cat "$lintian_out" >&2
  fail "lintian found errors"
fi
sed 's/^/  /' "$lintian_out"
echo "test-deb: PASS"
