package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// fakeCam is a camera as the V4L2 type sees it through v4l2Device. Tests
// feed it frames one by one through frames, and read what was done to it
// from the counters.
type fakeCam struct {
	t      *testing.T
	frames chan result   // what Frame returns next; closed: the stream ended
	asking chan struct{} // gets a token each time Frame waits

	mu         sync.Mutex
	formats    []Format
	formatsErr error
	adjust     func(Format) Format // the driver's choice on SetFormat; nil: as asked
	startErr   error
	auto       func() frame // if set, Frame returns its frames instead of waiting

	open, streaming                           bool
	opens, closes, starts, stops, formatCalls int
	set                                       []Format
}

type result struct {
	f   frame
	err error
}

func newFakeCam(t *testing.T, formats ...Format) *fakeCam {
	return &fakeCam{t: t, formats: formats, frames: make(chan result), asking: make(chan struct{}, 1000)}
}

func (c *fakeCam) Card() string { return "Fake Cam" }

func (c *fakeCam) Formats() ([]Format, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mustBeOpen("Formats")
	c.formatCalls++
	return c.formats, c.formatsErr
}

func (c *fakeCam) SetFormat(f Format) (Format, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mustBeOpen("SetFormat")
	c.set = append(c.set, f)
	if c.adjust != nil {
		return c.adjust(f), nil
	}
	return f, nil
}

func (c *fakeCam) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mustBeOpen("Start")
	if c.streaming {
		c.t.Error("Start while streaming")
	}
	c.starts++
	if c.startErr != nil {
		return c.startErr
	}
	c.streaming = true
	return nil
}

func (c *fakeCam) Frame(ctx context.Context) (frame, error) {
	c.mu.Lock()
	c.mustBeOpen("Frame")
	if !c.streaming {
		c.t.Error("Frame while not streaming")
	}
	auto := c.auto
	c.mu.Unlock()
	if auto != nil {
		return auto(), nil
	}
	c.asking <- struct{}{}
	select {
	case r, ok := <-c.frames:
		if !ok {
			return frame{}, errStreamEnded
		}
		return r.f, r.err
	case <-ctx.Done():
		return frame{}, ctx.Err()
	}
}

func (c *fakeCam) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mustBeOpen("Stop")
	if c.streaming {
		c.stops++
	}
	c.streaming = false
	return nil
}

func (c *fakeCam) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.open {
		c.t.Error("Close of a closed device")
	}
	if c.streaming {
		c.t.Error("Close while streaming; want Stop first")
	}
	c.open = false
	c.closes++
	return nil
}

func (c *fakeCam) mustBeOpen(op string) {
	if !c.open {
		c.t.Errorf("%s on a closed device", op)
	}
}

// counts is what was done to a fakeCam.
type counts struct{ opens, closes, starts, stops int }

func (c *fakeCam) counts() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return counts{c.opens, c.closes, c.starts, c.stops}
}

func (c *fakeCam) isStreaming() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streaming
}

// rig is a camera plugged into (or out of) a V4L2.
type rig struct {
	mu      sync.Mutex
	cam     *fakeCam
	openErr error // what opening fails with: the camera is not there
}

func (r *rig) open(path string) (v4l2Device, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.openErr != nil {
		return nil, r.openErr
	}
	c := r.cam
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open {
		c.t.Error("device opened twice")
	}
	c.open = true
	c.opens++
	return c, nil
}

func (r *rig) unplug(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.openErr = err
}

var (
	mjpeg640 = Format{FourCC: FourCCMJPEG, Width: 640, Height: 480}
	yuyv640  = Format{FourCC: FourCCYUYV, Width: 640, Height: 480}
	small    = V4L2Config{Device: "/dev/video7", Width: 64, Height: 48}
	asked    = time.Date(2025, 3, 4, 7, 2, 5, 0, time.UTC) // when the photos are asked for
	noDevice = &fs.PathError{Op: "stat", Path: "/dev/video7", Err: syscall.ENOENT}
)

// newRig returns a V4L2 whose camera offers formats and whose clock says
// a photo is asked for at asked.
func newRig(t *testing.T, cfg V4L2Config, formats ...Format) (*V4L2, *rig) {
	r := &rig{cam: newFakeCam(t, formats...)}
	v := newV4L2(cfg, r.open)
	v.now = func() time.Time { return asked }
	v.groupOf = func(string) string { return "camgrp" }
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return v, r
}

// testJPEG is a w×h JPEG of one colour, so a photo tells which frame it was.
func testJPEG(t testing.TB, w, h int, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []byte{c.R, c.G, c.B, 255})
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
)

