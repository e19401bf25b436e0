package device

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// I2C is an I2C bus through the Linux i2c-dev interface (/dev/i2c-N), for
// the OLED and character LCD displays.
//
// It is a small driver of our own rather than periph's sysfs package:
// importing that package registers periph's sysfs GPIO driver too, whose
// "GPIO17"-style names can collide with the GPIO character device lines
// the keypad uses (see gpio.go). The transfer is the kernel's I2C_RDWR
// ioctl: the write and the read of one Tx are one transaction with a
// repeated start, as the I2C protocol wants.
type I2C struct {
	f     *os.File
	path  string
	ioctl func(fd uintptr, req uintptr, arg unsafe.Pointer) error
}

// OpenI2C opens the I2C bus called name: "" for the first one there is,
// "1" or "/dev/i2c-1" for that bus.
func OpenI2C(name string) (*I2C, error) {
	path, err := i2cPath(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, i2cOpenError(path, err)
	}
	return &I2C{f: f, path: path, ioctl: sysIoctl}, nil
}

// i2cGlob is where the i2c-dev nodes are.
var i2cGlob = "/dev/i2c-*"

func i2cPath(name string) (string, error) {
	switch {
	case name == "":
		buses, _ := filepath.Glob(i2cGlob)
		if len(buses) == 0 {
			return "", errors.New("device: no I2C bus (/dev/i2c-*): enable I2C with raspi-config (Interface Options) or dtparam=i2c_arm=on in /boot/firmware/config.txt, and load i2c-dev")
		}
		return buses[0], nil
	case strings.HasPrefix(name, "/"):
		return name, nil
	}
	if n, err := strconv.Atoi(name); err != nil || n < 0 {
		return "", fmt.Errorf("device: I2C bus %q: give its number (\"1\" for /dev/i2c-1) or its path", name)
	}
	return "/dev/i2c-" + name, nil
}

func i2cOpenError(path string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("device: open I2C bus %s: %w; enable I2C with raspi-config (Interface Options) or dtparam=i2c_arm=on, or name another bus in display.i2c_bus", path, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("device: open I2C bus %s: %w; add the service user to the i2c group (usermod -aG i2c USER) and restart siteclock", path, err)
	}
	return fmt.Errorf("device: open I2C bus %s: %w", path, err)
}

// The i2c-dev ioctl and message flag (linux/i2c-dev.h, linux/i2c.h).
const (
	i2cRDWR = 0x0707
	i2cMRD  = 0x0001
)

// i2cMsg is struct i2c_msg: Go lays it out as C does on every Linux
// architecture (the pointer aligned to its size). The pointers are
// unsafe.Pointer, not uintptr, so the buffers stay referenced.
type i2cMsg struct {
	addr  uint16
	flags uint16
	len   uint16
	buf   unsafe.Pointer
}

// i2cRdwrData is struct i2c_rdwr_ioctl_data.
type i2cRdwrData struct {
	msgs  unsafe.Pointer
	nmsgs uint32
}

// i2cMessages is the messages of a Tx: the write, then the read.
func i2cMessages(addr uint16, w, r []byte) []i2cMsg {
	var msgs []i2cMsg
	if len(w) > 0 {
		msgs = append(msgs, i2cMsg{addr: addr, len: uint16(len(w)), buf: unsafe.Pointer(&w[0])})
	}
	if len(r) > 0 {
		msgs = append(msgs, i2cMsg{addr: addr, flags: i2cMRD, len: uint16(len(r)), buf: unsafe.Pointer(&r[0])})
	}
	return msgs
}

// Tx writes w to the device at addr, then reads len(r) bytes into r, in
// one transaction.
func (b *I2C) Tx(addr uint16, w, r []byte) error {
	if addr > 0x7f {
		return fmt.Errorf("device: I2C %s: address %#x is not a 7-bit address", b.path, addr)
	}
	if len(w) > 0xffff || len(r) > 0xffff {
		return fmt.Errorf("device: I2C %s: a transfer of more than 65535 bytes", b.path)
	}
	msgs := i2cMessages(addr, w, r)
	if len(msgs) == 0 {
		return nil
	}
	data := i2cRdwrData{msgs: unsafe.Pointer(&msgs[0]), nmsgs: uint32(len(msgs))}
	err := b.ioctl(b.f.Fd(), i2cRDWR, unsafe.Pointer(&data))
	runtime.KeepAlive(&data) // in use by the kernel until the ioctl returns
	if err != nil {
		return fmt.Errorf("device: I2C %s: transfer to %#x: %w", b.path, addr, err)
	}
	return nil
}

// SetSpeed is not supported: the bus speed is set at boot
// (dtparam=i2c_arm_baudrate in config.txt).
func (b *I2C) SetSpeed(physic.Frequency) error {
	return errors.New("device: the I2C bus speed is set at boot with dtparam=i2c_arm_baudrate, not at run time")
}

func (b *I2C) String() string { return b.path }

// Close closes the bus.
func (b *I2C) Close() error { return b.f.Close() }

var _ i2c.BusCloser = (*I2C)(nil)

func sysIoctl(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
