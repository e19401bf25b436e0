package main

import (
	"fmt"
	"time"

	"github.com/vladimirvivien/go4vl/v4l2"
	"golang.org/x/sys/unix"
)

// frameInterval asks the camera at path how long it takes per frame, the
// unit the photo latency is judged in. It opens a second handle, which
// V4L2 allows beside the one streaming.
func frameInterval(path string) (time.Duration, error) {
	fd, err := v4l2.OpenDevice(path, unix.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	defer v4l2.CloseDevice(fd)
	p, err := v4l2.GetStreamParam(fd, v4l2.BufTypeVideoCapture)
	if err != nil {
		return 0, err
	}
	f := p.Capture.TimePerFrame
	if f.Denominator == 0 {
		return 0, fmt.Errorf("%s reports no frame interval", path)
	}
	return time.Duration(f.Numerator) * time.Second / time.Duration(f.Denominator), nil
}
