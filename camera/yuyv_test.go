package camera

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"
)

// encoding is how a test frame is encoded: the standard's luma weights
// and whether values span the full byte.
type encoding struct {
	name   string
	kr, kb float64
	full   bool
}

var (
	bt601Limited = encoding{"BT.601 limited", 0.299, 0.114, false}
	bt601Full    = encoding{"BT.601 full", 0.299, 0.114, true}
	bt709Limited = encoding{"BT.709 limited", 0.2126, 0.0722, false}
)

// ycbcr encodes an RGB colour as a camera would, straight from the
// standards' definitions.
func (e encoding) ycbcr(c color.RGBA) (y, cb, cr byte) {
	r, g, b := float64(c.R)/255, float64(c.G)/255, float64(c.B)/255
	fy := e.kr*r + (1-e.kr-e.kb)*g + e.kb*b
	fcb := (b - fy) / (2 * (1 - e.kb))
	fcr := (r - fy) / (2 * (1 - e.kr))
	q := func(v float64) byte { return byte(math.Round(math.Min(math.Max(v, 0), 255))) }
	if e.full {
		return q(fy * 255), q(fcb*255 + 128), q(fcr*255 + 128)
	}
	return q(16 + fy*219), q(128 + fcb*224), q(128 + fcr*224)
}

func (e encoding) format(w, h int) Format {
	return Format{FourCC: FourCCYUYV, Width: w, Height: h, fullRange: e.full, bt709: e.kr != 0.299}
}

// patches are the colours of the test frame, each in a 16×16 square so
// that JPEG's 16×16 blocks keep them apart.
var patches = []color.RGBA{
	{0, 0, 0, 255}, {255, 255, 255, 255}, {128, 128, 128, 255},
	{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255},
	{255, 255, 0, 255}, {0, 255, 255, 255}, {255, 0, 255, 255},
	{224, 172, 105, 255}, {60, 40, 30, 255}, {191, 191, 191, 255},
}

const patchSize = 16

// yuyvFrame makes a YUYV frame of the patches side by side, rows padded to
// stride bytes with junk.
func yuyvFrame(e encoding, stride int) (data []byte, w, h int) {
	w, h = patchSize*len(patches), patchSize
	if stride == 0 {
		stride = 2 * w
	}
	data = bytes.Repeat([]byte{0xa5}, stride*h)
	for y := range h {
		for x := 0; x < w; x += 2 {
			yy, cb, cr := e.ycbcr(patches[x/patchSize])
			copy(data[y*stride+2*x:], []byte{yy, cb, yy, cr})
		}
	}
	return data, w, h
}

// near reports whether two colours differ by at most tol in each channel.
func near(a color.Color, b color.RGBA, tol int) bool {
	r, g, bb, _ := a.RGBA()
	d := func(x uint32, y uint8) bool { return math.Abs(float64(int(x>>8)-int(y))) <= float64(tol) }
	return d(r, b.R) && d(g, b.G) && d(bb, b.B)
}

