package display

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/siteclock/siteclock/kiosk"
)

// Pixel formats as drivers report them.
var (
	fbXRGB8888 = pixelFormat{bpp: 32, red: channel{16, 8}, green: channel{8, 8}, blue: channel{0, 8}}
	fbXBGR8888 = pixelFormat{bpp: 32, red: channel{0, 8}, green: channel{8, 8}, blue: channel{16, 8}}
	fbARGB8888 = pixelFormat{bpp: 32, red: channel{16, 8}, green: channel{8, 8}, blue: channel{0, 8}, transp: channel{24, 8}}
	fbRGB565   = pixelFormat{bpp: 16, red: channel{11, 5}, green: channel{5, 6}, blue: channel{0, 5}}
	fbBGR565   = pixelFormat{bpp: 16, red: channel{0, 5}, green: channel{5, 6}, blue: channel{11, 5}}
)

func TestPixelCodecKnownValues(t *testing.T) {
	// Pixels as RGBA and as the bytes each format puts in memory (little
	// endian): a mixed colour, pure red, white and black.
	in := []uint8{0x12, 0x34, 0x56, 0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff}
	tests := []struct {
		name string
		f    pixelFormat
		want []byte
	}{
		{"XRGB8888", fbXRGB8888, []byte{0x56, 0x34, 0x12, 0, 0, 0, 0xff, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0}},
		{"XBGR8888", fbXBGR8888, []byte{0x12, 0x34, 0x56, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0}},
		{"ARGB8888", fbARGB8888, []byte{0x56, 0x34, 0x12, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff}},
		// 0x12,0x34,0x56 is 2,13,10 in 5:6:5 bits: 2<<11|13<<5|10 = 0x11aa.
		{"RGB565", fbRGB565, []byte{0xaa, 0x11, 0x00, 0xf8, 0xff, 0xff, 0, 0}},
		// Blue on top: 10<<11|13<<5|2 = 0x51a2; red is 0x001f.
		{"BGR565", fbBGR565, []byte{0xa2, 0x51, 0x1f, 0x00, 0xff, 0xff, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newPixelCodec(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(tt.want))
			c.encodeRow(got, in)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("encoded % x, want % x", got, tt.want)
			}
			back := make([]uint8, len(in))
			c.decodeRow(back, got)
			// 8-bit formats read back exactly; 5:6:5 to within the
			// bits it keeps, with white and black exact.
			slack := 0
			if tt.f.bpp == 16 {
				slack = 7
			}
			for i := range in {
				if d := int(back[i]) - int(in[i]); d > slack || d < -slack {
					t.Errorf("read back % x, want % x within %d", back, in, slack)
					break
				}
			}
			if !bytes.Equal(back[8:], in[8:]) {
				t.Errorf("white and black read back as % x", back[8:])
			}
		})
	}
}

func TestPixelCodecMatchesGeneric(t *testing.T) {
	// The fast path for the common XRGB8888 gives the same bytes as the
	// general conversion.
	src := make([]uint8, 4*256)
	for i := range src {
		src[i] = uint8(i * 7)
	}
	fast, _ := newPixelCodec(fbARGB8888)
	slow, _ := newPixelCodec(fbARGB8888)
	slow.fast32BGRX = false
	a, b := make([]byte, len(src)), make([]byte, len(src))
	fast.encodeRow(a, src)
	slow.encodeRow(b, src)
	if !fast.fast32BGRX || !bytes.Equal(a, b) {
		t.Errorf("fast path %v gives different bytes", fast.fast32BGRX)
	}
}

