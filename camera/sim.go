package camera

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Default size of a simulated photo, a common webcam size.
const (
	DefaultWidth  = 640
	DefaultHeight = 480
)

// simTimeFormat is how the simulated photo shows when it was taken: to the
// millisecond, so that two punches in the same second do not get the same
// photo, which the office refuses for the second punch as a photo reused
// from another.
const simTimeFormat = "2006-01-02 15:04:05.000"

// simLabel is written on every simulated photo, so nobody mistakes it for a
// real one in the back office.
const simLabel = "siteclock sim"

// Sim is a simulated camera for the demo, headless mode and tests. Its photos
// are JPEGs of a test card: colour bars, a face-like oval, and the label
// "siteclock sim" with the time the photo was taken to the millisecond, so
// every photo differs and can be traced to its punch. SetFault makes it fail the way a real
// camera does.
//
// A Sim is safe for concurrent use: the demo may set a fault while the
// runner takes a photo.
type Sim struct {
	now           func() time.Time
	width, height int

	mu    sync.Mutex
	fault error
}

// SimOption configures a Sim.
type SimOption func(*Sim)

// WithSize sets the size of the simulated photos in pixels. Sizes of 0 or
// less keep the default, DefaultWidth × DefaultHeight.
func WithSize(width, height int) SimOption {
	return func(s *Sim) {
		if width > 0 && height > 0 {
			s.width, s.height = width, height
		}
	}
}

// NewSim returns a healthy simulated camera that reads the time to print on
// its photos from now (time.Now if nil).
func NewSim(now func() time.Time, opts ...SimOption) *Sim {
	if now == nil {
		now = time.Now
	}
	s := &Sim{now: now, width: DefaultWidth, height: DefaultHeight}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SetFault makes the camera fail with err, usually one of ErrNoCamera,
// ErrPermission, ErrUnplugged or ErrFormat, until it is called again; nil
// makes it healthy.
func (s *Sim) SetFault(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = err
}

// Check reports whether a photo can be taken: nil if so, else the fault set
// with SetFault, wrapped with what to do about it.
func (s *Sim) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("camera: check: %w", err)
	}
	return s.faultErr()
}

// Capture takes a photo and returns it as a JPEG. It fails with the fault set
// with SetFault, or when ctx is done.
func (s *Sim) Capture(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("camera: capture: %w", err)
	}
	if err := s.faultErr(); err != nil {
		return nil, err
	}
	img := s.render(s.now())
	// Drawing takes a moment on a Pi; a caller that gave up meanwhile does
	// not want the photo.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("camera: capture: %w", err)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, fmt.Errorf("camera: capture: encode JPEG: %w", err)
	}
	return b.Bytes(), nil
}

func (s *Sim) faultErr() error {
	s.mu.Lock()
	err := s.fault
	s.mu.Unlock()
	if err == nil {
		return nil
	}
	return explain(err, "simulated fault")
}

// simLayout is where the simulated photo's parts go; tests use it to look
// in the right places.
type simLayout struct {
	scale        int             // size of a font pixel in image pixels
	bars         image.Rectangle // the colour bars, with the face on them
	band         image.Rectangle // the black band with the text
	label, clock image.Rectangle // the text "siteclock sim" and the time
}

func (s *Sim) layout() simLayout {
	face := basicfont.Face7x13
	// Scale the small bitmap font so the time stays readable on a photo
	// shown at any size: 3 at 640×480.
	scale := max(1, min(s.height/160, s.width/(len(simTimeFormat)*face.Advance+8)))
	lineH := face.Height * scale
	pad := 4 * scale
	bandH := 2*lineH + 3*pad
	var l simLayout
	l.scale = scale
	l.band = image.Rect(0, s.height-bandH, s.width, s.height)
	l.bars = image.Rect(0, 0, s.width, l.band.Min.Y)
	textRect := func(y int, text string) image.Rectangle {
		return image.Rect(pad, y, pad+len(text)*face.Advance*scale, y+lineH)
	}
	l.label = textRect(l.band.Min.Y+pad, simLabel)
	l.clock = textRect(l.label.Max.Y+pad, simTimeFormat)
	return l
}

