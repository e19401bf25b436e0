package device

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pollReader reads a terminal, but waits for input with poll(2) together
// with a pipe that is closed when the context is done, so a cancelled Run
// does not wait for a key press.
type pollReader struct {
	f    *os.File
	wake *os.File // read end of the pipe; readable (at EOF) once cancelled
}

func cancelableReader(ctx context.Context, f *os.File) (io.Reader, func(), error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("device: terminal: %w", err)
	}
	stopWake := context.AfterFunc(ctx, func() { pw.Close() })
	stop := func() {
		stopWake()
		pw.Close()
		pr.Close()
	}
	return &pollReader{f: f, wake: pr}, stop, nil
}

func (r *pollReader) Read(p []byte) (int, error) {
	fds := []unix.PollFd{
		{Fd: int32(r.f.Fd()), Events: unix.POLLIN},
		{Fd: int32(r.wake.Fd()), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds, -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, fmt.Errorf("poll: %w", err)
		case fds[1].Revents != 0:
			return 0, errCanceled
		case fds[0].Revents != 0:
			// Readable, hung up or closed: Read says which.
			return r.f.Read(p)
		}
	}
}

// keepOutputProcessing turns output processing back on after term.MakeRaw
// turned it off, so that "\n" written to the terminal (a log line on
// standard error) still returns to the left margin. Input stays raw. It is
// best effort: without it the output only looks worse.
func keepOutputProcessing(fd int) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return
	}
	t.Oflag |= unix.OPOST | unix.ONLCR
	unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
