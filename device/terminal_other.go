//go:build !linux

package device

import (
	"context"
	"io"
	"os"
)

// cancelableReader reads f directly: outside Linux, where the kiosk runs for
// the demo only, a cancelled Run waits for the next key press rather than
// poll a terminal portably.
func cancelableReader(ctx context.Context, f *os.File) (io.Reader, func(), error) {
	return f, func() {}, nil
}

// keepOutputProcessing does nothing outside Linux; the display ends its lines
// with "\r\n" anyway.
func keepOutputProcessing(fd int) {}