// Colours of the test card: 75% colour bars as on an SMPTE card.
var (
	simBars = []color.RGBA{
		{191, 191, 191, 255}, // grey
		{191, 191, 0, 255},   // yellow
		{0, 191, 191, 255},   // cyan
		{0, 191, 0, 255},     // green
		{191, 0, 191, 255},   // magenta
		{191, 0, 0, 255},     // red
		{0, 0, 191, 255},     // blue
	}
	simSkin    = color.RGBA{224, 172, 105, 255}
	simFeature = color.RGBA{60, 40, 30, 255}
	simBlack   = color.RGBA{0, 0, 0, 255}
	simWhite   = color.RGBA{255, 255, 255, 255}
)

// render draws the test card for a photo taken at t.
func (s *Sim) render(t time.Time) *image.RGBA {
	l := s.layout()
	img := image.NewRGBA(image.Rect(0, 0, s.width, s.height))

	for i, c := range simBars {
		x0, x1 := i*s.width/len(simBars), (i+1)*s.width/len(simBars)
		draw.Draw(img, image.Rect(x0, l.bars.Min.Y, x1, l.bars.Max.Y), image.NewUniform(c), image.Point{}, draw.Src)
	}

	// A face: an oval with two eyes and a mouth, so that face framing and
	// thumbnails have something to show.
	cx, cy := float64(s.width)/2, float64(l.bars.Dy())/2
	rx, ry := float64(s.width)/6, float64(l.bars.Dy())*0.38
	fillEllipse(img, l.bars, cx, cy, rx, ry, simSkin)
	eye := rx * 0.13
	fillEllipse(img, l.bars, cx-rx*0.4, cy-ry*0.25, eye, eye, simFeature)
	fillEllipse(img, l.bars, cx+rx*0.4, cy-ry*0.25, eye, eye, simFeature)
	fillEllipse(img, l.bars, cx, cy+ry*0.45, rx*0.45, ry*0.08, simFeature)

	draw.Draw(img, l.band, image.NewUniform(simBlack), image.Point{}, draw.Src)
	drawText(img, l.label.Min, l.scale, simLabel, simWhite)
	drawText(img, l.clock.Min, l.scale, t.Format(simTimeFormat), simWhite)
	return img
}

// fillEllipse fills the ellipse centred on (cx, cy) with radii rx and ry,
// clipped to clip.
func fillEllipse(img *image.RGBA, clip image.Rectangle, cx, cy, rx, ry float64, c color.RGBA) {
	r := image.Rect(int(cx-rx), int(cy-ry), int(cx+rx)+1, int(cy+ry)+1).Intersect(clip)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			dx, dy := (float64(x)+0.5-cx)/rx, (float64(y)+0.5-cy)/ry
			if dx*dx+dy*dy <= 1 {
				img.SetRGBA(x, y, c)
			}
		}
	}
}

// drawText draws text with its top left corner at at, in the 7×13 bitmap
// font with each font pixel scale×scale image pixels. A bitmap font scaled
// up stays sharp and needs no font files.
func drawText(img *image.RGBA, at image.Point, scale int, text string, c color.RGBA) {
	face := basicfont.Face7x13
	mask := image.NewAlpha(image.Rect(0, 0, len(text)*face.Advance, face.Height))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Ascent)}
	d.DrawString(text)
	src := image.NewUniform(c)
	for y := range mask.Rect.Dy() {
		for x := range mask.Rect.Dx() {
			if mask.AlphaAt(x, y).A >= 0x80 {
				p := at.Add(image.Pt(x*scale, y*scale))
				draw.Draw(img, image.Rect(p.X, p.Y, p.X+scale, p.Y+scale), src, image.Point{}, draw.Src)
			}
		}
	}
}
