package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// V4L2 is a real camera behind Video4Linux2: a USB (UVC) webcam sending
// MJPEG or YUYV. It implements the runner's Camera and Streamer.
//
// It holds the device open only while streaming: Check opens it, looks at
// what it offers and closes it again, and a photo taken without Start
// streams for that one photo. So a camera unplugged and plugged back in
// gets its old name (/dev/video0) back, since the kernel frees the name only
// when nobody holds the old device open; and after any error the next call
// opens the device afresh, so the camera recovers without a restart.
//
// A V4L2 is safe for concurrent use: the runner captures in one goroutine
// while it checks, starts and stops the camera from another.
type V4L2 struct {
	path          string
	width, height int
	log           *slog.Logger
	open          opener
	now           func() time.Time         // when a photo is asked for, to tell fresh frames from stale ones
	groupOf       func(path string) string // the group owning a device node, for permission errors

	sem chan struct{} // held by the capture in progress: one at a time

	mu        sync.Mutex
	dev       v4l2Device // nil when closed
	streaming bool       // dev streams
	format    Format     // what dev sends, while it streams
	warm      bool       // Start was called and Stop not since: keep streaming
	capturing bool       // a capture reads frames from dev without holding mu
	done      chan struct{}
	abort     context.CancelFunc // stops the capture in progress, for Close
	closed    bool
	info      V4L2Info
	logged    Format // the format last logged, to log a change once
}

// V4L2Config configures a V4L2 camera.
type V4L2Config struct {
	Device        string // device node; "" means /dev/video0
	Width, Height int    // photo size asked for; 0 means DefaultWidth × DefaultHeight
	Logger        *slog.Logger
}

// DefaultDevice is the device node of the first camera.
const DefaultDevice = "/dev/video0"

// JPEGQuality is the quality of photos the camera sends uncompressed (YUYV)
// and siteclock encodes: a face stays recognisable in about 40 KB at
// 640×480.
const JPEGQuality = 85

// Pixel formats by their V4L2 four-character codes.
const (
	FourCCMJPEG = "MJPG" // Motion-JPEG: every frame a JPEG, stored as it comes
	FourCCJPEG  = "JPEG" // the same, as some drivers name it
	FourCCYUYV  = "YUYV" // packed YUV 4:2:2, encoded to JPEG here
)

// Format is a pixel format and frame size a camera offers or sends.
type Format struct {
	FourCC        string // FourCCMJPEG, FourCCYUYV, ...
	Width, Height int    // 0 when the driver lists no sizes and fits the one asked for

	// How the driver lays out and encodes YUYV frames; set by SetFormat.
	stride    int  // bytes per row; 0 means 2 × Width
	fullRange bool // values span 0–255 rather than 16–235 (Y) and 16–240 (Cb, Cr)
	bt709     bool // the BT.709 matrix rather than BT.601, which JPEG uses
}

func (f Format) String() string {
	if f.Width == 0 || f.Height == 0 {
		return f.FourCC + " (any size)"
	}
	return fmt.Sprintf("%s %dx%d", f.FourCC, f.Width, f.Height)
}

// V4L2Info says which camera is in use and how, for hwcheck and logs.
type V4L2Info struct {
	Device    string // the device node
	Card      string // the camera's name as its driver reports it; "" until it was opened
	Format    Format // sent while streaming, else the one a photo would ask for; zero until the camera was found
	Streaming bool
}

func (i V4L2Info) String() string {
	var b strings.Builder
	b.WriteString(i.Device)
	if i.Card != "" {
		fmt.Fprintf(&b, " (%s)", i.Card)
	}
	if i.Format.FourCC != "" {
		fmt.Fprintf(&b, ": %v", i.Format)
	}
	if i.Streaming {
		b.WriteString(", streaming")
	}
	return b.String()
}

// v4l2Device is one open video device: the few V4L2 operations the camera
// needs, so that its logic is tested with a fake and the driver binding
// (v4l2_linux.go) stays thin. Calls never overlap.
type v4l2Device interface {
	// Card is the camera's name as its driver reports it.
	Card() string
	// Formats lists the pixel formats the device offers, one entry per
	// frame size; a zero size means the driver lists none or a range.
	// Any ioctl works as a probe: a camera unplugged fails every one.
	Formats() ([]Format, error)
	// SetFormat asks for f and returns what the driver chose, which may
	// differ in size.
	SetFormat(f Format) (Format, error)
	// Start starts streaming.
	Start() error
	// Frame waits for the next frame, in the order the camera took them.
	Frame(ctx context.Context) (frame, error)
	// Stop stops streaming and frees the buffers.
	Stop() error
	// Close closes the device; it stops streaming first if need be.
	Close() error
}

