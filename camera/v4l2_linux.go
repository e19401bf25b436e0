//go:build cgo

package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/vladimirvivien/go4vl/v4l2"
	"golang.org/x/sys/unix"
)

// The binding uses go4vl's v4l2 package (the ioctls and kernel structures)
// and not its device package: that one leaks the file descriptor when
// opening fails half way, cannot restart a stream that ended on an error,
// and delivers frames from a goroutine that keeps the oldest when nobody
// reads. A photo wants the newest, and a kiosk wants a camera it can open
// every 30 seconds for years.

// bufferCount is how many buffers the driver fills in turn. Three let it
// fill one while siteclock reads another without dropping frames.
const bufferCount = 3

// pollEvery is how often a wait for a frame looks at its context.
const pollEvery = 50 // milliseconds

// goDevice is an open V4L2 capture device.
type goDevice struct {
	path   string
	fd     uintptr
	card   string
	bufs   [][]byte // the driver's buffers mapped into memory, while streaming
	closed bool
}

// openV4L2 opens the device node at path and checks that it is a camera.
func openV4L2(path string) (v4l2Device, error) {
	fd, err := v4l2.OpenDevice(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		// The stat or open error says it all, with the errno intact.
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			return nil, pe
		}
		return nil, err
	}
	d := &goDevice{path: path, fd: fd}
	c, err := v4l2.GetCapability(fd)
	// ENOTTY: not a V4L2 device at all (ENOSYS under user-mode emulation,
	// such as qemu-arm running the tests, which knows no V4L2 ioctls).
	if errors.Is(err, v4l2.ErrorUnsupported) || errors.Is(err, unix.ENOSYS) {
		d.Close()
		return nil, fmt.Errorf("%s: %w", path, errNotCapture)
	}
	if err != nil {
		d.Close()
		return nil, wrapV4L2("query capabilities", err)
	}
	// The capabilities of this node, not of the whole device: a UVC
	// camera's second node carries only metadata.
	if caps := c.GetCapabilities(); caps&v4l2.CapVideoCapture == 0 || caps&v4l2.CapStreaming == 0 {
		d.Close()
		return nil, fmt.Errorf("%s (%s, driver %s): %w", path, c.Card, c.Driver, errNotCapture)
	}
	d.card = c.Card
	return d, nil
}

func (d *goDevice) Card() string { return d.card }

func (d *goDevice) Formats() ([]Format, error) {
	descs, err := v4l2.GetAllFormatDescriptions(d.fd)
	if err != nil {
		if len(descs) == 0 && errors.Is(err, v4l2.ErrorBadArgument) {
			return nil, nil // EINVAL at the first index: no formats at all
		}
		return nil, wrapV4L2("list formats", err)
	}
	var out []Format
	for _, desc := range descs {
		cc := fourCC(desc.PixelFormat)
		sizes, err := v4l2.GetFormatFrameSizes(d.fd, desc.PixelFormat)
		if errors.Is(err, v4l2.ErrorBadArgument) || errors.Is(err, v4l2.ErrorUnsupported) {
			// Drivers need not list sizes; S_FMT then fits the one asked for.
			out = append(out, Format{FourCC: cc})
			continue
		}
		if err != nil {
			return nil, wrapV4L2("list frame sizes", err)
		}
		for _, s := range sizes {
			if s.Type != v4l2.FrameSizeTypeDiscrete {
				out = append(out, Format{FourCC: cc}) // a range: S_FMT fits the size
				continue
			}
			out = append(out, Format{FourCC: cc, Width: int(s.Size.MinWidth), Height: int(s.Size.MinHeight)})
		}
	}
	return out, nil
}

func (d *goDevice) SetFormat(f Format) (Format, error) {
	want := v4l2.PixFormat{
		Width:       uint32(f.Width),
		Height:      uint32(f.Height),
		PixelFormat: fourCCCode(f.FourCC),
		Field:       v4l2.FieldNone,
	}
	if err := v4l2.SetPixFormat(d.fd, want); err != nil {
		return Format{}, wrapV4L2("set format "+f.String(), err)
	}
	got, err := v4l2.GetPixFormat(d.fd)
	if err != nil {
		return Format{}, wrapV4L2("get format", err)
	}
	// Defaults as the V4L2 specification has them for YUV: the matrix
	// follows the colour space, and the range is limited except in the
	// JPEG colour space. (go4vl's ColorspaceToQuantization gives those
	// for RGB.)
	enc := got.YcbcrEnc
	if enc == v4l2.YCbCrEncodingDefault {
		enc = v4l2.ColorspaceToYCbCrEnc(got.Colorspace)
	}
	q := got.Quantization
	full := q == v4l2.QuantizationFullRange || q == v4l2.QuantizationDefault && got.Colorspace == v4l2.ColorspaceJPEG
	return Format{
		FourCC:    fourCC(got.PixelFormat),
		Width:     int(got.Width),
		Height:    int(got.Height),
		stride:    int(got.BytesPerLine),
		fullRange: full,
		bt709:     enc == v4l2.YCbCrEncoding709 || enc == v4l2.YCbCrEncodingXV709,
	}, nil
}

