package display

// The Linux framebuffer display (/dev/fb0): the kiosk's screens drawn by the
// Renderer and copied into the framebuffer's memory. This file holds what
// does not need a device (pixel formats, the copy, the geometry checks), so
// it is tested on a plain []byte; framebuffer_linux.go only asks the kernel
// for the geometry, maps the memory and switches the console.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io/fs"
	"strings"
	"sync"

	"github.com/siteclock/siteclock/kiosk"
)

// Errors a caller may act on, for example by falling back to the terminal
// display. Each error OpenFramebuffer returns wraps one of them and says
// what to do.
var (
	ErrNoFramebuffer         = errors.New("display: no framebuffer")
	ErrFramebufferPermission = errors.New("display: framebuffer permission denied")
	ErrFramebufferFormat     = errors.New("display: framebuffer pixel format not supported")
)

// DefaultConsole is the console FramebufferOptions.Console names when left
// empty: the console in front.
const DefaultConsole = "/dev/tty0"

// FramebufferOptions configure OpenFramebuffer.
type FramebufferOptions struct {
	// Console is the console tty put into graphics mode while the display
	// is open, so that the kernel's text console and its blinking cursor
	// do not draw over the kiosk's screen. Empty means DefaultConsole;
	// "none" leaves the console alone (when nothing else runs a console
	// on the framebuffer).
	Console string
}

// Framebuffer shows kiosk screens on a Linux framebuffer device. Screens are
// drawn off-screen first and then copied, only the rows that changed, so a
// half-drawn screen is never seen and a clock tick copies a few rows rather
// than the whole screen.
//
// Its methods may be called from several goroutines (the kiosk runner, a
// hardware check); they take turns.
type Framebuffer struct {
	mu         sync.Mutex
	path       string
	mem        []byte
	g          fbGeometry
	codec      *pixelCodec
	r          *Renderer
	shown      *image.RGBA // what the device shows, when shownValid
	next       *image.RGBA // where the next screen is drawn
	shownValid bool
	last       lastShown
	consoleErr error
	release    func() error
	closed     bool
}

// OpenFramebuffer opens the framebuffer device at path (usually /dev/fb0),
// maps its memory and, as opts say, puts the console into graphics mode.
// A console that cannot be switched does not make it fail: the kiosk still
// works, with the console's cursor possibly blinking in a corner, and
// ConsoleError says why.
func OpenFramebuffer(path string, opts FramebufferOptions) (*Framebuffer, error) {
	dev, err := openFramebufferDevice(path, opts)
	if err != nil {
		return nil, err
	}
	f, err := newFramebuffer(path, dev.mem, dev.g, dev.release)
	if err != nil {
		if rerr := dev.release(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	f.consoleErr = dev.consoleErr
	return f, nil
}

// fbDevice is an opened framebuffer: its mapped memory, where the screen
// lies in it, and how to give it all back.
type fbDevice struct {
	mem        []byte
	g          fbGeometry
	release    func() error // unmaps, restores the console, closes
	consoleErr error
}

// newFramebuffer makes a Framebuffer over mem, the framebuffer's memory.
func newFramebuffer(path string, mem []byte, g fbGeometry, release func() error) (*Framebuffer, error) {
	if err := g.check(len(mem)); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFramebufferFormat, path, err)
	}
	codec, err := newPixelCodec(g.format)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFramebufferFormat, path, err)
	}
	r, err := NewRenderer(g.width, g.height)
	if err != nil {
		return nil, fmt.Errorf("display: framebuffer %s: %w", path, err)
	}
	if release == nil {
		release = func() error { return nil }
	}
	rect := image.Rect(0, 0, g.width, g.height)
	return &Framebuffer{path: path, mem: mem, g: g, codec: codec, r: r,
		shown: image.NewRGBA(rect), next: image.NewRGBA(rect), release: release}, nil
}

// Size returns the screen's width and height in pixels.
func (f *Framebuffer) Size() (w, h int) { return f.g.width, f.g.height }

// ConsoleError says why the console was not put into graphics mode, or is
// nil if it was (or Console was "none").
func (f *Framebuffer) ConsoleError() error { return f.consoleErr }

