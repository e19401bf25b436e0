package main

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/siteclock/siteclock/display"
	"github.com/siteclock/siteclock/kiosk"
)

// screen watches what the daemon draws. It reads the framebuffer two ways:
// the raw mapped memory, cheap enough to poll for "did anything change",
// and display.Framebuffer's Snapshot, which decodes the pixels for a
// comparison with what display.Renderer draws for the expected screen.
type screen struct {
	raw     []byte // the visible part of the framebuffer's memory, read-only
	stride  int    // bytes a row
	rgb     [3]int // byte offsets of red, green and blue in a 4-byte pixel
	fb      *display.Framebuffer
	r       *display.Renderer
	w, h    int
	renders map[string]*image.RGBA // by screen, for the screens the test waits for again and again
}

func openScreen(dev string) (*screen, error) {
	// Console "none": the daemon owns the console's mode; the agent only
	// looks.
	fb, err := display.OpenFramebuffer(dev, display.FramebufferOptions{Console: "none"})
	if err != nil {
		return nil, err
	}
	w, h := fb.Size()
	r, err := display.NewRenderer(w, h)
	if err != nil {
		fb.Close()
		return nil, err
	}
	// The raw pixels are read for quick checks: 32 bits, 8 a colour.
	var fw, fh, bpp, ro, rl, gof, gl, bo, bl int
	if _, err := fmt.Sscanf(fb.Format(), "%dx%d, %d bits per pixel, red %d:%d green %d:%d blue %d:%d", &fw, &fh, &bpp, &ro, &rl, &gof, &gl, &bo, &bl); err != nil || bpp != 32 || rl != 8 || gl != 8 || bl != 8 {
		fb.Close()
		return nil, fmt.Errorf("framebuffer %s: the agent reads 32-bit pixels with 8 bits a colour, not %s", dev, fb.Format())
	}
	sys := filepath.Join("/sys/class/graphics", filepath.Base(dev))
	stride, err := readInt(filepath.Join(sys, "stride"))
	if err != nil {
		fb.Close()
		return nil, err
	}
	f, err := os.Open(dev)
	if err != nil {
		fb.Close()
		return nil, err
	}
	defer f.Close()
	raw, err := unix.Mmap(int(f.Fd()), 0, stride*h, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		fb.Close()
		return nil, fmt.Errorf("map %s: %w", dev, err)
	}
	return &screen{raw: raw, stride: stride, rgb: [3]int{ro / 8, gof / 8, bo / 8}, fb: fb, r: r, w: w, h: h, renders: map[string]*image.RGBA{}}, nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// copyRaw returns a copy of the framebuffer's memory, for changed.
func (s *screen) copyRaw() []byte { return bytes.Clone(s.raw) }

// changed reports whether the framebuffer differs from before. It looks
// at every eighth row only (any text or icon is taller), so as not to take
// the CPU the daemon needs to draw.
func (s *screen) changed(before []byte) bool {
	for y := 0; y < s.h; y += 8 {
		if !bytes.Equal(s.raw[y*s.stride:(y+1)*s.stride], before[y*s.stride:(y+1)*s.stride]) {
			return true
		}
	}
	return false
}

// render draws sc as the daemon's display would, cached.
func (s *screen) render(sc kiosk.Screen) *image.RGBA {
	k := fmt.Sprintf("%#v", sc)
	img, ok := s.renders[k]
	if !ok {
		img = s.r.Render(sc)
		s.renders[k] = img
	}
	return img
}

// shows reports whether the framebuffer shows img within box, give or
// take a few pixels: a cheap check, on the raw memory, that a screen the
// test expects has been drawn where it differs from the one before. It
// looks at every third pixel of every third row: it is polled while the
// daemon draws, on the same emulated CPU.
func (s *screen) shows(img *image.RGBA, box image.Rectangle) bool {
	const step = 3
	n, off := 0, 0
	for y := box.Min.Y; y < box.Max.Y; y += step {
		row := s.raw[y*s.stride:]
		want := img.Pix[img.PixOffset(0, y):]
		for x := box.Min.X; x < box.Max.X; x += step {
			p, q := row[4*x:], want[4*x:]
			n++
			if far(p[s.rgb[0]], q[0]) || far(p[s.rgb[1]], q[1]) || far(p[s.rgb[2]], q[2]) {
				off++
			}
		}
	}
	return off <= n/100
}

// diff compares what is on the screen with img: how many pixels differ by
// more than a little in any channel, and their bounding box.
func diff(got, want *image.RGBA) (n int, box image.Rectangle) {
	b := got.Bounds().Intersect(want.Bounds())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		gp := got.Pix[got.PixOffset(b.Min.X, y):]
		wp := want.Pix[want.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			i := 4 * x
			if far(gp[i], wp[i]) || far(gp[i+1], wp[i+1]) || far(gp[i+2], wp[i+2]) {
				n++
				box = box.Union(image.Rect(b.Min.X+x, y, b.Min.X+x+1, y+1))
			}
		}
	}
	return n, box
}

// far reports whether two channel values differ by more than a rounding.
func far(a, b uint8) bool {
	d := int(a) - int(b)
	return d > 8 || d < -8
}

// tolerance is how many pixels may differ from the expected screen. The
// daemon and the agent draw with the same renderer, so a match is exact;
// the margin is for a stray pixel, where one wrong digit in the status
// line is already 250 pixels.
const tolerance = 32

// match is the result of waiting for a screen.
type match struct {
	ok    bool
	which int // index of the candidate that matched
	diff  int // pixels differing from the closest candidate
	box   image.Rectangle
	after time.Duration
}

// waitScreen snapshots the framebuffer until it shows one of candidates
// (the same screen in the variants the test cannot tell apart, such as
// the status line's count of waiting punches) or timeout passes.
func (s *screen) waitScreen(candidates []kiosk.Screen, timeout time.Duration) (match, error) {
	want := make([]*image.RGBA, len(candidates))
	for i, c := range candidates {
		want[i] = s.render(c)
	}
	start := time.Now()
	best := match{diff: -1}
	for {
		snap, err := s.fb.Snapshot()
		if err != nil {
			return best, err
		}
		var m match
		for i, w := range want {
			n, box := diff(snap, w)
			if i == 0 || n < m.diff {
				m = match{which: i, diff: n, box: box}
			}
		}
		if best.diff < 0 || m.diff < best.diff {
			best = m
		}
		if m.diff <= tolerance {
			m.ok, m.after = true, time.Since(start)
			return m, nil
		}
		if time.Since(start) > timeout {
			best.after = time.Since(start)
			return best, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