// capture runs Capture in the background.
func capture(ctx context.Context, v *V4L2) <-chan result2 {
	ch := make(chan result2, 1)
	go func() {
		photo, err := v.Capture(ctx)
		ch <- result2{photo, err}
	}()
	return ch
}

type result2 struct {
	photo []byte
	err   error
}

// feed hands frames to the capture behind got, one each time it asks
// for one, and returns what the capture returned: early, if it returned
// before taking them all.
func (c *fakeCam) feed(got <-chan result2, frames ...result) result2 {
	for _, f := range frames {
		select {
		case <-c.asking:
			c.frames <- f
		case res := <-got:
			return res
		}
	}
	return <-got
}

// at is a frame of data taken at t.
func at(t time.Time, data []byte) result { return result{f: frame{data: data, at: t}} }

// failing is a frame that could not be read for err.
func failing(err error) result { return result{err: err} }

func TestChooseFormat(t *testing.T) {
	tests := []struct {
		name    string
		offered []Format
		w, h    int
		want    Format
	}{
		{"MJPEG preferred", []Format{yuyv640, mjpeg640}, 640, 480, mjpeg640},
		{"YUYV when no MJPEG", []Format{{FourCC: "H264", Width: 640, Height: 480}, yuyv640}, 640, 480, yuyv640},
		{"JPEG counts as MJPEG", []Format{yuyv640, {FourCC: FourCCJPEG, Width: 640, Height: 480}}, 640, 480,
			Format{FourCC: FourCCJPEG, Width: 640, Height: 480}},
		{"size before format", []Format{{FourCC: FourCCMJPEG, Width: 1920, Height: 1080}, yuyv640}, 640, 480, yuyv640},
		{"closest size", []Format{
			{FourCC: FourCCMJPEG, Width: 320, Height: 240},
			{FourCC: FourCCMJPEG, Width: 800, Height: 600},
			{FourCC: FourCCMJPEG, Width: 1280, Height: 720},
		}, 640, 480, Format{FourCC: FourCCMJPEG, Width: 800, Height: 600}},
		{"closest size, other format", []Format{
			{FourCC: FourCCMJPEG, Width: 1280, Height: 720},
			{FourCC: FourCCYUYV, Width: 320, Height: 240},
			{FourCC: FourCCYUYV, Width: 800, Height: 600},
		}, 640, 480, Format{FourCC: FourCCYUYV, Width: 800, Height: 600}},
		{"equal distance: larger", []Format{
			{FourCC: FourCCMJPEG, Width: 640, Height: 360}, // 76800 pixels off
			{FourCC: FourCCMJPEG, Width: 640, Height: 600}, // 76800 pixels off
		}, 640, 480, Format{FourCC: FourCCMJPEG, Width: 640, Height: 600}},
		{"no sizes listed: the one asked for", []Format{{FourCC: FourCCYUYV}}, 800, 600, Format{FourCC: FourCCYUYV, Width: 800, Height: 600}},
		{"no sizes listed beats a listed size further off", []Format{{FourCC: FourCCYUYV}, {FourCC: FourCCMJPEG, Width: 320, Height: 240}}, 640, 480,
			Format{FourCC: FourCCYUYV, Width: 640, Height: 480}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chooseFormat(tt.offered, tt.w, tt.h)
			if err != nil || got != tt.want {
				t.Errorf("chooseFormat = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestChooseFormatVivid(t *testing.T) {
	// What the vivid virtual camera offers, as listed by the binding.
	offered := readFormats(t, "testdata/v4l2-vivid-formats.txt")
	got, err := chooseFormat(offered, 640, 480)
	if err != nil || got != yuyv640 {
		t.Errorf("chooseFormat(vivid) = %v, %v; want %v", got, err, yuyv640)
	}
	got, err = chooseFormat(offered, 1024, 768)
	if want := (Format{FourCC: FourCCYUYV, Width: 1280, Height: 720}); err != nil || got != want {
		t.Errorf("chooseFormat(vivid, 1024x768) = %v, %v; want %v", got, err, want)
	}
}

// readFormats reads a format listing: a line per format, its four
// characters then its sizes ("any" for a format listed without).
func readFormats(t *testing.T, name string) []Format {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []Format
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		for _, size := range fields[1:] {
			f := Format{FourCC: fields[0]}
			if size != "any" {
				if _, err := fmt.Sscanf(size, "%dx%d", &f.Width, &f.Height); err != nil {
					t.Fatalf("%s: %q: %v", name, line, err)
				}
			}
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no formats", name)
	}
	return out
}

func TestV4L2NoUsableFormat(t *testing.T) {
	tests := []struct {
		name    string
		offered []Format
		want    []string
	}{
		{"others", []Format{
			{FourCC: "H264", Width: 1920, Height: 1080},
			{FourCC: "H264", Width: 1280, Height: 720},
			{FourCC: "GREY"},
		}, []string{"offers H264 (1920x1080, 1280x720), GREY (any size)", "want MJPEG or YUYV"}},
		{"none", nil, []string{"offers no video formats"}},
		{"many", []Format{
			{FourCC: "A"}, {FourCC: "B"}, {FourCC: "C"}, {FourCC: "D"}, {FourCC: "E"},
			{FourCC: "F"}, {FourCC: "G"}, {FourCC: "H"}, {FourCC: "I"}, {FourCC: "J"},
		}, []string{"offers A (any size), B (any size)", "H (any size), and 2 more; want MJPEG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, r := newRig(t, small, tt.offered...)
			for name, call := range map[string]func() error{
				"Check":   func() error { return v.Check(t.Context()) },
				"Start":   func() error { return v.Start(t.Context()) },
				"Capture": func() error { _, err := v.Capture(t.Context()); return err },
			} {
				err := call()
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("%s = %v, want ErrFormat", name, err)
				}
				for _, w := range append(tt.want, "/dev/video7", "use a UVC camera") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s = %q, want it to say %q", name, err, w)
					}
				}
			}
			if c := r.cam.counts(); c.opens != 3 || c.closes != 3 || c.starts != 0 {
				t.Errorf("camera %+v, want opened and closed 3 times, never started", c)
			}
		})
	}
}

func TestV4L2DriverSwitchesFormat(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	r.cam.adjust = func(f Format) Format { f.FourCC = "H264"; return f }
	err := v.Start(t.Context())
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "asked for MJPG, the driver chose H264") {
		t.Errorf("Start = %v, want ErrFormat saying what the driver chose", err)
	}
	if c := r.cam.counts(); c.opens != 1 || c.closes != 1 || c.starts != 0 {
		t.Errorf("camera %+v, want opened and closed, never started", c)
	}
}

