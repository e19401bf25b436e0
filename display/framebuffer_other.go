//go:build !linux

package display

import "fmt"

// Framebuffer devices are a Linux interface; elsewhere (a developer's Mac)
// the kiosk runs with the terminal display.
func openFramebufferDevice(path string, opts FramebufferOptions) (*fbDevice, error) {
	return nil, fmt.Errorf("%w: %s: framebuffer displays need Linux; use the terminal display here", ErrNoFramebuffer, path)
}

func graphicsConsole(tty string) (restore func() error, err error) {
	return func() error { return nil }, nil
}
