//go:build !linux || !cgo

package camera

import (
	"errors"
	"fmt"
	"runtime"
)

// openV4L2 fails: V4L2 is Linux's, and go4vl needs cgo for the kernel's
// structures. Such builds (a laptop running the demo, a pure-Go build)
// use the simulated camera.
func openV4L2(path string) (v4l2Device, error) {
	why := "V4L2 cameras need Linux, and this is " + runtime.GOOS
	if runtime.GOOS == "linux" {
		why = "this siteclock was built without cgo, which V4L2 cameras need (CGO_ENABLED=1)"
	}
	return nil, fmt.Errorf("open %s: %s: %w", path, why, errors.ErrUnsupported)
}

// deviceGroup cannot tell who owns a device node here.
func deviceGroup(string) string { return "" }