func TestPixelCodecRejects(t *testing.T) {
	for _, f := range []pixelFormat{
		{bpp: 24, red: channel{16, 8}, green: channel{8, 8}, blue: channel{0, 8}},
		{bpp: 8},
		{bpp: 32, red: channel{20, 10}, green: channel{10, 10}, blue: channel{0, 10}}, // 10-bit colour
		{bpp: 16, red: channel{12, 5}, green: channel{5, 6}, blue: channel{0, 5}},     // red past the pixel
	} {
		if _, err := newPixelCodec(f); err == nil {
			t.Errorf("format %v accepted", f)
		}
	}
	_, err := newPixelCodec(pixelFormat{bpp: 24})
	if err == nil || !strings.Contains(err.Error(), "24 bits per pixel") || !strings.Contains(err.Error(), "depth") {
		t.Errorf("24 bpp: %v; want it to say how to set the depth", err)
	}
}

// fbFake is a framebuffer over plain memory: rows of stride bytes with
// padding at their ends, starting a few rows in (a panned screen), with
// sentinel bytes everywhere the display must not write.
type fbFake struct {
	mem      []byte
	g        fbGeometry
	released int
}

const fbSentinel = 0xa5

func newFBFake(t testing.TB, w, h int, f pixelFormat) (*Framebuffer, *fbFake) {
	t.Helper()
	stride := w*f.bpp/8 + 64
	g := fbGeometry{width: w, height: h, stride: stride, offset: 3*stride + 8*f.bpp/8, format: f}
	fake := &fbFake{mem: bytes.Repeat([]byte{fbSentinel}, (h+6)*stride), g: g}
	fb, err := newFramebuffer("fake", fake.mem, g, func() error { fake.released++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return fb, fake
}

// outside checks that no byte outside the visible rows changed.
func (f *fbFake) outside(t *testing.T) {
	t.Helper()
	visible := make([]bool, len(f.mem))
	for y := range f.g.height {
		start := f.g.offset + y*f.g.stride
		for i := start; i < start+f.g.width*f.g.format.bpp/8; i++ {
			visible[i] = true
		}
	}
	for i, b := range f.mem {
		if !visible[i] && b != fbSentinel {
			t.Fatalf("byte %d outside the screen was written (%#x)", i, b)
		}
	}
}

func TestFramebufferShowAndSnapshot(t *testing.T) {
	s := readyKiosk(t).keys("2222##").photo(testPhoto(t)).screen()
	for _, tc := range []struct {
		name  string
		f     pixelFormat
		slack int
	}{{"XRGB8888", fbXRGB8888, 0}, {"XBGR8888", fbXBGR8888, 0}, {"RGB565", fbRGB565, 7}, {"BGR565", fbBGR565, 7}} {
		t.Run(tc.name, func(t *testing.T) {
			fb, fake := newFBFake(t, 480, 320, tc.f)
			if w, h := fb.Size(); w != 480 || h != 320 {
				t.Errorf("Size = %dx%d", w, h)
			}
			if err := fb.Show(s); err != nil {
				t.Fatal(err)
			}
			fake.outside(t)
			got, err := fb.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			r, _ := NewRenderer(480, 320)
			want := r.Render(s)
			for i := range want.Pix {
				if d := int(got.Pix[i]) - int(want.Pix[i]); d > tc.slack || d < -tc.slack {
					x, y := (i/4)%480, i/4/480
					t.Fatalf("pixel (%d,%d) reads back as %v, was drawn %v", x, y, got.RGBAAt(x, y), want.RGBAAt(x, y))
				}
			}
		})
	}
}

func TestFramebufferCopiesOnlyChanges(t *testing.T) {
	fb, fake := newFBFake(t, 800, 480, fbXRGB8888)
	k := readyKiosk(t)
	if err := fb.Show(k.screen()); err != nil {
		t.Fatal(err)
	}
	// Mark a pixel in the status band and one where the time is drawn:
	// a copy of a row overwrites its mark.
	r, _ := NewRenderer(800, 480)
	status, clock := image.Pt(700, 470), fbClockPixel(t, r, k.screen())
	mark := func(p image.Point) { copy(fake.g.row(fake.mem, p.Y)[4*p.X:], []byte{1, 2, 3, 4}) }
	marked := func(p image.Point) bool {
		return bytes.Equal(fake.g.row(fake.mem, p.Y)[4*p.X:][:4], []byte{1, 2, 3, 4})
	}
	mark(status)
	mark(clock)

	// The same screen again, from fresh slices: nothing is copied.
	if err := fb.Show(readyKiosk(t).screen()); err != nil {
		t.Fatal(err)
	}
	if !marked(status) || !marked(clock) {
		t.Fatal("showing the same screen again copied pixels")
	}
	// A minute later only the clock's rows change.
	if err := fb.Show(k.wait(time.Minute).screen()); err != nil {
		t.Fatal(err)
	}
	if !marked(status) {
		t.Error("the status band was copied though it did not change")
	}
	if marked(clock) {
		t.Error("the clock's rows were not copied though the time changed")
	}
	fake.outside(t)
	// A test pattern is copied whole, marks and all.
	if err := fb.ShowImage(TestPattern(800, 480)); err != nil {
		t.Fatal(err)
	}
	if marked(status) {
		t.Error("ShowImage left a pixel it should have copied")
	}
}

// fbClockPixel finds a pixel inside the ink of Big.
func fbClockPixel(t *testing.T, r *Renderer, s kiosk.Screen) image.Point {
	t.Helper()
	for _, o := range r.layout(s) {
		if o, ok := o.(textOp); ok && o.s == s.Big {
			return image.Pt(o.dot.X+10, o.dot.Y-5)
		}
	}
	t.Fatalf("no Big %q drawn", s.Big)
	return image.Point{}
}

func TestFramebufferShowImage(t *testing.T) {
	fb, fake := newFBFake(t, 480, 320, fbBGR565)
	// A smaller image: the rest is black.
	img := image.NewRGBA(image.Rect(10, 10, 110, 60)) // bounds need not start at 0
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	if err := fb.ShowImage(img); err != nil {
		t.Fatal(err)
	}
	got, err := fb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	white, black := color.RGBA{255, 255, 255, 255}, color.RGBA{0, 0, 0, 255}
	for _, c := range []struct {
		p    image.Point
		want color.RGBA
	}{{image.Pt(0, 0), white}, {image.Pt(99, 49), white}, {image.Pt(100, 49), black}, {image.Pt(479, 319), black}} {
		if g := got.RGBAAt(c.p.X, c.p.Y); g != c.want {
			t.Errorf("pixel %v = %v, want %v", c.p, g, c.want)
		}
	}
	fake.outside(t)
	// After an image, the next screen is drawn even if it was the last
	// one shown before.
	s := kiosk.Screen{Name: "idle", Big: "7:02 AM"}
	for _, err := range []error{fb.Show(s), fb.ShowImage(img), fb.Show(s)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := fb.Snapshot(); got.RGBAAt(0, 0) == white {
		t.Error("the screen was not drawn again after an image")
	}
}

func TestFramebufferClose(t *testing.T) {
	fb, fake := newFBFake(t, 480, 320, fbXRGB8888)
	if err := fb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fb.Close(); err != nil || fake.released != 1 {
		t.Errorf("second Close = %v, released %d times; want nil, once", err, fake.released)
	}
	if err := fb.Show(kiosk.Screen{Name: "idle"}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Show after Close = %v", err)
	}
	if _, err := fb.Snapshot(); err == nil {
		t.Error("Snapshot after Close worked")
	}
	if err := fb.ShowImage(image.NewRGBA(image.Rect(0, 0, 1, 1))); err == nil {
		t.Error("ShowImage after Close worked")
	}
	// A failing release is reported.
	fb2, _ := newFBFake(t, 480, 320, fbXRGB8888)
	fb2.release = func() error { return errors.New("munmap: invalid argument") }
	if err := fb2.Close(); err == nil || !strings.Contains(err.Error(), "munmap") {
		t.Errorf("Close = %v, want the release error", err)
	}
}

func TestNewFramebufferChecksGeometry(t *testing.T) {
	g := fbGeometry{width: 800, height: 480, stride: 3200, format: fbXRGB8888}
	if _, err := newFramebuffer("fb", make([]byte, 3200*480-1), g, nil); !errors.Is(err, ErrFramebufferFormat) {
		t.Errorf("memory a byte short: %v", err)
	}
	if _, err := newFramebuffer("fb", make([]byte, 3200*480), g, nil); err != nil {
		t.Errorf("memory just large enough: %v", err)
	}
	small := fbGeometry{width: 128, height: 64, stride: 512, format: fbXRGB8888}
	if _, err := newFramebuffer("fb", make([]byte, 512*64), small, nil); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("128x64 screen: %v", err)
	}
}

// bochsInfo is what the emulated kernel's bochs driver reports: 1280×800,
// 32 bits per pixel.
func bochsInfo() (fbVarScreeninfo, fbFixScreeninfo) {
	v := fbVarScreeninfo{Xres: 1280, Yres: 800, XresVirtual: 1280, YresVirtual: 800, BitsPerPixel: 32,
		Red: fbBitfield{Offset: 16, Length: 8}, Green: fbBitfield{Offset: 8, Length: 8}, Blue: fbBitfield{Length: 8}}
	fx := fbFixScreeninfo{SmemLen: 1280 * 800 * 4, LineLength: 1280 * 4, Visual: fbVisualTrueColor}
	copy(fx.ID[:], "bochs-drmdrmfb")
	return v, fx
}

func TestFBGeometryOf(t *testing.T) {
	v, fx := bochsInfo()
	g, err := fbGeometryOf(v, fx, int(fx.SmemLen))
	if err != nil {
		t.Fatal(err)
	}
	if want := (fbGeometry{width: 1280, height: 800, stride: 5120, format: fbXRGB8888}); g != want {
		t.Errorf("geometry %+v, want %+v", g, want)
	}

	// Panned to the second of two screens, with padded rows.
	v.YresVirtual, v.Yoffset, v.Xoffset = 1600, 800, 0
	fx.LineLength, fx.SmemLen = 5632, 5632*1600
	if g, err := fbGeometryOf(v, fx, int(fx.SmemLen)); err != nil || g.offset != 800*5632 || g.stride != 5632 {
		t.Errorf("panned: %+v, %v", g, err)
	}
	// No line_length: rows follow each other at the virtual width.
	v, fx = bochsInfo()
	v.XresVirtual, fx.LineLength, fx.SmemLen = 1300, 0, 1300*4*800
	if g, err := fbGeometryOf(v, fx, int(fx.SmemLen)); err != nil || g.stride != 5200 {
		t.Errorf("no line_length: %+v, %v", g, err)
	}

	bad := []struct {
		name   string
		change func(v *fbVarScreeninfo, fx *fbFixScreeninfo)
		want   string
	}{
		{"24 bpp", func(v *fbVarScreeninfo, fx *fbFixScreeninfo) { v.BitsPerPixel = 24 }, "24 bits per pixel"},
		{"palette", func(v *fbVarScreeninfo, fx *fbFixScreeninfo) { v.BitsPerPixel, fx.Visual = 8, 3 }, "palette"},
		{"planes", func(v *fbVarScreeninfo, fx *fbFixScreeninfo) { fx.Type = 1 }, "planes"},
		{"grayscale", func(v *fbVarScreeninfo, fx *fbFixScreeninfo) { v.Grayscale = 1 }, "grayscale"},
		{"memory short", func(v *fbVarScreeninfo, fx *fbFixScreeninfo) { fx.SmemLen = 1280 * 4 * 799 }, "needs 4096000 bytes"},
		{"panned past the end", func(v *fbVarScreeninfo, fx *fbFixScreeninfo) { v.Yoffset = 1 }, "needs"},
		{"row too short", func(v *fbVarScreeninfo, fx *fbFixScreeninfo) { fx.LineLength = 1000 }, "less than 1280 pixels"},
	}
	for _, b := range bad {
		v, fx := bochsInfo()
		b.change(&v, &fx)
		_, err := fbGeometryOf(v, fx, int(fx.SmemLen))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: %v, want an error saying %q", b.name, err, b.want)
		}
	}
}

func TestFBInfoLayout(t *testing.T) {
	// The structs must match linux/fb.h byte for byte, or the ioctls
	// write past them.
	if n := unsafe.Sizeof(fbVarScreeninfo{}); n != 160 {
		t.Errorf("fb_var_screeninfo is %d bytes, want 160", n)
	}
	want := uintptr(68) // 32-bit: unsigned long is 4 bytes
	if unsafe.Sizeof(uintptr(0)) == 8 {
		want = 80
	}
	if n := unsafe.Sizeof(fbFixScreeninfo{}); n != want {
		t.Errorf("fb_fix_screeninfo is %d bytes, want %d", n, want)
	}
	if off := unsafe.Offsetof(fbFixScreeninfo{}.LineLength); off != 44 && off != 48 {
		t.Errorf("line_length at byte %d", off)
	}
}

func TestOpenFramebufferErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenFramebuffer(filepath.Join(dir, "fb0"), FramebufferOptions{})
	if !errors.Is(err, ErrNoFramebuffer) || !strings.Contains(err.Error(), "ls /dev/fb*") {
		t.Errorf("missing device: %v; want ErrNoFramebuffer saying how to find the device", err)
	}
	perm := explainOpen("/dev/fb0", &fs.PathError{Op: "open", Path: "/dev/fb0", Err: fs.ErrPermission})
	if !errors.Is(perm, ErrFramebufferPermission) || !strings.Contains(perm.Error(), "video group") {
		t.Errorf("permission denied: %v; want ErrFramebufferPermission naming the video group", perm)
	}
	if runtime.GOOS != "linux" {
		return
	}
	// A file that is not a framebuffer.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenFramebuffer(plain, FramebufferOptions{})
	if !errors.Is(err, ErrNoFramebuffer) || !strings.Contains(err.Error(), "not a framebuffer") {
		t.Errorf("plain file: %v; want it called not a framebuffer", err)
	}
}