func TestV4L2OpenErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error // nil: none of the sentinels
		says []string
	}{
		{"no node", noDevice, ErrNoCamera, []string{"stat /dev/video7: no such file", "connect the FaceFront camera"}},
		{"ENODEV", &fs.PathError{Op: "open", Path: "/dev/video7", Err: syscall.ENODEV}, ErrNoCamera, nil},
		{"ENXIO", &fs.PathError{Op: "open", Path: "/dev/video7", Err: syscall.ENXIO}, ErrNoCamera, nil},
		{"EACCES", &fs.PathError{Op: "open", Path: "/dev/video7", Err: syscall.EACCES}, ErrPermission,
			[]string{"open /dev/video7: permission denied", "belongs to group camgrp", "usermod"}},
		{"EPERM", &fs.PathError{Op: "open", Path: "/dev/video7", Err: syscall.EPERM}, ErrPermission, []string{"group camgrp"}},
		{"EBUSY", &fs.PathError{Op: "open", Path: "/dev/video7", Err: syscall.EBUSY}, nil, []string{"another program is using the camera"}},
		{"not a camera", fmt.Errorf("/dev/video7: %w", errNotCapture), ErrFormat, []string{"not a video capture device"}},
		{"no V4L2 here", fmt.Errorf("open /dev/video7: V4L2 cameras need Linux: %w", errors.ErrUnsupported), nil, []string{"need Linux"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, r := newRig(t, small, mjpeg640)
			r.unplug(tt.err)
			checkErr := v.Check(t.Context())
			startErr := v.Start(t.Context())
			_, captureErr := v.Capture(t.Context())
			for name, err := range map[string]error{"Check": checkErr, "Start": startErr, "Capture": captureErr} {
				if err == nil || !errors.Is(err, tt.err) {
					t.Fatalf("%s = %v, want an error wrapping %v", name, err, tt.err)
				}
				for _, s := range []error{ErrNoCamera, ErrPermission, ErrUnplugged, ErrFormat} {
					if errors.Is(err, s) != (s == tt.kind) {
						t.Errorf("%s = %v: errors.Is(%v) = %v", name, err, s, !(s == tt.kind))
					}
				}
				if !strings.HasPrefix(err.Error(), "camera: ") {
					t.Errorf("%s = %q, want it to start with camera:", name, err)
				}
				for _, w := range tt.says {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s = %q, want it to say %q", name, err, w)
					}
				}
			}
		})
	}
}