// Format describes the framebuffer's pixels, for a hardware check:
// "1280x800, 32 bits per pixel, red 16:8 green 8:8 blue 0:8".
func (f *Framebuffer) Format() string {
	return fmt.Sprintf("%dx%d, %v", f.g.width, f.g.height, f.g.format)
}

// Show draws s, unless it is the screen shown last: the runner shows the
// screen again on every clock tick.
func (f *Framebuffer) Show(s kiosk.Screen) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("display: framebuffer %s: show screen %q: the display is closed", f.path, s.Name)
	}
	if f.last.same(s) {
		return nil
	}
	f.r.Draw(f.next, s)
	f.flush()
	f.last.set(s)
	return nil
}

// ShowImage draws img (a test pattern) with its top-left corner at the
// screen's; what img does not cover is black. Every pixel is copied, even
// ones thought unchanged, so a hardware check sees the whole pattern.
func (f *Framebuffer) ShowImage(img image.Image) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("display: framebuffer %s: show image: the display is closed", f.path)
	}
	draw.Draw(f.next, f.next.Rect, image.Black, image.Point{}, draw.Src)
	draw.Draw(f.next, f.next.Rect, img, img.Bounds().Min, draw.Src)
	f.shownValid = false
	f.flush()
	f.last = lastShown{} // the next screen is drawn whatever it is
	return nil
}

// Snapshot reads the screen back from the framebuffer's memory.
func (f *Framebuffer) Snapshot() (*image.RGBA, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("display: framebuffer %s: snapshot: the display is closed", f.path)
	}
	img := image.NewRGBA(image.Rect(0, 0, f.g.width, f.g.height))
	for y := range f.g.height {
		f.codec.decodeRow(img.Pix[y*img.Stride:][:4*f.g.width], f.g.row(f.mem, y))
	}
	return img, nil
}

// Close gives the framebuffer back and returns the console to text mode.
// The picture stays until the console draws over it.
func (f *Framebuffer) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	f.mem = nil
	if err := f.release(); err != nil {
		return fmt.Errorf("display: framebuffer %s: close: %w", f.path, err)
	}
	return nil
}

// flush copies the rows of next that differ from what is shown, top to
// bottom, and makes next the shown image.
func (f *Framebuffer) flush() {
	w := 4 * f.g.width
	for y := range f.g.height {
		src := f.next.Pix[y*f.next.Stride:][:w]
		if f.shownValid && bytes.Equal(src, f.shown.Pix[y*f.shown.Stride:][:w]) {
			continue
		}
		f.codec.encodeRow(f.g.row(f.mem, y), src)
	}
	f.shown, f.next = f.next, f.shown
	f.shownValid = true
}

// channel is where a colour's bits are in a pixel value.
type channel struct{ offset, length uint }

// pixelFormat is a framebuffer's pixel layout: little-endian integers of
// bpp bits (the CPU's order; every Raspberry Pi runs little-endian) with
// the colours at the given bits.
type pixelFormat struct {
	bpp                      int
	red, green, blue, transp channel
}

func (p pixelFormat) String() string {
	return fmt.Sprintf("%d bits per pixel, red %d:%d green %d:%d blue %d:%d", p.bpp,
		p.red.offset, p.red.length, p.green.offset, p.green.length, p.blue.offset, p.blue.length)
}

// fbGeometry is where the visible screen lies in the framebuffer's memory.
type fbGeometry struct {
	width, height int
	stride        int // bytes from a row to the next (line_length)
	offset        int // byte offset of the visible top-left pixel (the panning offsets)
	format        pixelFormat
}

// row returns the bytes of the visible row y.
func (g fbGeometry) row(mem []byte, y int) []byte {
	start := g.offset + y*g.stride
	return mem[start : start+g.width*g.format.bpp/8]
}

