#!/usr/bin/env bash
# make test-hil: runs the real siteclockd with its real drivers in an
# emulated machine. Debian's own kernel boots under qemu-system-x86_64 (TCG:
# no KVM needed) with vivid as the camera, gpio-sim as the keypad and
# buttons, and bochs as the framebuffer; hil/agent, the VM's test program,
# presses keys by driving gpio-sim lines and checks the punch, the photo and
# the pixels on the screen. See hil/README.md.
#
# hil/run.sh powercut (make test-powercut) boots the same kernel and
# initramfs with the kiosk's state folder on a virtual ext4 disk instead,
# cuts the power (SIGKILL to QEMU) at random moments while siteclockd
# commits punches, and checks the disk at the next boot: hil/powercut/ and
# docs/RELIABILITY.md.
#
# Usage: hil/run.sh [powercut] (as root it installs what it needs with apt-get)
# Environment:
#   HIL_WORK       work folder (default out/hil); downloads and the kernel
#                  build are cached there by kernel version
#   HIL_TIMEOUT    seconds the VM may run (default 240)
#   LDFLAGS        Go linker flags (the Makefile passes its version stamp)
#   POWERCUT_CUTS  power cuts (default 6), then one boot to check the last
#   POWERCUT_SEED  the seed of the cut times and keys (default: the clock's)
#
# It exits non-zero when a check fails, when the agent did not report its
# result, or when the VM did not finish in time, and then prints the tail of
# the console log. Results are the lines "PASS name: ...", "FAIL name: ...",
# "BENCH name ..." and "HIL RESULT: PASS|FAIL" on the VM's serial console.
set -euo pipefail
MODE=${1:-hardware}
case $MODE in hardware|powercut) ;; *) echo "usage: hil/run.sh [powercut]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
ROOT=$PWD
W=${HIL_WORK:-$ROOT/out/hil}
TIMEOUT=${HIL_TIMEOUT:-240}
: "${LDFLAGS:=-X github.com/siteclock/siteclock/firmware.Version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
mkdir -p "$W"
T0=$SECONDS
say() { printf 'hil: [%3ds] %s\n' $((SECONDS - T0)) "$*"; }

# --- the kernel: whatever Debian's linux-image-amd64 points at today ----
resolve_kernel() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}
KPKG=$(resolve_kernel)
if [ -z "$KPKG" ] && [ "$(id -u)" = 0 ]; then
  apt-get update -q >/dev/null
  KPKG=$(resolve_kernel)
fi
[ -n "$KPKG" ] || { echo "hil: cannot find Debian's linux-image-amd64 in the package lists; run apt-get update (as root)" >&2; exit 1; }
K=${KPKG#linux-image-}                                      # 6.1.0-56-amd64
KVER=$(apt-cache show "$KPKG" | awk '/^Version:/{print $2; exit}') # 6.1.192-2
SRCPKG=linux-source-${K%%.0-*}                              # linux-source-6.1

scripts/deps.sh qemu-system-x86_64:qemu-system-x86 /bin/busybox:busybox-static cpio:cpio \
  depmod:kmod xz:xz-utils make:make file:file "/usr/src/linux-headers-$K/Makefile:linux-headers-$K" \
  /usr/sbin/mke2fs:e2fsprogs /usr/sbin/e2fsck:e2fsprogs
case $(file -b /bin/busybox) in
  *"statically linked"*) ;;
  *) echo "hil: /bin/busybox is not the static build; install busybox-static (it replaces busybox)" >&2; exit 1 ;;
esac
say "kernel $K ($KVER)"