func TestV4L2CheckOpensAndCloses(t *testing.T) {
	v, r := newRig(t, small, mjpeg640, yuyv640)
	if got := v.Info(); got.Format.FourCC != "" || got.Card != "" {
		t.Errorf("Info before the camera was seen = %+v, want no format or card", got)
	}
	for range 3 {
		if err := v.Check(t.Context()); err != nil {
			t.Fatalf("Check = %v", err)
		}
	}
	// Open only for the look: a held device keeps its name when unplugged.
	if c := r.cam.counts(); c.opens != 3 || c.closes != 3 || c.starts != 0 {
		t.Errorf("camera %+v after 3 checks, want opened and closed 3 times, never started", c)
	}
	want := V4L2Info{Device: "/dev/video7", Card: "Fake Cam", Format: Format{FourCC: FourCCMJPEG, Width: 640, Height: 480}}
	if got := v.Info(); got != want {
		t.Errorf("Info = %+v, want %+v", got, want)
	}
	if got, want := v.Info().String(), "/dev/video7 (Fake Cam): MJPG 640x480"; got != want {
		t.Errorf("Info().String() = %q, want %q", got, want)
	}
}

func TestV4L2CaptureFreshFrame(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	got := capture(t.Context(), v)
	// Frames the camera took before the photo was asked for, still
	// queued, come first; then one taken just after.
	fresh := testJPEG(t, 8, 8, blue)
	res := r.cam.feed(got,
		at(asked.Add(-2*time.Second), testJPEG(t, 8, 8, red)),
		at(asked.Add(-time.Millisecond), testJPEG(t, 8, 8, green)),
		at(asked.Add(30*time.Millisecond), fresh))
	if res.err != nil {
		t.Fatal(res.err)
	}
	if !bytes.Equal(res.photo, fresh) {
		t.Errorf("photo is %v, want the blue frame taken after the photo was asked for, as it came", decode(t, res.photo).At(0, 0))
	}
	// Not streaming before, so streamed for this photo only.
	if c := r.cam.counts(); c != (counts{opens: 1, closes: 1, starts: 1, stops: 1}) {
		t.Errorf("camera %+v, want opened, started, stopped and closed once", c)
	}
	if v.Info().Streaming {
		t.Error("Info says streaming after the photo")
	}
}

func TestV4L2CaptureFrameAtRequest(t *testing.T) {
	// A frame taken at the very moment of the request counts as fresh.
	v, r := newRig(t, small, mjpeg640)
	got := capture(t.Context(), v)
	photo := testJPEG(t, 8, 8, green)
	if res := r.cam.feed(got, at(asked, photo)); res.err != nil || !bytes.Equal(res.photo, photo) {
		t.Errorf("Capture = %d bytes, %v; want the frame taken at the request", len(res.photo), res.err)
	}
}

func TestV4L2CaptureYUYV(t *testing.T) {
	v, r := newRig(t, V4L2Config{Device: "/dev/video7", Width: 192, Height: 16}, Format{FourCC: FourCCYUYV})
	data, w, h := yuyvFrame(bt601Limited, 0)
	r.cam.adjust = func(f Format) Format {
		if f != (Format{FourCC: FourCCYUYV, Width: w, Height: h}) {
			t.Errorf("SetFormat(%v), want YUYV at the configured size", f)
		}
		f.stride = 2 * w
		return f
	}
	got := capture(t.Context(), v)
	res := r.cam.feed(got, at(asked, data))
	if res.err != nil {
		t.Fatal(res.err)
	}
	img := decode(t, res.photo)
	for i, want := range patches {
		if c := img.At(i*patchSize+patchSize/2, patchSize/2); !near(c, want, 6) {
			t.Errorf("patch %d is %v, want %v", i, c, want)
		}
	}
}

func TestV4L2CaptureSkipsBrokenFrames(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	got := capture(t.Context(), v)
	good := testJPEG(t, 8, 8, green)
	res := r.cam.feed(got, at(asked, []byte("not a picture")), at(asked, good[:len(good)/2]), at(asked, good))
	if res.err != nil || !bytes.Equal(res.photo, good) {
		t.Errorf("Capture = %d bytes, %v; want the first whole frame", len(res.photo), res.err)
	}

	// A camera that sends nothing usable fails the photo rather than
	// keeping it waiting.
	got = capture(t.Context(), v)
	var broken []result
	for range maxBrokenFrames {
		broken = append(broken, at(asked, []byte{0xff, 0xd8, 0, 0}))
	}
	res = r.cam.feed(got, broken...)
	if res.err == nil || res.photo != nil || !strings.Contains(res.err.Error(), "10 unusable frames in a row") {
		t.Errorf("Capture = %d bytes, %v; want an error about unusable frames", len(res.photo), res.err)
	}
	if r.cam.isStreaming() {
		t.Error("still streaming after the failed photo")
	}
}

