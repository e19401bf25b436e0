// Package display puts the kiosk's screens on a display. The kiosk decides
// what a screen says (kiosk.Screen); a display decides how it looks.
//
// Text and Headless print a screen as plain lines for headless mode,
// scripts and tests, and Terminal draws it for a person at a terminal in the
// demo. Renderer draws it as an image for the Linux framebuffer
// (Framebuffer); OLED and CharLCD lay it out for the small I2C displays.
package display

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/siteclock/siteclock/kiosk"
)

// Text renders s as plain text, one field a line, for headless mode and
// tests. Empty fields are left out, so the output is stable and easy to
// match:
//
//	--- <Name> ---
//	<Title>
//	<Big>
//	[<Icon>]
//	<each of Lines>
//	[photo: <N> bytes]
//	<Hints joined by three spaces>
//	<Status>
//
// Every line, the last included, ends with a newline. The photo is shown by
// its size only: a headless log must not fill up with JPEG bytes.
func Text(s kiosk.Screen) string {
	var b strings.Builder
	line := func(v string) {
		if v != "" {
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	fmt.Fprintf(&b, "--- %s ---\n", s.Name)
	line(s.Title)
	line(s.Big)
	if s.Icon != kiosk.IconNone {
		fmt.Fprintf(&b, "[%s]\n", s.Icon)
	}
	for _, l := range s.Lines {
		// An empty line in Lines is deliberate spacing; keep it.
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if s.Photo != nil {
		fmt.Fprintf(&b, "[photo: %d bytes]\n", len(s.Photo))
	}
	line(strings.Join(s.Hints, "   "))
	line(s.Status)
	return b.String()
}

// Headless prints screens as Text to a writer, usually standard output, so a
// script driving the kiosk through a pipe sees what a person would see.
//
// A Headless is used by one goroutine, the kiosk runner; it is not safe for
// concurrent use.
type Headless struct {
	w    io.Writer
	last lastShown
}

// NewHeadless returns a Headless display that writes to w.
func NewHeadless(w io.Writer) *Headless {
	return &Headless{w: w}
}

// Show writes Text(s) and a blank line to the writer, unless s is the same as
// the screen shown last: the runner re-shows the screen on every clock tick,
// and the output should only grow when something changed.
func (h *Headless) Show(s kiosk.Screen) error {
	if h.last.same(s) {
		return nil
	}
	if _, err := io.WriteString(h.w, Text(s)+"\n"); err != nil {
		return fmt.Errorf("display: headless: show screen %q: %w", s.Name, err)
	}
	h.last.set(s)
	return nil
}

// lastShown remembers the screen a display drew last, so that it can skip
// redrawing an unchanged one.
type lastShown struct {
	ok     bool
	screen kiosk.Screen
}

func (l *lastShown) same(s kiosk.Screen) bool {
	return l.ok && l.screen.Equal(s)
}

// set records s. It keeps copies of the slices because the caller may reuse
// them for the next screen.
func (l *lastShown) set(s kiosk.Screen) {
	s.Lines = slices.Clone(s.Lines)
	s.Hints = slices.Clone(s.Hints)
	s.Photo = slices.Clone(s.Photo)
	l.screen, l.ok = s, true
}