# Everything taken from the kernel packages is cached per kernel version:
# vmlinuz, the .ko files the VM loads and gpio-sim.ko, with a list of them
# in load order for each suite: modules.list for the hardware checks,
# powercut.list for the power cuts (virtio_pci and ext4 are modules in
# Debian's kernel). The done file names the lists' contents, so that a
# cache made for other modules is made again.
KC=$W/kernel/$K-$KVER
HIL_MODS="vivid gpio-sim bochs"
POWERCUT_MODS="virtio_pci virtio_blk ext4"
CACHE_ID="modules.list: $HIL_MODS; powercut.list: $POWERCUT_MODS"
if [ "$(cat "$KC/done" 2>/dev/null)" != "$CACHE_ID" ]; then
  rm -rf "$W/kernel" "$W/dl" && mkdir -p "$KC/modules" "$W/dl" # older kernels' builds go
  # (As root apt warns that it downloads without its sandbox user.)
  (cd "$W/dl" && apt-get download -q "$KPKG=$KVER" "$SRCPKG=$KVER" 2>&1 >/dev/null | { grep -v unsandboxed || true; })
  say "downloaded $KPKG and $SRCPKG"
  kroot=$W/dl/kroot
  dpkg -x "$W/dl/${KPKG}_"*.deb "$kroot"
  # gpio-sim is not built in Debian's kernels (CONFIG_GPIO_SIM, and the
  # IRQ_SIM it needs, are off): build it out of tree from the matching
  # source against the matching headers.
  oot=$W/dl/gpio-sim && mkdir -p "$oot"
  dpkg-deb --fsys-tarfile "$W/dl/${SRCPKG}_"*.deb | tar -xO "./usr/src/$SRCPKG.tar.xz" |
    tar -xJ -C "$oot" --strip-components=3 "$SRCPKG/drivers/gpio/gpio-sim.c" "$SRCPKG/drivers/gpio/gpiolib.h" "$SRCPKG/kernel/irq/irq_sim.c"
  mv "$oot/gpio-sim.c" "$oot/gpio-sim-main.c"
  # irq_to_desc() is not exported to modules in 6.1; for the simple IRQ
  # chip of irq_sim, generic_handle_irq() does the same.
  sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$oot/irq_sim.c"
  grep -q 'generic_handle_irq(irqnum);' "$oot/irq_sim.c" || { echo "hil: irq_sim.c of $KVER changed; adapt the patch in hil/run.sh" >&2; exit 1; }
  printf 'obj-m += gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' > "$oot/Kbuild"
  make -s -C "/usr/src/linux-headers-$K" M="$oot" modules
  say "built gpio-sim.ko"
  mkdir -p "$kroot/lib/modules/$K/extra" && cp "$oot/gpio-sim.ko" "$kroot/lib/modules/$K/extra/"
  depmod -b "$kroot" "$K"
  modlist() { # the .ko files of modules $1, dependencies first, copied into the cache
    for m in $1; do modprobe -d "$kroot" -S "$K" --show-depends $m; done |
      awk '$1=="insmod" && !seen[$2]++ {print $2}' | while read -r ko; do
        cp "$ko" "$KC/modules/" && basename "$ko"
      done
  }
  modlist "$HIL_MODS" > "$KC/modules.list"
  modlist "$POWERCUT_MODS" > "$KC/powercut.list"
  cp "$kroot/boot/vmlinuz-$K" "$KC/vmlinuz"
  rm -rf "$W/dl"
  echo "$CACHE_ID" > "$KC/done"
  say "kernel cached in $KC"
fi

# --- the programs, static so the initramfs needs no libraries -------------
# Linked as on the Pi (scripts/pi.sh), for the VM's amd64: cgo for SQLite
# and V4L2, glibc linked in, user and DNS lookups in Go. Unlike scripts/pi.sh
# no -trimpath and no sqlite_omit_load_extension, so the packages come from
# the build cache `go test` fills (SQLite's C takes a minute to compile);
# the linker's warning about dlopen in a static binary is about SQLite's
# extension loading, which siteclockd never uses.
B=$W/bin && mkdir -p "$B"
CGO_ENABLED=1 go build -tags osusergo,netgo \
  -ldflags "$LDFLAGS -s -w -linkmode=external -extldflags -static" \
  -o "$B/" ./cmd/siteclockd ./hil/agent 2>&1 | { grep -v -e "statically linked applications requires at runtime" -e "in function .unixDlOpen" -e "^# github.com/siteclock/siteclock/" || true; }