func TestV4L2StreamErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error // what the next frame fails with; nil: the stream ends
	}{
		{"ENODEV", fmt.Errorf("dequeue a frame: %w", syscall.ENODEV)},
		{"EIO", fmt.Errorf("dequeue a frame: %w", syscall.EIO)},
		{"no answer", fmt.Errorf("dequeue a frame: %w (buffer dequeue: system error)", errNoAnswer)},
		{"stream ends", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, r := newRig(t, small, mjpeg640)
			got := capture(t.Context(), v)
			var res result2
			if tt.err != nil {
				res = r.cam.feed(got, failing(tt.err))
			} else {
				<-r.cam.asking
				close(r.cam.frames)
				res = <-got
			}
			if !errors.Is(res.err, ErrUnplugged) || res.photo != nil {
				t.Fatalf("Capture = %d bytes, %v; want ErrUnplugged", len(res.photo), res.err)
			}
			if msg := res.err.Error(); !strings.Contains(msg, "capture from /dev/video7") || !strings.Contains(msg, "check the camera cable") {
				t.Errorf("Capture = %q, want where and what to do", msg)
			}
			if c := r.cam.counts(); c.closes != 1 || r.cam.isStreaming() {
				t.Errorf("camera %+v, want it stopped and closed", c)
			}
		})
	}
}

func TestV4L2StartFails(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	r.cam.startErr = fmt.Errorf("stream on: %w", syscall.ENODEV)
	if err := v.Start(t.Context()); !errors.Is(err, ErrUnplugged) {
		t.Errorf("Start = %v, want ErrUnplugged", err)
	}
	if c := r.cam.counts(); c.opens != 1 || c.closes != 1 {
		t.Errorf("camera %+v, want it closed again", c)
	}
	// The next Start tries again.
	r.cam.mu.Lock()
	r.cam.startErr = nil
	r.cam.mu.Unlock()
	if err := v.Start(t.Context()); err != nil {
		t.Errorf("Start again = %v", err)
	}
	if !v.Info().Streaming {
		t.Error("not streaming after Start")
	}
}

func TestV4L2UnplugMidCaptureThenBack(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	if err := v.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := capture(t.Context(), v)
	r.unplug(noDevice) // the node goes as the stream fails
	if res := r.cam.feed(got, failing(fmt.Errorf("dequeue a frame: %w", errNoAnswer))); !errors.Is(res.err, ErrUnplugged) {
		t.Fatalf("Capture = %v, want ErrUnplugged", res.err)
	}
	if err := v.Check(t.Context()); !errors.Is(err, ErrNoCamera) {
		t.Errorf("Check while unplugged = %v, want ErrNoCamera", err)
	}
	// The kiosk goes back to idle.
	if err := v.Stop(); err != nil {
		t.Errorf("Stop after the camera went = %v, want nil", err)
	}

	r.unplug(nil) // plugged back in
	if err := v.Check(t.Context()); err != nil {
		t.Fatalf("Check after plugging back in = %v", err)
	}
	got = capture(t.Context(), v)
	photo := testJPEG(t, 8, 8, red)
	if res := r.cam.feed(got, at(asked, photo)); res.err != nil || !bytes.Equal(res.photo, photo) {
		t.Errorf("Capture after plugging back in = %d bytes, %v", len(res.photo), res.err)
	}
	if c := r.cam.counts(); c.opens != c.closes || r.cam.isStreaming() {
		t.Errorf("camera %+v, want every open closed", c)
	}
}