// check makes sure every visible row lies inside memLen bytes.
func (g fbGeometry) check(memLen int) error {
	if g.width <= 0 || g.height <= 0 {
		return fmt.Errorf("the screen is %dx%d", g.width, g.height)
	}
	if g.format.bpp != 16 && g.format.bpp != 32 {
		return fmt.Errorf("%d bits per pixel", g.format.bpp)
	}
	rowBytes := g.width * g.format.bpp / 8
	if g.stride < rowBytes {
		return fmt.Errorf("a row is %d bytes, less than %d pixels of %d bits", g.stride, g.width, g.format.bpp)
	}
	if need := g.offset + (g.height-1)*g.stride + rowBytes; g.offset < 0 || need > memLen {
		return fmt.Errorf("the screen needs %d bytes of memory, the device maps %d", need, memLen)
	}
	return nil
}

// The kernel's description of a framebuffer (linux/fb.h), as
// FBIOGET_VSCREENINFO and FBIOGET_FSCREENINFO fill it in. They are here
// rather than in the Linux file so the geometry checks are tested on every
// system.
type fbBitfield struct{ Offset, Length, MsbRight uint32 }

type fbVarScreeninfo struct {
	Xres, Yres, XresVirtual, YresVirtual, Xoffset, Yoffset, BitsPerPixel, Grayscale uint32
	Red, Green, Blue, Transp                                                        fbBitfield
	Nonstd, Activate, Height, Width, AccelFlags                                     uint32
	Pixclock, LeftMargin, RightMargin, UpperMargin, LowerMargin                     uint32
	HsyncLen, VsyncLen, Sync, Vmode, Rotate, Colorspace                             uint32
	Reserved                                                                        [4]uint32
}

type fbFixScreeninfo struct {
	ID                             [16]byte
	SmemStart                      uintptr // unsigned long in C
	SmemLen, Type, TypeAux, Visual uint32
	Xpanstep, Ypanstep, Ywrapstep  uint16
	LineLength                     uint32
	MmioStart                      uintptr
	MmioLen, Accel                 uint32
	Capabilities                   uint16
	Reserved                       [2]uint16
}

// Values of fbFixScreeninfo.Type and .Visual that the display draws on.
const (
	fbTypePackedPixels  = 0
	fbVisualTrueColor   = 2
	fbVisualDirectColor = 4
)

// fbGeometryOf works out where the visible screen is from what the kernel
// says, for memory of memLen bytes.
func fbGeometryOf(v fbVarScreeninfo, fx fbFixScreeninfo, memLen int) (fbGeometry, error) {
	bf := func(b fbBitfield) channel { return channel{uint(b.Offset), uint(b.Length)} }
	format := pixelFormat{bpp: int(v.BitsPerPixel), red: bf(v.Red), green: bf(v.Green), blue: bf(v.Blue), transp: bf(v.Transp)}
	name := strings.TrimRight(string(fx.ID[:]), "\x00")
	switch {
	case fx.Type != fbTypePackedPixels:
		return fbGeometry{}, fmt.Errorf("driver %q lays pixels out in planes (type %d); siteclock draws packed pixels", name, fx.Type)
	case fx.Visual != fbVisualTrueColor && fx.Visual != fbVisualDirectColor:
		return fbGeometry{}, fmt.Errorf("driver %q uses a colour palette (visual %d) at %d bits per pixel; siteclock draws 16 or 32 bits per pixel in true colour", name, fx.Visual, v.BitsPerPixel)
	case v.Grayscale != 0 || v.Nonstd != 0:
		return fbGeometry{}, fmt.Errorf("driver %q uses a grayscale or non-standard pixel format", name)
	}
	stride := int(fx.LineLength)
	if stride == 0 {
		// Some old drivers leave line_length out: rows follow each other.
		stride = int(v.XresVirtual) * int(v.BitsPerPixel) / 8
	}
	g := fbGeometry{
		width: int(v.Xres), height: int(v.Yres), stride: stride,
		offset: int(v.Yoffset)*stride + int(v.Xoffset)*int(v.BitsPerPixel)/8,
		format: format,
	}
	if _, err := newPixelCodec(format); err != nil {
		return fbGeometry{}, err
	}
	if err := g.check(memLen); err != nil {
		return fbGeometry{}, err
	}
	return g, nil
}

// pixelCodec converts rows between RGBA and a pixel format.
type pixelCodec struct {
	f          pixelFormat
	size       int    // bytes a pixel
	shift      [3]int // right shift of an 8-bit colour to its length
	opaque     uint32 // the transparency bits, all set: opaque
	expand     [3][256]uint8
	mask       [3]uint32
	fast32BGRX bool // XRGB8888 in memory order B, G, R, X: the common case
}

