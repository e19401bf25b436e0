package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	// Only the GPIO character device driver (/dev/gpiochipN), on purpose.
	// host.Init() would also load bcm283x, which on a Pi 5 (RP1) may fall
	// back to /dev/mem at the Pi 4's register address. periph's sysfs
	// driver is left out too: it only adds the deprecated
	// /sys/class/gpio numbering ("GPIO571" on a Pi 5, an alias "17" that
	// would bypass the character device), no pull resistors, and its
	// driver fails anyway on kernels whose numbers collide with the line
	// names. gpioioctl registers every line under the name the kernel
	// gives it ("GPIO17" on a Pi 0–5, or any name given to a gpio-sim
	// line), which is what the configuration uses.
	_ "periph.io/x/host/v3/gpioioctl"
)

// initGPIO loads periph's registered drivers once per process.
var initGPIO = sync.OnceValue(func() error {
	restore := keepStdin()
	_, err := driverreg.Init()
	restore()
	return err
})

// gpioChipGlob is where the GPIO character devices are.
const gpioChipGlob = "/dev/gpiochip*"

// OpenPin returns the GPIO line called name ("GPIO17") through the Linux
// GPIO character device, loading the driver on first use. The name is the
// line's name as `gpioinfo` lists it, not a header pin number; "gpio17" is
// accepted for "GPIO17".
//
// When there is no such line, the error says why: no GPIO chips at all, no
// permission to open them, or a name that is not there.
func OpenPin(name string) (gpio.PinIO, error) {
	if err := initGPIO(); err != nil {
		return nil, fmt.Errorf("device: start the GPIO driver: %w", err)
	}
	if p := gpioreg.ByName(name); p != nil {
		return p, nil
	}
	if up := strings.ToUpper(name); up != name {
		if p := gpioreg.ByName(up); p != nil {
			return p, nil
		}
	}
	chips, _ := filepath.Glob(gpioChipGlob)
	return nil, missingPin(name, chips, func(path string) error {
		f, err := os.Open(path)
		if err == nil {
			f.Close()
		}
		return err
	})
}

// OpenPins opens each named line with OpenPin, in order.
func OpenPins(names []string) ([]gpio.PinIO, error) {
	pins := make([]gpio.PinIO, len(names))
	for i, n := range names {
		p, err := OpenPin(n)
		if err != nil {
			return nil, err
		}
		pins[i] = p
	}
	return pins, nil
}

// missingPin explains why no line is called name, given the GPIO chip
// devices that exist and a way to try opening one. gpioioctl skips chips
// it cannot open without saying so, so an unknown name may really be a
// permission problem.
func missingPin(name string, chips []string, open func(string) error) error {
	if len(chips) == 0 {
		return fmt.Errorf("device: no GPIO line named %s: this machine has no GPIO chips (%s); run siteclockd on the Raspberry Pi, or use the terminal or USB keypad instead", name, gpioChipGlob)
	}
	for _, c := range chips {
		if err := open(c); err != nil {
			if errors.Is(err, os.ErrPermission) {
				return fmt.Errorf("device: no GPIO line named %s: permission denied opening %s: add the service user to group gpio", name, c)
			}
			return fmt.Errorf("device: no GPIO line named %s: open %s: %w", name, c, err)
		}
	}
	return fmt.Errorf("device: no GPIO line named %s: check the name in the config; `gpioinfo` lists them", name)
}

// pinError wraps an error from configuring or driving a pin with what to
// do about it. periph's character-device driver flattens errno into a
// plain string, so the common cases are recognised by their text.
func pinError(role, name string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.EBUSY) || strings.Contains(msg, syscall.EBUSY.Error()):
		return fmt.Errorf("device: %s %s: %w: another program or kernel driver holds this line (`gpioinfo` shows its consumer)", role, name, err)
	case errors.Is(err, os.ErrPermission) ||
		strings.Contains(msg, syscall.EACCES.Error()) || strings.Contains(msg, syscall.EPERM.Error()):
		return fmt.Errorf("device: %s %s: %w: add the service user to group gpio", role, name, err)
	}
	return fmt.Errorf("device: %s %s: %w", role, name, err)
}

// edgePoll bounds one WaitForEdge call. Waiting has no "forever" value that
// every driver agrees on (gpio.PinIn says -1; the character-device driver
// reads -1 as a deadline already past and 0 as forever), so waits are
// finite and repeated: one wake-up every two seconds per pin while idle,
// which costs nothing measurable, and a bound on how long stopping takes
// if Halt misses a wait that was just starting.
const edgePoll = 2 * time.Second

// waitEdge blocks until p reports an edge or ctx is done. A driver that
// cannot wait for edges returns false at once; that would spin, so after a
// few such returns waitEdge fails instead.
func waitEdge(ctx context.Context, role string, p gpio.PinIn) error {
	early := 0
	for {
		start := time.Now()
		if p.WaitForEdge(edgePoll) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Since(start) >= edgePoll/2 {
			early = 0
			continue
		}
		if early++; early >= 3 {
			return fmt.Errorf("device: %s %s: waiting for an edge fails at once: the pin must be a GPIO line with edge detection (`gpioinfo` lists them)", role, p.Name())
		}
		// Do not spin while deciding.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// haltOnDone interrupts the pins' pending WaitForEdge calls when ctx is
// done. Callers cancel ctx when they return, so this always runs.
func haltOnDone[P interface{ Halt() error }](ctx context.Context, pins []P) {
	context.AfterFunc(ctx, func() {
		for _, p := range pins {
			_ = p.Halt() // best effort: waits are bounded by edgePoll anyway
		}
	})
}
