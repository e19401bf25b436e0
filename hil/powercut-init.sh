#!/bin/sh
# /powercut-init of the power-cut VM (hil/run.sh powercut boots the same
# initramfs as the hardware checks with rdinit=/powercut-init): mounts the
# kernel's file systems, loads virtio-blk and ext4, and runs the agent's
# power-cut boot (hil/agent/powercut.go), which mounts the virtual disk,
# checks it, and punches until the host kills QEMU, or (the last boot)
# unmounts it cleanly. The host's cutter reads the console.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo "POWERCUT init: kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime)s"
for m in $(cat /powercut.list); do
  # crc32c-intel needs SSE4.2, which TCG's default CPU lacks;
  # crc32c_generic, next in the list, serves ext4 instead.
  insmod "/lib/modules/$m" 2>/dev/null || [ "$m" = crc32c-intel.ko ] || echo "POWERCUT init: insmod $m failed"
done
/bin/hil-agent -powercut
echo "POWERCUT init: agent exited with $?, uptime $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
