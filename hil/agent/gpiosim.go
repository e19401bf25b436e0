package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// simLine is one line of a gpio-sim chip, seen from the test's side: what
// the program under test drives it to (value) and the level an outside
// circuit pulls it to (pull), both in sysfs.
type simLine struct {
	name   string
	chip   string // /dev/gpiochip0
	offset uint32
	dir    string // /sys/devices/platform/gpio-sim.0/gpiochip0/sim_gpio3
	value  *os.File
	pull   *os.File
	buf    [8]byte
}

// findSimLines reads the gpio-sim chips configured under configfs (by
// hil/init.sh) and returns their named lines by name, with their sysfs
// files open: the keypad emulator reads and writes them in a tight loop.
func findSimLines(configfs string) (map[string]*simLine, error) {
	devs, err := filepath.Glob(filepath.Join(configfs, "gpio-sim", "*"))
	if err != nil || len(devs) == 0 {
		return nil, fmt.Errorf("no gpio-sim device under %s/gpio-sim (is the module loaded and configfs mounted?)", configfs)
	}
	lines := make(map[string]*simLine)
	for _, d := range devs {
		devName, err := readTrim(filepath.Join(d, "dev_name"))
		if err != nil {
			return nil, err
		}
		banks, _ := filepath.Glob(filepath.Join(d, "bank*"))
		for _, b := range banks {
			chip, err := readTrim(filepath.Join(b, "chip_name"))
			if err != nil {
				return nil, err
			}
			lds, _ := filepath.Glob(filepath.Join(b, "line*"))
			for _, ld := range lds {
				off, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(ld), "line"))
				if err != nil {
					continue
				}
				name, err := readTrim(filepath.Join(ld, "name"))
				if err != nil || name == "" {
					continue
				}
				l := &simLine{name: name, chip: "/dev/" + chip, offset: uint32(off),
					dir: fmt.Sprintf("/sys/devices/platform/%s/%s/sim_gpio%d", devName, chip, off)}
				if l.value, err = os.Open(filepath.Join(l.dir, "value")); err != nil {
					return nil, fmt.Errorf("gpio-sim line %s: %w", name, err)
				}
				if l.pull, err = os.OpenFile(filepath.Join(l.dir, "pull"), os.O_WRONLY, 0); err != nil {
					return nil, fmt.Errorf("gpio-sim line %s: %w", name, err)
				}
				lines[name] = l
			}
		}
	}
	return lines, nil
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("gpio-sim config: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// low reports whether the program under test drives the line low (or,
// for an input, whether its pull is down).
func (l *simLine) low() (bool, error) {
	n, err := unix.Pread(int(l.value.Fd()), l.buf[:], 0)
	if err != nil || n == 0 {
		return false, fmt.Errorf("gpio-sim line %s: read value: %v", l.name, err)
	}
	return l.buf[0] == '0', nil
}

// setPull pulls the line up or down, as a key or button would: an input
// line takes that level, and an edge it makes wakes the program's edge
// wait.
func (l *simLine) setPull(up bool) error {
	s := "pull-down"
	if up {
		s = "pull-up"
	}
	if _, err := unix.Pwrite(int(l.pull.Fd()), []byte(s), 0); err != nil {
		return fmt.Errorf("gpio-sim line %s: set %s: %w", l.name, s, err)
	}
	return nil
}