// frame is one frame as the camera sent it.
type frame struct {
	data []byte
	at   time.Time // when the camera took it
}

// opener opens a device node.
type opener func(path string) (v4l2Device, error)

// Errors from the device binding that say the device went away.
var (
	// errNoAnswer: an ioctl failed the way a device that went away fails
	// (ENODEV, EIO: go4vl reports them without the errno).
	errNoAnswer = errors.New("the device stopped answering")
	// errStreamEnded: the stream ended without being stopped.
	errStreamEnded = errors.New("the stream ended")
	// errNotCapture: the node is not a camera (a UVC camera's second node
	// carries metadata, not pictures).
	errNotCapture = errors.New("not a video capture device with streaming I/O")
	errClosed     = errors.New("camera: closed")
)

// NewV4L2 returns the camera at cfg.Device. It does not open it: that
// happens on Check, Start and Capture, so a kiosk boots with the camera
// unplugged and starts using it when it is plugged in.
func NewV4L2(cfg V4L2Config) *V4L2 {
	v := newV4L2(cfg, openV4L2)
	v.groupOf = deviceGroup
	return v
}

func newV4L2(cfg V4L2Config, open opener) *V4L2 {
	if cfg.Device == "" {
		cfg.Device = DefaultDevice
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		cfg.Width, cfg.Height = DefaultWidth, DefaultHeight
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &V4L2{
		path:    cfg.Device,
		width:   cfg.Width,
		height:  cfg.Height,
		log:     cfg.Logger.With("device", cfg.Device),
		open:    open,
		now:     time.Now,
		groupOf: func(string) string { return "" },
		sem:     make(chan struct{}, 1),
		info:    V4L2Info{Device: cfg.Device},
	}
}

// Info says which camera is in use and how.
func (v *V4L2) Info() V4L2Info {
	v.mu.Lock()
	defer v.mu.Unlock()
	i := v.info
	i.Streaming = v.streaming
	return i
}

// Check reports whether a photo can be taken now: the device exists, opens
// and offers MJPEG or YUYV. While the camera streams it only asks the
// device whether it is still there; while a photo is being taken it
// answers nil at once and leaves the verdict to the photo.
func (v *V4L2) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("camera: check: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errClosed
	}
	if v.capturing {
		return nil
	}
	if v.dev != nil {
		_, err := v.dev.Formats()
		if err == nil {
			return nil
		}
		// Gone, or unplugged and back under the same name: try afresh.
		v.log.Warn("camera stopped answering", "err", err)
		v.closeLocked()
	}
	if v.warm {
		return v.streamLocked("check")
	}
	dev, _, err := v.openLocked("check")
	if err != nil {
		return err
	}
	dev.Close()
	return nil
}

// Start starts streaming, so that the photo taken a moment later needs no
// warm-up (a webcam's exposure settles in the first second). The stream
// runs until Stop or Close; ctx is not used beyond the call. Starting a
// streaming camera does nothing.
func (v *V4L2) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("camera: start: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errClosed
	}
	v.warm = true
	if v.streaming {
		return nil
	}
	return v.streamLocked("start")
}

// Stop stops streaming and closes the device. If a photo is being taken,
// the stream stops once it is. Stopping a stopped camera does nothing.
func (v *V4L2) Stop() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.warm = false
	if v.capturing {
		return nil
	}
	if err := v.closeLocked(); err != nil {
		return v.fail(using, err, "stop "+v.path)
	}
	return nil
}

// Close stops the camera for good: a photo being taken fails, and later
// calls fail.
func (v *V4L2) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed, v.warm = true, false
	if v.capturing {
		v.abort()
		done := v.done
		v.mu.Unlock()
		<-done
		v.mu.Lock()
	}
	if err := v.closeLocked(); err != nil {
		return v.fail(using, err, "close "+v.path)
	}
	return nil
}