[ "${PIPESTATUS[0]}" = 0 ] || { echo "hil: go build failed" >&2; exit 1; }
say "built siteclockd and hil-agent"

# --- the initramfs: busybox, the modules, the programs, the two inits -----
R=$W/root
rm -rf "$R" && mkdir -p "$R"/{bin,dev,proc,sys,tmp,lib/modules}
cp /bin/busybox "$R/bin/"
for a in sh mount insmod cat sleep poweroff cut ls tr mkdir; do ln -s busybox "$R/bin/$a"; done
cp "$KC"/modules/*.ko "$R/lib/modules/" && cp "$KC/modules.list" "$KC/powercut.list" "$R/"
cp "$B/siteclockd" "$R/bin/" && cp "$B/agent" "$R/bin/hil-agent"
cp hil/init.sh "$R/init" && cp hil/powercut-init.sh "$R/powercut-init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) > "$W/initramfs.cpio.gz"
say "initramfs $(du -h "$W/initramfs.cpio.gz" | cut -f1)"

if [ "$MODE" = powercut ]; then
  # The host's side (hil/powercut/cutter): it boots, cuts and collects.
  # One CPU, one VM at a time, as below.
  go build -o "$B/cutter" ./hil/powercut/cutter
  say "built the cutter; $((${POWERCUT_CUTS:-6} + 1)) boots, each checking the cut before (consoles in $W/powercut/)"
  PATH=$PATH:/usr/sbin:/sbin "$B/cutter" -kernel "$KC/vmlinuz" -initrd "$W/initramfs.cpio.gz" -work "$W/powercut" \
    -cuts "${POWERCUT_CUTS:-6}" -seed "${POWERCUT_SEED:-0}" || {
      rc=$?
      last=$(ls -t "$W"/powercut/boot-*.log 2>/dev/null | head -1)
      [ -n "$last" ] && { echo "hil: the tail of $last:" >&2; tail -n 40 "$last" >&2; }
      exit $rc
    }
  say "passed"
  exit 0
fi

# --- boot -------------------------------------------------------------------
# TCG: KVM is rarely usable in CI containers, and the checks do not depend
# on speed. One CPU on purpose: the agent's keypad emulator relies on a
# real-time thread preempting the daemon the moment it selects a keypad
# row (hil/agent/keypad.go), which needs them on the same CPU. panic=-1 and
# -no-reboot turn a kernel panic into an exit.
LOG=$W/console.log
set +e
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -M pc -m 1024 -smp 1 \
  -kernel "$KC/vmlinuz" -initrd "$W/initramfs.cpio.gz" \
  -append "console=ttyS0 loglevel=4 panic=-1" \
  -vga std -display none -serial stdio -monitor none -no-reboot -nodefaults \
  > "$LOG" 2>&1 < /dev/null
qrc=$?
set -e
say "VM finished (qemu exit $qrc)"
tr -d '\r' < "$LOG" > "$LOG.txt" && mv "$LOG.txt" "$LOG"

grep -E '^(PASS|FAIL|SKIP|BENCH|HIL RESULT)' "$LOG" || true
fail=
[ "$qrc" = 124 ] && fail="the VM did not finish within ${TIMEOUT}s"
grep -q '^FAIL' "$LOG" && fail="a check failed"
grep -q '^HIL RESULT: PASS' "$LOG" || : "${fail:=the agent did not report HIL RESULT: PASS}"
if [ -n "$fail" ]; then
  echo "hil: FAILED: $fail; the console log's tail ($LOG):" >&2
  tail -n 60 "$LOG" >&2
  exit 1
fi
say "passed"
