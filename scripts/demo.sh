#!/usr/bin/env bash
# `make run`: the back office with demo data and a simulated kiosk enrolled
# with it, in this terminal. The server's log goes to .run/server.log.
set -euo pipefail
cd "$(dirname "$0")/.."

addr=${SITECLOCK_ADDR:-127.0.0.1:8080}
run=.run
office=$run/server
kiosk=$run/kiosk
mkdir -p "$run"

host=${addr%:*}
port=${addr##*:}
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "demo: something already listens on $addr; stop it or run: make run SITECLOCK_ADDR=127.0.0.1:8090" >&2
  exit 1
fi

bin/siteclock-server demo -data "$office" -addr "$addr" >"$run/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "demo: the back office did not start:" >&2
    cat "$run/server.log" >&2
    exit 1
  fi
  sleep 0.1
done

if [ ! -f "$kiosk/device.json" ]; then
  code=$(bin/siteclock-server setup-code -data "$office" | grep -Eo '[0-9]{8}' | head -n1)
  bin/siteclockd enroll -state "$kiosk" -server "http://$addr" -code "$code"
fi

password=""
[ -f "$office/demo-admin-password.txt" ] && password=$(cat "$office/demo-admin-password.txt")
info() {
  cat <<MSG

  Back office: http://$addr/   (sign in as admin${password:+ with password $password})
  Kiosk PINs: 1111 (foreman, Clock For), 2222, 3333, 4444, 5555.
  Server log: $run/server.log   Kiosk log: $kiosk/siteclockd.log

MSG
}
info
# The kiosk takes the whole terminal: let the reader note the address first.
if [ -t 0 ]; then
  read -r -p "  Press Enter to start the kiosk (Ctrl-C in the kiosk stops both)... " _
fi
status=0
bin/siteclockd -config demo/siteclockd.toml -state "$kiosk" -server "http://$addr" || status=$?
clear 2>/dev/null || true
info
exit "$status"
