package camera

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 4, 7, 2, 5, 0, time.UTC)

// clock is a settable now for the simulated camera.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func decode(t *testing.T, photo []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(photo))
	if err != nil {
		t.Fatalf("photo is not a JPEG: %v", err)
	}
	return img
}

func TestSimCaptureSize(t *testing.T) {
	tests := []struct {
		name string
		opts []SimOption
		w, h int
	}{
		{"default", nil, DefaultWidth, DefaultHeight},
		{"small", []SimOption{WithSize(320, 240)}, 320, 240},
		{"portrait", []SimOption{WithSize(480, 640)}, 480, 640},
		{"tiny", []SimOption{WithSize(16, 16)}, 16, 16},
		{"invalid keeps default", []SimOption{WithSize(0, -1)}, DefaultWidth, DefaultHeight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSim(func() time.Time { return t0 }, tt.opts...)
			if err := s.Check(t.Context()); err != nil {
				t.Fatalf("Check = %v, want nil for a healthy camera", err)
			}
			photo, err := s.Capture(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if b := decode(t, photo).Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("photo is %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
		})
	}
}

func TestSimNilNow(t *testing.T) {
	photo, err := NewSim(nil).Capture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	decode(t, photo)
}

func TestSimCapturesDifferOverTime(t *testing.T) {
	c := &clock{t: t0}
	s := NewSim(c.now)
	first, err := s.Capture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Capture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Error("two photos at the same time differ; want the same test card")
	}
	c.set(t0.Add(time.Second))
	later, err := s.Capture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, later) {
		t.Fatal("photos a second apart are the same; want the time on them")
	}
	// Punches in the same second get different photos too: the office
	// refuses a punch whose photo another punch sent.
	c.set(t0.Add(time.Millisecond))
	if soon, err := s.Capture(t.Context()); err != nil || bytes.Equal(first, soon) {
		t.Fatalf("photos a millisecond apart are the same (%v); want the time to the millisecond on them", err)
	}

	// Only the time on the photo changed: outside the 16×16 JPEG blocks
	// the clock text touches, the decoded photos are identical.
	a, b := decode(t, first), decode(t, later)
	clk := s.layout().clock
	blocks := image.Rect(clk.Min.X/16*16, clk.Min.Y/16*16, (clk.Max.X+15)/16*16, (clk.Max.Y+15)/16*16)
	if d := diffBounds(a, b); d.Empty() || !d.In(blocks) {
		t.Errorf("photos differ in %v, want only within the clock's blocks %v", d, blocks)
	}
}

func TestSimDrawsTime(t *testing.T) {
	s := NewSim(nil)
	l := s.layout()
	at := func(t time.Time) *image.RGBA { return s.render(t) }
	base := at(t0)

	// The label and the time are drawn, in white, in their places.
	for name, r := range map[string]image.Rectangle{"label": l.label, "clock": l.clock} {
		if n := countWhite(base, r); n < r.Dx()*r.Dy()/20 {
			t.Errorf("%s %v has %d white pixels; want text", name, r, n)
		}
	}
	if n := countWhite(base, l.band.Intersect(image.Rect(l.clock.Max.X, 0, s.width, s.height))); n != 0 {
		t.Errorf("%d white pixels right of the clock; want none", n)
	}

	// Each part of the time lands where "2006-01-02 15:04:05.000" puts it:
	// a photo a millisecond later differs only in the last digit, one a
	// year later only in the year's.
	char := func(i, n int) image.Rectangle {
		w := l.clock.Dx() / len(simTimeFormat)
		return image.Rect(l.clock.Min.X+i*w, l.clock.Min.Y, l.clock.Min.X+(i+n)*w, l.clock.Max.Y)
	}
	tests := []struct {
		name  string
		t     time.Time
		where image.Rectangle
	}{
		{"millisecond", t0.Add(time.Millisecond), char(22, 1)},
		{"second", t0.Add(time.Second), char(18, 1)},
		{"minute", t0.Add(time.Minute), char(15, 1)},
		{"hour", t0.Add(time.Hour), char(12, 1)},
		{"year", t0.AddDate(1, 0, 0), char(3, 1)},
		{"day", t0.AddDate(0, 0, 10), char(8, 1)},
	}
	for _, tt := range tests {
		d := diffBounds(base, at(tt.t))
		if d.Empty() || !d.In(tt.where) {
			t.Errorf("a photo a %s later differs in %v; want within %v", tt.name, d, tt.where)
		}
	}
}

// diffBounds returns the smallest rectangle holding every pixel where a and
// b differ.
func diffBounds(a, b image.Image) image.Rectangle {
	var d image.Rectangle
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				d = d.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return d
}

func countWhite(img *image.RGBA, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) == simWhite {
				n++
			}
		}
	}
	return n
}

func TestSimFault(t *testing.T) {
	tests := []struct {
		fault error
		hint  string
	}{
		{ErrNoCamera, "connect the FaceFront camera"},
		{ErrPermission, "usually video (usermod -aG video"},
		{ErrUnplugged, "cable"},
		{ErrFormat, "MJPEG"},
	}
	s := NewSim(func() time.Time { return t0 })
	for _, tt := range tests {
		s.SetFault(tt.fault)
		checkErr := s.Check(t.Context())
		photo, captureErr := s.Capture(t.Context())
		for name, err := range map[string]error{"Check": checkErr, "Capture": captureErr} {
			if !errors.Is(err, tt.fault) {
				t.Errorf("%s with fault %v = %v, want an error wrapping it", name, tt.fault, err)
				continue
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.fault.Error()) || !strings.Contains(msg, tt.hint) {
				t.Errorf("%s = %q, want %q and what to do (%q)", name, msg, tt.fault, tt.hint)
			}
		}
		if photo != nil {
			t.Errorf("Capture with fault %v returned a photo", tt.fault)
		}
	}

	// A fault that is not one of the sentinels still says where it came from.
	odd := errors.New("device busy")
	s.SetFault(odd)
	if err := s.Check(t.Context()); !errors.Is(err, odd) || !strings.HasPrefix(err.Error(), "camera: ") {
		t.Errorf("Check = %v, want a camera: error wrapping %v", err, odd)
	}

	s.SetFault(nil)
	if err := s.Check(t.Context()); err != nil {
		t.Errorf("Check after SetFault(nil) = %v, want nil", err)
	}
	if _, err := s.Capture(t.Context()); err != nil {
		t.Errorf("Capture after SetFault(nil) = %v, want nil", err)
	}
}

func TestSimContext(t *testing.T) {
	s := NewSim(func() time.Time { return t0 })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Check(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Check = %v, want context.Canceled", err)
	}
	if photo, err := s.Capture(ctx); !errors.Is(err, context.Canceled) || photo != nil {
		t.Errorf("Capture = %d bytes, %v; want context.Canceled", len(photo), err)
	}

	// A caller that gives up while the photo is being taken gets no photo.
	ctx, cancel = context.WithCancel(t.Context())
	s = NewSim(func() time.Time { cancel(); return t0 })
	if photo, err := s.Capture(ctx); !errors.Is(err, context.Canceled) || photo != nil {
		t.Errorf("Capture cancelled midway = %d bytes, %v; want context.Canceled", len(photo), err)
	}
}

func TestSimConcurrentFault(t *testing.T) {
	s := NewSim(nil, WithSize(64, 48))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			if i%2 == 0 {
				s.SetFault(ErrUnplugged)
			} else {
				s.SetFault(nil)
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.Capture(t.Context()); err != nil && !errors.Is(err, ErrUnplugged) {
					t.Errorf("Capture = %v", err)
				}
			}
		})
	}
	wg.Wait()
}