func newPixelCodec(f pixelFormat) (*pixelCodec, error) {
	if f.bpp != 16 && f.bpp != 32 {
		return nil, fmt.Errorf("%d bits per pixel; siteclock draws 16 or 32: set the framebuffer depth to 32 (framebuffer_depth=32 in config.txt on a Raspberry Pi, or fbset -depth 32)", f.bpp)
	}
	c := &pixelCodec{f: f, size: f.bpp / 8}
	for i, ch := range []channel{f.red, f.green, f.blue} {
		if ch.length == 0 || ch.length > 8 || ch.offset+ch.length > uint(f.bpp) {
			return nil, fmt.Errorf("%v: a colour has %d bits at bit %d; siteclock draws 1 to 8 bits a colour within the pixel", f, ch.length, ch.offset)
		}
		c.shift[i] = 8 - int(ch.length)
		c.mask[i] = 1<<ch.length - 1
		// Reading back, spread the bits over 8: 5 bits abcde become
		// abcdeabc, so white stays 255.
		for v := range 1 << ch.length {
			x := uint(v) << (8 - ch.length)
			for s := ch.length; s < 8; s *= 2 {
				x |= x >> s
			}
			c.expand[i][v] = uint8(x)
		}
	}
	if f.transp.length > 0 && f.transp.offset+f.transp.length <= uint(f.bpp) {
		c.opaque = (1<<f.transp.length - 1) << f.transp.offset
	}
	c.fast32BGRX = f.bpp == 32 && f.red == channel{16, 8} && f.green == channel{8, 8} && f.blue == channel{0, 8}
	return c, nil
}

// encodeRow converts RGBA pixels (4 bytes each) into dst.
func (c *pixelCodec) encodeRow(dst, src []uint8) {
	n := min(len(src)/4, len(dst)/c.size)
	if c.fast32BGRX {
		x := uint8(c.opaque >> 24)
		for i := range n {
			s, d := src[4*i:4*i+4:4*i+4], dst[4*i:4*i+4:4*i+4]
			d[0], d[1], d[2], d[3] = s[2], s[1], s[0], x
		}
		return
	}
	f := c.f
	pixel := func(s []uint8) uint32 {
		return uint32(s[0])>>c.shift[0]<<f.red.offset |
			uint32(s[1])>>c.shift[1]<<f.green.offset |
			uint32(s[2])>>c.shift[2]<<f.blue.offset | c.opaque
	}
	if c.size == 2 {
		for i := range n {
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(pixel(src[4*i:4*i+3:4*i+3])))
		}
		return
	}
	for i := range n {
		binary.LittleEndian.PutUint32(dst[4*i:], pixel(src[4*i:4*i+3:4*i+3]))
	}
}

// decodeRow converts pixels of src into RGBA (4 bytes each) in dst.
func (c *pixelCodec) decodeRow(dst, src []uint8) {
	n := min(len(dst)/4, len(src)/c.size)
	f := c.f
	for i := range n {
		var v uint32
		if c.size == 2 {
			v = uint32(binary.LittleEndian.Uint16(src[2*i:]))
		} else {
			v = binary.LittleEndian.Uint32(src[4*i:])
		}
		d := dst[4*i : 4*i+4 : 4*i+4]
		d[0] = c.expand[0][v>>f.red.offset&c.mask[0]]
		d[1] = c.expand[1][v>>f.green.offset&c.mask[1]]
		d[2] = c.expand[2][v>>f.blue.offset&c.mask[2]]
		d[3] = 0xff
	}
}

// explainOpen turns an error opening the framebuffer device into one that
// says what to do.
func explainOpen(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist: no display driver is loaded, or the display has another device name (ls /dev/fb* lists them); set the display device accordingly", ErrNoFramebuffer, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s: add the service user to the video group (usermod -aG video USER) and restart the service", ErrFramebufferPermission, path)
	}
	return fmt.Errorf("display: framebuffer %s: %w", path, err)
}