func TestGraphicsConsole(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("consoles are switched on Linux only")
	}
	restore, err := graphicsConsole("none")
	if err != nil || restore() != nil {
		t.Errorf("console none: %v", err)
	}
	dir := t.TempDir()
	for _, tty := range []string{filepath.Join(dir, "tty9"), writeFile(t, filepath.Join(dir, "notatty"))} {
		restore, err := graphicsConsole(tty)
		if err == nil || !strings.Contains(err.Error(), tty) || !strings.Contains(err.Error(), "CAP_SYS_TTY_CONFIG") {
			t.Errorf("console %s: %v; want why and what to do", tty, err)
		}
		if restore == nil || restore() != nil {
			t.Errorf("console %s: restore must be callable and do nothing", tty)
		}
	}
}

func writeFile(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFramebufferFormat(t *testing.T) {
	fb, _ := newFBFake(t, 480, 320, fbRGB565)
	if got, want := fb.Format(), "480x320, 16 bits per pixel, red 11:5 green 5:6 blue 0:5"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	if fb.ConsoleError() != nil {
		t.Errorf("ConsoleError = %v on a display that never touched a console", fb.ConsoleError())
	}
}

func BenchmarkFramebufferCopy(b *testing.B) {
	img := TestPattern(800, 480)
	for _, f := range []struct {
		name string
		f    pixelFormat
	}{{"XRGB8888", fbXRGB8888}, {"XBGR8888", fbXBGR8888}, {"RGB565", fbRGB565}} {
		b.Run(f.name, func(b *testing.B) {
			fb, _ := newFBFake(b, 800, 480, f.f)
			if err := fb.ShowImage(img); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(img.Pix)))
			for b.Loop() {
				// Every row, as for a new screen that changes them all.
				fb.shownValid = false
				fb.flush()
			}
		})
	}
}