// Capture takes a photo and returns it as a JPEG: a frame the camera took
// after the call, never one queued before it. A camera not streaming is
// started for the photo and stopped after it.
func (v *V4L2) Capture(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("camera: capture: %w", err)
	}
	asked := v.now()
	select {
	case v.sem <- struct{}{}:
		defer func() { <-v.sem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("camera: capture: waiting for the photo before: %w", ctx.Err())
	}

	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil, errClosed
	}
	if !v.streaming {
		if err := v.streamLocked("capture from"); err != nil {
			v.mu.Unlock()
			return nil, err
		}
	}
	dev, f := v.dev, v.format
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	v.capturing, v.done, v.abort = true, done, cancel
	v.mu.Unlock()

	// Read without holding mu, so that Check and Stop answer at once.
	photo, err := freshPhoto(cctx, dev, f, asked)

	v.mu.Lock()
	defer v.mu.Unlock()
	v.capturing, v.done, v.abort = false, nil, nil
	close(done)
	switch {
	case err == nil:
	case v.closed:
		err = errClosed
	case ctx.Err() != nil:
		err = fmt.Errorf("camera: capture from %s: no picture from the camera in time: %w", v.path, ctx.Err())
		// A camera silent for all the time allowed may be wedged: open
		// it afresh next time. One cancelled early is left streaming.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			v.closeLocked()
		}
	default:
		err = v.fail(using, err, "capture from "+v.path)
		v.closeLocked() // the next call opens it afresh
	}
	if !v.warm {
		v.closeLocked()
	}
	if err != nil {
		return nil, err
	}
	return photo, nil
}

// maxBrokenFrames is how many unusable frames in a row make a capture fail
// rather than wait for a good one.
const maxBrokenFrames = 10

// freshPhoto returns the first frame dev took at or after asked, as a JPEG.
// Frames taken before were queued while nobody read them: the kernel keeps
// the oldest, not the newest, so they may be seconds old.
func freshPhoto(ctx context.Context, dev v4l2Device, f Format, asked time.Time) ([]byte, error) {
	broken := 0
	for {
		fr, err := dev.Frame(ctx)
		if err != nil {
			return nil, err
		}
		if fr.at.Before(asked) {
			continue
		}
		photo, err := frameJPEG(fr.data, f)
		if err == nil {
			return photo, nil
		}
		// A webcam sends the odd broken frame (a USB packet lost); skip it.
		if broken++; broken >= maxBrokenFrames {
			return nil, fmt.Errorf("%d unusable frames in a row, the last: %w", broken, err)
		}
	}
}

// frameJPEG turns a frame in format f into a JPEG photo.
func frameJPEG(data []byte, f Format) ([]byte, error) {
	switch f.FourCC {
	case FourCCMJPEG, FourCCJPEG:
		return completeJPEG(data)
	case FourCCYUYV:
		return encodeYUYV(data, f, JPEGQuality)
	}
	return nil, fmt.Errorf("cannot turn %s frames into photos", f.FourCC)
}

// openLocked opens the device and chooses the format to ask for. The
// caller closes the device.
func (v *V4L2) openLocked(where string) (v4l2Device, Format, error) {
	where += " " + v.path
	dev, err := v.open(v.path)
	if err != nil {
		return nil, Format{}, v.fail(opening, err, where)
	}
	v.info.Card = dev.Card()
	offered, err := dev.Formats()
	if err != nil {
		dev.Close()
		return nil, Format{}, v.fail(using, err, where)
	}
	f, err := chooseFormat(offered, v.width, v.height)
	if err != nil {
		dev.Close()
		return nil, Format{}, v.fail(using, err, where)
	}
	v.info.Format = f
	return dev, f, nil
}

// streamLocked opens the device, sets the format and starts streaming.
// On error the device is closed again.
func (v *V4L2) streamLocked(where string) error {
	dev, want, err := v.openLocked(where)
	if err != nil {
		return err
	}
	where += " " + v.path
	got, err := dev.SetFormat(want)
	if err == nil && got.FourCC != want.FourCC {
		err = &noFormatError{offered: []Format{got}, switched: want.FourCC}
	}
	if err != nil {
		dev.Close()
		return v.fail(using, err, where)
	}
	if err := dev.Start(); err != nil {
		dev.Close()
		return v.fail(using, err, where)
	}
	v.dev, v.streaming, v.format, v.info.Format = dev, true, got, got
	v.logFormat(got)
	return nil
}