func TestV4L2CheckWhileStreaming(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	if err := v.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := r.cam.formatCalls
	if err := v.Check(t.Context()); err != nil {
		t.Errorf("Check while streaming = %v", err)
	}
	if c := r.cam.counts(); c.opens != 1 || r.cam.formatCalls != calls+1 {
		t.Errorf("camera %+v, %d format calls; want one probe of the open device", c, r.cam.formatCalls-calls)
	}

	// Unplugged while streaming: the probe fails, the device is closed
	// and looked for afresh.
	r.cam.mu.Lock()
	r.cam.formatsErr = fmt.Errorf("list formats: %w", errNoAnswer)
	r.cam.mu.Unlock()
	r.unplug(noDevice)
	if err := v.Check(t.Context()); !errors.Is(err, ErrNoCamera) {
		t.Errorf("Check after unplugging = %v, want ErrNoCamera", err)
	}
	if c := r.cam.counts(); c.closes != 1 || r.cam.isStreaming() {
		t.Errorf("camera %+v, want it stopped and closed", c)
	}

	// Back, and a PIN still being typed (no Stop yet): streaming again.
	r.cam.mu.Lock()
	r.cam.formatsErr = nil
	r.cam.mu.Unlock()
	r.unplug(nil)
	if err := v.Check(t.Context()); err != nil {
		t.Errorf("Check after plugging back in = %v", err)
	}
	if c := r.cam.counts(); c.opens != 2 || c.starts != 2 || !v.Info().Streaming {
		t.Errorf("camera %+v, want it opened and started again", c)
	}
}

