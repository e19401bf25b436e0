#!/bin/sh
# /init of the hardware-in-the-loop VM (see hil/README.md): mounts the
# kernel's file systems, loads the drivers the kiosk uses (vivid as the
# camera, gpio-sim as the keypad and buttons, bochs as the framebuffer),
# names the simulated GPIO lines like the Raspberry Pi's header pins, runs
# the test agent and powers off. hil/run.sh reads the console for the
# agent's PASS/FAIL/BENCH lines.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo "HIL init: kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime)s"

# In the order modprobe resolved (dependencies first).
for m in $(cat /modules.list); do
  args=
  case $m in
    vivid.ko) args="n_devs=1 node_types=0x1 input_types=0x0" ;; # one capture node; every input a webcam (fixed sizes and rates, as a USB webcam)
  esac
  insmod "/lib/modules/$m" $args || echo "HIL init: insmod $m failed"
done

mount -t configfs none /sys/kernel/config # configfs is a module gpio-sim needs

# One gpio-sim chip whose lines carry the Pi's names, so the daemon's
# config (rows = ["GPIO5", ...]) finds them the way it does on a Pi.
# Keypad rows GPIO5 GPIO6 GPIO13 GPIO19, columns GPIO12 GPIO16 GPIO20;
# buttons IN GPIO23, OUT GPIO24; status LED GPIO17, buzzer GPIO27.
G=/sys/kernel/config/gpio-sim/kiosk
if mkdir $G $G/bank0; then
  names="GPIO5 GPIO6 GPIO13 GPIO19 GPIO12 GPIO16 GPIO20 GPIO23 GPIO24 GPIO17 GPIO27"
  echo 11 > $G/bank0/num_lines
  echo pi-header-sim > $G/bank0/label
  i=0
  for n in $names; do
    mkdir $G/bank0/line$i && echo $n > $G/bank0/line$i/name
    i=$((i+1))
  done
  echo 1 > $G/live || echo "HIL init: gpio-sim would not go live"
  echo "HIL init: gpio-sim $(cat $G/dev_name) $(cat $G/bank0/chip_name)"
else
  echo "HIL init: no gpio-sim in configfs"
fi

# The framebuffer appears once bochs has probed.
i=0; while [ ! -e /dev/fb0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
echo "HIL init: devices: $(ls /dev/video* /dev/gpiochip* /dev/fb* 2>&1 | tr '\n' ' ')"
echo "HIL init: starting the agent, uptime $(cut -d' ' -f1 /proc/uptime)s"
/bin/hil-agent -siteclockd /bin/siteclockd -work /tmp/hil
echo "HIL init: agent exited with $?, uptime $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