// logFormat logs the format the camera sends when it changes, and whether
// the photos have the size asked for.
func (v *V4L2) logFormat(f Format) {
	if f == v.logged {
		return
	}
	v.logged = f
	v.log.Info("camera format", "card", v.info.Card, "format", f.FourCC, "width", f.Width, "height", f.Height)
	if f.Width != v.width || f.Height != v.height {
		v.log.Warn("camera does not offer the photo size asked for; using the closest",
			"want", fmt.Sprintf("%dx%d", v.width, v.height), "got", fmt.Sprintf("%dx%d", f.Width, f.Height))
	}
}

// closeLocked stops streaming and closes the device, if open. It returns
// what went wrong, unexplained: a camera that went away fails here too.
func (v *V4L2) closeLocked() error {
	if v.dev == nil {
		return nil
	}
	var errs []error
	if v.streaming {
		errs = append(errs, v.dev.Stop())
	}
	errs = append(errs, v.dev.Close())
	v.dev, v.streaming = nil, false
	return errors.Join(errs...)
}

// stage is where an error happened, which decides what it means: ENODEV
// when opening means there is no camera; once open, that it went away.
type stage int

const (
	opening stage = iota
	using
)

// kindOf says which sentinel error err is, if any.
func kindOf(st stage, err error) error {
	var nf *noFormatError
	switch {
	case errors.As(err, &nf), errors.Is(err, errNotCapture):
		return ErrFormat
	case errors.Is(err, fs.ErrPermission): // EACCES, EPERM
		return ErrPermission
	case st == opening && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO)):
		return ErrNoCamera
	case st == using && (errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNoAnswer) || errors.Is(err, errStreamEnded)):
		return ErrUnplugged
	}
	return nil
}

// failure is an error of one of the sentinel kinds, caused by another.
type failure struct{ kind, cause error }

func (f *failure) Error() string   { return f.kind.Error() }
func (f *failure) Unwrap() []error { return []error{f.kind, f.cause} }

// fail explains err, which happened at stage st while doing where:
//
//	camera: permission denied: check /dev/video0: open /dev/video0: permission denied (the device belongs to group video); add the service user to the group that owns the device ...
func (v *V4L2) fail(st stage, err error, where string) error {
	kind := kindOf(st, err)
	detail := err.Error()
	switch {
	case kind == ErrPermission:
		if g := v.groupOf(v.path); g != "" {
			detail += fmt.Sprintf(" (the device belongs to group %s)", g)
		}
	case kind == nil && errors.Is(err, syscall.EBUSY):
		return explain(err, where+" (another program is using the camera: stop it)")
	case kind == nil:
		return explain(err, where)
	}
	return explain(&failure{kind, err}, where+": "+detail)
}

// noFormatError says the camera offers no format siteclock can use.
type noFormatError struct {
	offered  []Format
	switched string // the format asked for, when the driver chose another
}

func (e *noFormatError) Error() string {
	if e.switched != "" {
		return fmt.Sprintf("asked for %s, the driver chose %s", e.switched, e.offered[0].FourCC)
	}
	if len(e.offered) == 0 {
		return "offers no video formats; want MJPEG or YUYV"
	}
	// One entry per format with its sizes: "H264 (1920x1080, 1280x720), GREY (any size)".
	var names []string
	sizes := map[string][]string{}
	for _, f := range e.offered {
		if _, ok := sizes[f.FourCC]; !ok {
			names = append(names, f.FourCC)
		}
		s := "any size"
		if f.Width > 0 && f.Height > 0 {
			s = fmt.Sprintf("%dx%d", f.Width, f.Height)
		}
		if !slices.Contains(sizes[f.FourCC], s) {
			sizes[f.FourCC] = append(sizes[f.FourCC], s)
		}
	}
	// A test device lists dozens; the first few tell what it is.
	const most = 8
	var parts []string
	for _, n := range names[:min(len(names), most)] {
		parts = append(parts, fmt.Sprintf("%s (%s)", n, strings.Join(sizes[n], ", ")))
	}
	if len(names) > most {
		parts = append(parts, fmt.Sprintf("and %d more", len(names)-most))
	}
	return "offers " + strings.Join(parts, ", ") + "; want MJPEG or YUYV"
}

// formatRank orders the formats siteclock can use, best first: a JPEG
// from the camera is stored as it comes, YUYV costs an encode.
var formatRank = map[string]int{FourCCMJPEG: 0, FourCCJPEG: 1, FourCCYUYV: 2}