func TestV4L2StartStopIdempotent(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	if err := v.Stop(); err != nil {
		t.Errorf("Stop before Start = %v", err)
	}
	for range 2 {
		if err := v.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if c := r.cam.counts(); c != (counts{opens: 1, starts: 1}) || !v.Info().Streaming {
		t.Errorf("camera %+v after Start twice, want opened and started once", c)
	}

	// A photo from the warm stream leaves it streaming.
	got := capture(t.Context(), v)
	if res := r.cam.feed(got, at(asked, testJPEG(t, 8, 8, red))); res.err != nil {
		t.Fatal(res.err)
	}
	if c := r.cam.counts(); c != (counts{opens: 1, starts: 1}) {
		t.Errorf("camera %+v after a photo while streaming, want it still streaming", c)
	}

	for range 2 {
		if err := v.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if c := r.cam.counts(); c != (counts{opens: 1, closes: 1, starts: 1, stops: 1}) || v.Info().Streaming {
		t.Errorf("camera %+v after Stop twice, want stopped and closed once", c)
	}
	if err := v.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := r.cam.counts(); c.opens != 2 || c.starts != 2 {
		t.Errorf("camera %+v after Start again, want it opened again", c)
	}
}

func TestV4L2CaptureCancelled(t *testing.T) {
	for _, warm := range []bool{false, true} {
		t.Run(fmt.Sprintf("streaming=%v", warm), func(t *testing.T) {
			v, r := newRig(t, small, mjpeg640)
			if warm {
				if err := v.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(t.Context())
			got := capture(ctx, v)
			<-r.cam.asking // waiting for a frame
			cancel()
			res := <-got
			if !errors.Is(res.err, context.Canceled) || res.photo != nil {
				t.Fatalf("Capture = %d bytes, %v; want context.Canceled", len(res.photo), res.err)
			}
			if r.cam.isStreaming() != warm {
				t.Errorf("streaming = %v after a cancelled photo, want %v", !warm, warm)
			}
			// The camera is fine: the next photo works.
			got = capture(t.Context(), v)
			if res := r.cam.feed(got, at(asked, testJPEG(t, 8, 8, red))); res.err != nil {
				t.Errorf("Capture after a cancelled one = %v", res.err)
			}
		})
	}
	// The time allowed runs out: the camera sent nothing, so even a warm
	// one is opened afresh for the next photo.
	synctest.Test(t, func(t *testing.T) {
		v, r := newRig(t, small, mjpeg640)
		if err := v.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		photo, err := v.Capture(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || photo != nil || !strings.Contains(err.Error(), "no picture from the camera in time") {
			t.Errorf("Capture = %d bytes, %v; want context.DeadlineExceeded", len(photo), err)
		}
		if c := r.cam.counts(); c.closes != 1 || r.cam.isStreaming() {
			t.Errorf("camera %+v after a photo timed out, want it closed", c)
		}
	})

	// Cancelled before it starts: the camera is not touched.
	v, r := newRig(t, small, mjpeg640)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := v.Capture(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Capture = %v, want context.Canceled", err)
	}
	if c := r.cam.counts(); c.opens != 0 {
		t.Errorf("camera %+v, want it untouched", c)
	}
}

func TestV4L2DuringCapture(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	if err := v.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := capture(t.Context(), v)
	<-r.cam.asking
	// Check and Stop answer at once while a photo is being taken (this
	// test would hang otherwise) and leave the device to it.
	calls := r.cam.formatCalls
	if err := v.Check(t.Context()); err != nil {
		t.Errorf("Check during a photo = %v", err)
	}
	if err := v.Start(t.Context()); err != nil {
		t.Errorf("Start during a photo = %v", err)
	}
	if err := v.Stop(); err != nil {
		t.Errorf("Stop during a photo = %v", err)
	}
	if c := r.cam.counts(); c.stops != 0 || r.cam.formatCalls != calls {
		t.Errorf("camera %+v touched during the photo", c)
	}
	photo := testJPEG(t, 8, 8, red)
	r.cam.frames <- at(asked, photo) // it asked already
	if res := <-got; res.err != nil || !bytes.Equal(res.photo, photo) {
		t.Errorf("Capture = %d bytes, %v", len(res.photo), res.err)
	}
	// The Stop took effect when the photo was done.
	if c := r.cam.counts(); c != (counts{opens: 1, closes: 1, starts: 1, stops: 1}) {
		t.Errorf("camera %+v, want it stopped after the photo", c)
	}
}

func TestV4L2CloseDuringCapture(t *testing.T) {
	v, r := newRig(t, small, mjpeg640)
	got := capture(t.Context(), v)
	<-r.cam.asking
	if err := v.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if res := <-got; !errors.Is(res.err, errClosed) {
		t.Errorf("Capture = %v, want %v", res.err, errClosed)
	}
	if c := r.cam.counts(); c.closes != 1 || r.cam.isStreaming() {
		t.Errorf("camera %+v, want it stopped and closed", c)
	}
	for name, err := range map[string]error{
		"Check": v.Check(t.Context()),
		"Start": v.Start(t.Context()),
	} {
		if !errors.Is(err, errClosed) {
			t.Errorf("%s after Close = %v, want %v", name, err, errClosed)
		}
	}
	if _, err := v.Capture(t.Context()); !errors.Is(err, errClosed) {
		t.Errorf("Capture after Close = %v, want %v", err, errClosed)
	}
}

func TestV4L2ReportsSize(t *testing.T) {
	var logs bytes.Buffer
	cfg := small
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	v, r := newRig(t, cfg, Format{FourCC: FourCCMJPEG}) // no sizes listed
	r.cam.adjust = func(f Format) Format { f.Width, f.Height = 80, 60; return f }
	for range 2 {
		if err := v.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := v.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := v.Info().Format, (Format{FourCC: FourCCMJPEG, Width: 80, Height: 60}); got != want {
		t.Errorf("Info().Format = %v, want what the driver chose, %v", got, want)
	}
	out := logs.String()
	if n := strings.Count(out, "closest"); n != 1 || !strings.Contains(out, "want=64x48 got=80x60") {
		t.Errorf("log:\n%s\nwant the size difference logged once", out)
	}
	if !strings.Contains(out, "device=/dev/video7") {
		t.Errorf("log:\n%s\nwant the device named", out)
	}
}

func TestV4L2Concurrent(t *testing.T) {
	// The runner's goroutines at once; run with -race.
	v, r := newRig(t, small, mjpeg640)
	photo := testJPEG(t, 8, 8, red)
	r.cam.auto = func() frame { return frame{data: photo, at: asked} }
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 50 {
			if err := v.Check(t.Context()); err != nil {
				t.Errorf("Check = %v", err)
			}
		}
	})
	wg.Go(func() {
		for i := range 50 {
			var err error
			if i%2 == 0 {
				err = v.Start(t.Context())
			} else {
				err = v.Stop()
			}
			if err != nil {
				t.Errorf("Start/Stop = %v", err)
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if got, err := v.Capture(t.Context()); err != nil || !bytes.Equal(got, photo) {
					t.Errorf("Capture = %d bytes, %v", len(got), err)
				}
				_ = v.Info()
			}
		})
	}
	wg.Wait()
	if err := v.Stop(); err != nil {
		t.Fatal(err)
	}
	if c := r.cam.counts(); c.opens != c.closes || c.starts != c.stops {
		t.Errorf("camera %+v, want every open closed and every start stopped", c)
	}
}

func TestCompleteJPEG(t *testing.T) {
	whole := testJPEG(t, 16, 16, blue)
	if got, err := completeJPEG(whole); err != nil || !bytes.Equal(got, whole) {
		t.Errorf("completeJPEG(whole JPEG) = %d bytes, %v; want it unchanged", len(got), err)
	}
	// The MJPEG way: no Huffman tables, padding after the end.
	bare := withoutDHT(t, whole)
	if _, err := jpeg.Decode(bytes.NewReader(bare)); err == nil {
		t.Fatal("Go decodes a JPEG without Huffman tables; the test frame is wrong")
	}
	got, err := completeJPEG(append(bytes.Clone(bare), 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	// Go writes the standard tables just before the picture data, so
	// putting them back gives Go's JPEG back, plus the padding.
	if !bytes.Equal(got, append(bytes.Clone(whole), 0, 0, 0)) {
		t.Errorf("completeJPEG(bare) differs from the JPEG the tables were taken from")
	}
	decode(t, got)

	for name, bad := range map[string][]byte{
		"empty":       nil,
		"not a JPEG":  []byte("GIF89a......"),
		"cut short":   whole[:len(whole)-40],
		"header only": {0xff, 0xd8, 0xff, 0xd9},
		"bad length":  {0xff, 0xd8, 0xff, 0xdb, 0xff, 0xff, 0, 0, 0xff, 0xd9},
	} {
		if _, err := completeJPEG(bad); err == nil {
			t.Errorf("completeJPEG(%s) = nil error", name)
		}
	}
}

// withoutDHT returns data with its Huffman table segments taken out.
func withoutDHT(t *testing.T, data []byte) []byte {
	t.Helper()
	out := bytes.Clone(data[:2])
	for i := 2; ; {
		if data[i+1] == 0xda {
			return append(out, data[i:]...)
		}
		n := 2 + (int(data[i+2])<<8 | int(data[i+3]))
		if data[i+1] != 0xc4 {
			out = append(out, data[i:i+n]...)
		}
		i += n
	}
}

// realBinding reports whether this build has the go4vl binding rather
// than the stub.
func realBinding() bool {
	_, err := openV4L2(filepath.Join(os.TempDir(), "no-such-video-device"))
	return !errors.Is(err, errors.ErrUnsupported)
}

func TestV4L2RealBindingNoCamera(t *testing.T) {
	// The real binding on this machine, which has no camera.
	v := NewV4L2(V4L2Config{Device: filepath.Join(t.TempDir(), "video0")})
	defer v.Close()
	err := v.Check(t.Context())
	if !realBinding() {
		if err == nil || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Check without the binding = %v, want it unsupported", err)
		}
		return
	}
	if !errors.Is(err, ErrNoCamera) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Check = %v, want ErrNoCamera", err)
	}
	if _, err := v.Capture(t.Context()); !errors.Is(err, ErrNoCamera) {
		t.Errorf("Capture = %v, want ErrNoCamera", err)
	}
	// A device node that is not a camera.
	v = NewV4L2(V4L2Config{Device: os.DevNull})
	defer v.Close()
	if err := v.Check(t.Context()); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a video capture device") {
		t.Errorf("Check(%s) = %v, want ErrFormat: not a camera", os.DevNull, err)
	}
}

func TestDeviceGroup(t *testing.T) {
	if runtime.GOOS != "linux" || !realBinding() {
		if g := deviceGroup(os.DevNull); g != "" {
			t.Errorf("deviceGroup without the binding = %q, want \"\"", g)
		}
		return
	}
	name := filepath.Join(t.TempDir(), "video0")
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A new file belongs to the process's group.
	gid := strconv.Itoa(os.Getegid())
	want := gid
	if g, err := user.LookupGroupId(gid); err == nil {
		want = g.Name
	}
	if got := deviceGroup(name); got != want {
		t.Errorf("deviceGroup = %q, want %q", got, want)
	}
	if got := deviceGroup(name + ".gone"); got != "" {
		t.Errorf("deviceGroup(missing) = %q, want \"\"", got)
	}
}

func TestFourCC(t *testing.T) {
	tests := []struct {
		code uint32
		want string
	}{
		{'M' | 'J'<<8 | 'P'<<16 | 'G'<<24, "MJPG"},
		{'Y' | '1'<<8 | '0'<<16 | ' '<<24, "Y10"},
		{'Y' | '1'<<8 | '6'<<16 | ' '<<24 | 1<<31, "Y16-BE"},
		{1 | 'A'<<8 | 'B'<<16 | 'C'<<24, "?ABC"},
	}
	for _, tt := range tests {
		if got := fourCC(tt.code); got != tt.want {
			t.Errorf("fourCC(%#x) = %q, want %q", tt.code, got, tt.want)
		}
	}
	for _, s := range []string{"MJPG", "YUYV", "Y10"} {
		if got := fourCC(fourCCCode(s)); got != s {
			t.Errorf("fourCC(fourCCCode(%q)) = %q", s, got)
		}
	}
}