func (d *goDevice) Start() error {
	if d.bufs != nil {
		return nil
	}
	sd := streamDev{fd: d.fd, count: bufferCount}
	req, err := v4l2.InitBuffers(sd)
	if err != nil {
		return wrapV4L2("request buffers", err)
	}
	sd.count = req.Count // the driver may give more or fewer
	d.bufs = make([][]byte, 0, req.Count)
	for i := range req.Count {
		b, err := v4l2.GetBuffer(sd, i)
		if err != nil {
			return errors.Join(wrapV4L2("query buffer", err), d.release())
		}
		m, err := unix.Mmap(int(d.fd), int64(b.Info.Offset), int(b.Length), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return errors.Join(fmt.Errorf("map buffer: %w", err), d.release())
		}
		d.bufs = append(d.bufs, m)
		if _, err := v4l2.QueueBuffer(d.fd, v4l2.IOTypeMMAP, v4l2.BufTypeVideoCapture, i); err != nil {
			return errors.Join(wrapV4L2("queue buffer", err), d.release())
		}
	}
	if err := v4l2.StreamOn(sd); err != nil {
		return errors.Join(wrapV4L2("stream on", err), d.release())
	}
	return nil
}

func (d *goDevice) Frame(ctx context.Context) (frame, error) {
	if d.bufs == nil {
		return frame{}, errors.New("read a frame: not streaming")
	}
	for {
		if err := ctx.Err(); err != nil {
			return frame{}, err
		}
		fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, pollEvery)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			return frame{}, fmt.Errorf("wait for a frame: %w", err)
		}
		b, err := v4l2.DequeueBuffer(d.fd, v4l2.IOTypeMMAP, v4l2.BufTypeVideoCapture)
		if errors.Is(err, unix.EAGAIN) {
			// Readable but nothing to take: an error or hang-up, which
			// the next poll reports again, so stop rather than spin.
			if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
				return frame{}, fmt.Errorf("wait for a frame: %w", errStreamEnded)
			}
			continue
		}
		if err != nil {
			return frame{}, wrapV4L2("dequeue a frame", err)
		}
		var fr frame
		if int(b.Index) < len(d.bufs) && b.Flags&v4l2.BufFlagError == 0 && b.BytesUsed > 0 {
			buf := d.bufs[b.Index]
			fr = frame{data: bytes.Clone(buf[:min(int(b.BytesUsed), len(buf))]), at: takenAt(b)}
		}
		// Give the buffer back before anything else, or the driver runs
		// out of buffers to fill.
		if _, err := v4l2.QueueBuffer(d.fd, v4l2.IOTypeMMAP, v4l2.BufTypeVideoCapture, b.Index); err != nil {
			return frame{}, wrapV4L2("queue buffer", err)
		}
		if fr.data != nil {
			return fr, nil
		}
		// An empty or corrupt buffer (the driver flags a lost USB packet so):
		// wait for the next.
	}
}

// takenAt is when the camera took the frame in b. Capture drivers stamp
// frames with the monotonic clock; the age on that clock carries over to
// the wall clock. A driver that does not gets the time the frame was read.
func takenAt(b v4l2.Buffer) time.Time {
	now := time.Now()
	if b.Flags&v4l2.BufFlagTimestampMask != v4l2.BufFlagTimestampMonotonic {
		return now
	}
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return now
	}
	taken := time.Duration(b.Timestamp.Sec)*time.Second + time.Duration(b.Timestamp.Usec)*time.Microsecond
	return now.Add(-(time.Duration(mono.Nano()) - taken))
}

func (d *goDevice) Stop() error {
	if d.bufs == nil {
		return nil
	}
	err := v4l2.StreamOff(streamDev{fd: d.fd, count: uint32(len(d.bufs))})
	if err != nil {
		err = wrapV4L2("stream off", err)
	}
	return errors.Join(err, d.release())
}

// release unmaps the buffers and gives them back to the driver. It goes
// on after an error, so that an unplugged camera's memory is freed.
func (d *goDevice) release() error {
	var errs []error
	for _, b := range d.bufs {
		if err := unix.Munmap(b); err != nil {
			errs = append(errs, fmt.Errorf("unmap buffer: %w", err))
		}
	}
	d.bufs = nil
	if _, err := v4l2.ResetBuffers(streamDev{fd: d.fd}); err != nil {
		errs = append(errs, wrapV4L2("free buffers", err))
	}
	return errors.Join(errs...)
}

func (d *goDevice) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.Stop()
	if cerr := v4l2.CloseDevice(d.fd); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s: %w", d.path, cerr))
	}
	return err
}

// streamDev gives go4vl's buffer helpers what they read of a device. They
// take a whole v4l2.StreamingDevice but call only these methods; the
// embedded nil interface stands in for the rest.
type streamDev struct {
	v4l2.StreamingDevice
	fd    uintptr
	count uint32
}

func (s streamDev) Fd() uintptr              { return s.fd }
func (s streamDev) BufferType() v4l2.BufType { return v4l2.BufTypeVideoCapture }
func (s streamDev) MemIOType() v4l2.IOType   { return v4l2.IOTypeMMAP }
func (s streamDev) BufferCount() uint32      { return s.count }

// wrapV4L2 wraps an error from go4vl. go4vl turns ENODEV and EIO into
// v4l2.ErrorSystem, dropping the errno; for a camera that opened fine,
// those mean it went away.
func wrapV4L2(op string, err error) error {
	if errors.Is(err, v4l2.ErrorSystem) {
		return fmt.Errorf("%s: %w (%w)", op, errNoAnswer, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// deviceGroup is the name of the group that owns the device node at path
// (its number if it has no name), or "" if it cannot be told.
func deviceGroup(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	id := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return id
}