// chooseFormat picks the format to ask for: the size closest to w×h, and
// at equal distance MJPEG over YUYV. Size comes first because every photo
// is stored and sent over a job site's mobile link: an MJPEG photo at
// 1920×1080 is five times the bytes of a YUYV one at 640×480 encoded here.
// At equal distance a larger size wins, as it shows the face in more
// detail. A format listed without sizes gets w×h, which the driver adjusts.
func chooseFormat(offered []Format, w, h int) (Format, error) {
	var best Format
	found := false
	better := func(a, b Format) bool {
		da, db := sizeDistance(a, w, h), sizeDistance(b, w, h)
		if da != db {
			return da < db
		}
		if ra, rb := formatRank[a.FourCC], formatRank[b.FourCC]; ra != rb {
			return ra < rb
		}
		return a.Width*a.Height > b.Width*b.Height
	}
	for _, f := range offered {
		if _, ok := formatRank[f.FourCC]; !ok {
			continue
		}
		if f.Width <= 0 || f.Height <= 0 {
			f.Width, f.Height = w, h
		}
		if !found || better(f, best) {
			best, found = f, true
		}
	}
	if !found {
		return Format{}, &noFormatError{offered: offered}
	}
	return best, nil
}

// sizeDistance measures how far f's size is from w×h: the area covered by
// one of the two rectangles but not both, as the UVC driver measures it
// when it picks a size for S_FMT.
func sizeDistance(f Format, w, h int) int {
	common := min(f.Width, w) * min(f.Height, h)
	return f.Width*f.Height + w*h - 2*common
}

// completeJPEG checks that an MJPEG frame is a whole JPEG and returns it.
// Many webcams leave out the Huffman tables, as Motion-JPEG allows: the
// standard ones (ITU T.81, Annex K) are implied. Decoders of still
// pictures, Go's among them, need them spelled out, so they are inserted;
// the picture data is kept as captured.
func completeJPEG(data []byte) ([]byte, error) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return nil, errors.New("frame is not a JPEG")
	}
	// Some cameras pad the frame after the end marker.
	end := len(data)
	for end > 2 && data[end-1] == 0 {
		end--
	}
	if end < 4 || data[end-2] != 0xff || data[end-1] != 0xd9 {
		return nil, errors.New("JPEG frame is cut short")
	}
	// Walk the header's segments up to the start of the picture data.
	for i := 2; ; {
		if i+4 > end || data[i] != 0xff {
			return nil, errors.New("JPEG frame has a broken header")
		}
		marker := data[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker == 0xc4: // DHT: the tables are there
			return data, nil
		case marker == 0xda: // SOS, with no DHT before it
			dht := stdHuffmanTables()
			out := make([]byte, 0, len(data)+len(dht))
			out = append(out, data[:i]...)
			out = append(out, dht...)
			return append(out, data[i:]...), nil
		}
		i += 2 + (int(data[i+2])<<8 | int(data[i+3]))
	}
}

// stdHuffmanTables is a DHT segment holding the four standard Huffman
// tables. Go's JPEG encoder writes exactly those, so they are taken from
// a small picture it encodes rather than typed in again.
var stdHuffmanTables = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	img := image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio444)
	if err := jpeg.Encode(&b, img, nil); err != nil {
		panic("camera: encode a blank picture: " + err.Error())
	}
	data := b.Bytes()
	for i := 2; i+4 <= len(data); {
		n := 2 + (int(data[i+2])<<8 | int(data[i+3]))
		if data[i+1] == 0xc4 {
			return bytes.Clone(data[i : i+n])
		}
		i += n
	}
	panic("camera: Go's JPEG encoder wrote no Huffman tables")
})

// fourCC spells a pixel format code as its four characters, "MJPG".
// The top bit marks the big-endian twin of a format ("Y16-BE").
func fourCC(code uint32) string {
	be := ""
	if code&(1<<31) != 0 {
		code &^= 1 << 31
		be = "-BE"
	}
	b := []byte{byte(code), byte(code >> 8), byte(code >> 16), byte(code >> 24)}
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '?'
		}
	}
	return strings.TrimRight(string(b), " ") + be
}

// fourCCCode is the pixel format code of a four-character name.
func fourCCCode(s string) uint32 {
	var b [4]byte
	copy(b[:], s+"    ")
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
