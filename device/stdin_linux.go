package device

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// keepStdin guards standard input across periph's GPIO start-up. When a
// chip appears twice (a Pi 5 links /dev/gpiochip4 to gpiochip0), periph
// v3.8.5's gpioioctl closes the duplicate by zeroing its descriptor and
// then closing descriptor 0: our standard input. The next line requested
// would then get descriptor 0, which periph takes for "not requested", and
// the terminal's keys would be read from a GPIO line. The returned func
// puts standard input back if it was closed meanwhile.
func keepStdin() (restore func()) {
	saved, err := syscall.Dup(0)
	if err != nil {
		return func() {} // no standard input to keep
	}
	return func() {
		defer syscall.Close(saved)
		var st syscall.Stat_t
		if err := syscall.Fstat(0, &st); err == syscall.EBADF {
			unix.Dup2(saved, 0)
		}
	}
}