func TestEncodeYUYVColours(t *testing.T) {
	for _, e := range []encoding{bt601Limited, bt601Full, bt709Limited} {
		t.Run(e.name, func(t *testing.T) {
			data, w, h := yuyvFrame(e, 0)
			photo, err := encodeYUYV(data, e.format(w, h), JPEGQuality)
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(photo))
			if err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Fatalf("photo is %v, want %dx%d", b, w, h)
			}
			for i, want := range patches {
				got := img.At(i*patchSize+patchSize/2, patchSize/2)
				if !near(got, want, 6) {
					t.Errorf("patch %d: got %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestEncodeYUYVWashedOutWithoutRange(t *testing.T) {
	// The range conversion matters: limited-range black taken as full
	// range is dark grey, not black. This guards the test above against
	// passing with the conversion left out.
	data, w, h := yuyvFrame(bt601Limited, 0)
	f := bt601Limited.format(w, h)
	f.fullRange = true
	photo, err := encodeYUYV(data, f, JPEGQuality)
	if err != nil {
		t.Fatal(err)
	}
	img := decode(t, photo)
	if got := img.At(patchSize/2, patchSize/2); near(got, patches[0], 6) {
		t.Errorf("limited-range black read as full range is %v; want it visibly grey", got)
	}
}

func TestYUYVImageExact(t *testing.T) {
	// Two rows of two pixel pairs.
	data := []byte{
		16, 128, 235, 128, 100, 16, 101, 240,
		0, 0, 255, 255, 126, 127, 128, 129,
	}
	tests := []struct {
		name      string
		full      bool
		y, cb, cr []byte
	}{
		{"full range is copied", true,
			[]byte{16, 235, 100, 101, 0, 255, 126, 128},
			[]byte{128, 16, 0, 127},
			[]byte{128, 240, 255, 129}},
		{"limited range is stretched", false,
			[]byte{0, 255, 98, 99, 0, 255, 128, 130},
			[]byte{128, 1, 0, 127}, // 16 is 0.5 on the full scale
			[]byte{128, 255, 255, 129}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := yuyvImage(data, Format{FourCC: FourCCYUYV, Width: 4, Height: 2, fullRange: tt.full})
			if err != nil {
				t.Fatal(err)
			}
			if img.SubsampleRatio != image.YCbCrSubsampleRatio422 {
				t.Errorf("subsampling %v, want 4:2:2", img.SubsampleRatio)
			}
			if !bytes.Equal(img.Y, tt.y) || !bytes.Equal(img.Cb, tt.cb) || !bytes.Equal(img.Cr, tt.cr) {
				t.Errorf("Y %v Cb %v Cr %v\nwant Y %v Cb %v Cr %v", img.Y, img.Cb, img.Cr, tt.y, tt.cb, tt.cr)
			}
		})
	}
}

func TestYUYVImageStride(t *testing.T) {
	// Drivers may pad rows; the padding (junk here) is not picture.
	tight, w, h := yuyvFrame(bt601Full, 0)
	padded, _, _ := yuyvFrame(bt601Full, 2*w+24)
	a, err := yuyvImage(tight, bt601Full.format(w, h))
	if err != nil {
		t.Fatal(err)
	}
	f := bt601Full.format(w, h)
	f.stride = 2*w + 24
	b, err := yuyvImage(padded, f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Y, b.Y) || !bytes.Equal(a.Cb, b.Cb) || !bytes.Equal(a.Cr, b.Cr) {
		t.Error("padded rows give another picture than tight ones")
	}
}

func TestYUYVImageOddWidth(t *testing.T) {
	// 3 pixels: two pairs in the frame, the last pixel dropped.
	data := []byte{10, 20, 30, 40, 50, 60, 70, 80}
	img, err := yuyvImage(data, Format{FourCC: FourCCYUYV, Width: 3, Height: 1, fullRange: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{10, 30, 50}; !bytes.Equal(img.Y[:3], want) || img.YStride != 3 {
		t.Errorf("Y %v stride %d, want %v stride 3", img.Y, img.YStride, want)
	}
	if !bytes.Equal(img.Cb, []byte{20, 60}) || !bytes.Equal(img.Cr, []byte{40, 80}) {
		t.Errorf("Cb %v Cr %v, want [20 60] [40 80]", img.Cb, img.Cr)
	}
}

func TestYUYVImageBadFrames(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		f    Format
	}{
		{"short", make([]byte, 2*640*480-1), Format{FourCC: FourCCYUYV, Width: 640, Height: 480}},
		{"empty", nil, Format{FourCC: FourCCYUYV, Width: 2, Height: 1}},
		{"no size", make([]byte, 64), Format{FourCC: FourCCYUYV}},
		{"stride too small", make([]byte, 1000), Format{FourCC: FourCCYUYV, Width: 8, Height: 2, stride: 15}},
	}
	for _, tt := range tests {
		if img, err := yuyvImage(tt.data, tt.f); err == nil {
			t.Errorf("%s: got a %v picture, want an error", tt.name, img.Bounds())
		}
	}
}

func TestBT709MatrixKeepsGreys(t *testing.T) {
	// Greys have no colour in either standard: Cb = Cr = 0 changes
	// nothing, and the matrix has no term for Y.
	m := bt709To601
	if m.yb == 0 && m.yr == 0 {
		t.Error("BT.709 to BT.601 leaves Y alone for colours; want a correction")
	}
	for _, g := range []byte{0, 64, 128, 255} {
		data := []byte{g, 128, g, 128}
		img, err := yuyvImage(data, Format{FourCC: FourCCYUYV, Width: 2, Height: 1, fullRange: true, bt709: true})
		if err != nil {
			t.Fatal(err)
		}
		if img.Y[0] != g || img.Cb[0] != 128 || img.Cr[0] != 128 {
			t.Errorf("grey %d became Y %d Cb %d Cr %d", g, img.Y[0], img.Cb[0], img.Cr[0])
		}
	}
}

// benchFrame is a 640×480 YUYV frame like a photo: smooth light and
// colour with a little sensor noise, which is what JPEG spends its time on.
func benchFrame() ([]byte, int, int) {
	w, h := 640, 480
	data := make([]byte, 2*w*h)
	noise := uint32(1)
	for y := range h {
		for x := 0; x < w; x += 2 {
			noise = noise*1664525 + 1013904223
			n := byte(noise >> 29) // 0–7
			i := 2 * (y*w + x)
			data[i] = byte(40+(x+y)/8) + n
			data[i+1] = byte(100 + x/16)
			data[i+2] = byte(40+(x+y)/8) + n/2
			data[i+3] = byte(150 - y/16)
		}
	}
	return data, w, h
}

// BenchmarkYUYVToJPEG measures turning one 640×480 YUYV frame into the
// stored JPEG, the work a photo costs on a camera without MJPEG, and the
// unpacking alone.
func BenchmarkYUYVToJPEG(b *testing.B) {
	data, w, h := benchFrame()
	for _, e := range []encoding{bt601Limited, bt709Limited} {
		f := e.format(w, h)
		b.Run("unpack/"+e.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := yuyvImage(data, f); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("jpeg/"+e.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var size int
			for b.Loop() {
				photo, err := encodeYUYV(data, f, JPEGQuality)
				if err != nil {
					b.Fatal(err)
				}
				size = len(photo)
			}
			b.ReportMetric(float64(size), "jpeg-bytes")
		})
	}
}

func ExampleFormat_String() {
	fmt.Println(Format{FourCC: FourCCMJPEG, Width: 640, Height: 480}, Format{FourCC: FourCCYUYV})
	// Output: MJPG 640x480 YUYV (any size)
}
