package device

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// evIOCGRAB is EVIOCGRAB, _IOW('E', 0x90, int) in linux/input.h: with a
// non-zero argument, this file gets the device's events and nobody else.
// Closing the file releases the grab.
const evIOCGRAB = 0x40044590

// openEvdev opens an input event device and grabs it. The file is
// non-blocking, so Go's poller waits for events and Close interrupts a
// pending Read.
func openEvdev(path string) (io.ReadCloser, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	if err := unix.IoctlSetInt(fd, evIOCGRAB, 1); err != nil {
		unix.Close(fd)
		return nil, openError(path, fmt.Errorf("grab %s: %w", path, err))
	}
	return os.NewFile(uintptr(fd), path), nil
}
