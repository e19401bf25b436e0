package display

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl requests (linux/fb.h, linux/kd.h); golang.org/x/sys/unix does not
// define them.
const (
	fbioGetVScreenInfo = 0x4600
	fbioGetFScreenInfo = 0x4602
	kdSetMode          = 0x4b3a
	kdText             = 0x00
	kdGraphics         = 0x01
)

func ioctlPtr(fd uintptr, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

func openFramebufferDevice(path string, opts FramebufferOptions) (*fbDevice, error) {
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, explainOpen(path, err)
	}
	// The mapping outlives the file descriptor.
	defer file.Close()
	var v fbVarScreeninfo
	var fx fbFixScreeninfo
	if err := ioctlPtr(file.Fd(), fbioGetVScreenInfo, unsafe.Pointer(&v)); err != nil {
		return nil, fmt.Errorf("%w: %s is not a framebuffer device (%v): name the display's framebuffer, usually /dev/fb0", ErrNoFramebuffer, path, err)
	}
	if err := ioctlPtr(file.Fd(), fbioGetFScreenInfo, unsafe.Pointer(&fx)); err != nil {
		return nil, fmt.Errorf("%w: %s is not a framebuffer device (%v): name the display's framebuffer, usually /dev/fb0", ErrNoFramebuffer, path, err)
	}
	size := int(fx.SmemLen)
	if size == 0 {
		size = int(fx.LineLength) * int(v.YresVirtual)
	}
	g, err := fbGeometryOf(v, fx, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFramebufferFormat, path, err)
	}
	mem, err := unix.Mmap(int(file.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("display: framebuffer %s: map %d bytes of screen memory: %w", path, size, err)
	}
	restore, consoleErr := graphicsConsole(opts.Console)
	return &fbDevice{
		mem: mem, g: g, consoleErr: consoleErr,
		release: func() error {
			return errors.Join(unix.Munmap(mem), restore())
		},
	}, nil
}

// graphicsConsole puts the console tty into graphics mode, so that the
// kernel neither draws its text and blinking cursor over the framebuffer nor
// blanks the screen after a while. It returns how to put the console back
// into text mode, and why the console was left alone if it was.
func graphicsConsole(tty string) (restore func() error, err error) {
	restore = func() error { return nil }
	switch tty {
	case "none":
		return restore, nil
	case "":
		tty = DefaultConsole
	}
	// O_NOCTTY: a daemon without a terminal must not acquire the console
	// as its controlling terminal by opening it. Write-only: KDSETMODE
	// needs no read access, and Debian's /dev/tty0 (crw--w---- root:tty)
	// lets the tty group write but not read.
	t, err := os.OpenFile(tty, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return restore, fmt.Errorf("display: console %s: %w; the console's cursor may show on the screen: give the service CAP_SYS_TTY_CONFIG and the tty group, or set the console to none", tty, err)
	}
	if err := unix.IoctlSetInt(int(t.Fd()), kdSetMode, kdGraphics); err != nil {
		t.Close()
		return restore, fmt.Errorf("display: console %s: switch to graphics mode: %w; the console's cursor may show on the screen: give the service CAP_SYS_TTY_CONFIG, or set the console to none", tty, err)
	}
	// If the daemon dies without Close, the console stays in graphics
	// mode until the next start switches it again; systemd restarts it.
	return func() error {
		err := unix.IoctlSetInt(int(t.Fd()), kdSetMode, kdText)
		if cerr := t.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("console %s: back to text mode: %w", tty, err)
		}
		return nil
	}, nil
}
