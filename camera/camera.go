// Package camera has the FaceFront camera, which takes a photo of the person
// punching. The interface the kiosk consumes lives with the kiosk runner;
// this package provides implementations of it and the errors that say why no
// photo can be taken, so the runner can record the reason on the punch and
// the display can tell the person what to do.
//
// V4L2 is a USB webcam through Video4Linux (go4vl); Sim is the simulated
// camera used by the demo and headless mode.
package camera

import (
	"errors"
	"fmt"
)

// Why no photo can be taken. Implementations return errors that wrap one of
// these, with where it happened and what to do about it; use errors.Is to
// tell them apart.
var (
	ErrNoCamera   = errors.New("camera: no camera found")
	ErrPermission = errors.New("camera: permission denied")
	ErrUnplugged  = errors.New("camera: unplugged")
	ErrFormat     = errors.New("camera: format not supported")
)

// hints say what a person can do about each sentinel error.
var hints = []struct {
	err  error
	hint string
}{
	{ErrNoCamera, "connect the FaceFront camera; punches are saved without a photo until then"},
	{ErrPermission, "add the service user to the group that owns the device, usually video (usermod -aG video USER), and restart siteclock"},
	{ErrUnplugged, "check the camera cable; photos resume when it is plugged back in"},
	{ErrFormat, "use a UVC camera that sends MJPEG or YUYV, or choose a photo size the camera supports"},
}

// explain wraps err with where it happened and, when err is or wraps one of
// the sentinel errors, what to do about it:
//
//	camera: permission denied: open /dev/video0; add the service user to ...
func explain(err error, where string) error {
	for _, h := range hints {
		if errors.Is(err, h.err) {
			return fmt.Errorf("%w: %s; %s", err, where, h.hint)
		}
	}
	return fmt.Errorf("camera: %s: %w", where, err)
}
