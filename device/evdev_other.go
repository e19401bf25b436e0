//go:build !linux

package device

import (
	"errors"
	"io"
)

// openEvdev fails: input event devices are Linux's.
func openEvdev(path string) (io.ReadCloser, error) {
	return nil, errors.New("open " + path + ": input event devices need Linux")
}
