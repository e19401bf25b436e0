package display

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/kiosk"
)

// DefaultTerminalWidth is the width of the box Terminal draws when
// NewTerminal is given no width: about the proportions of the kiosk's screen,
// and narrow enough for a split terminal.
const DefaultTerminalWidth = 44

// minTerminalWidth keeps room for the border and a few words.
const minTerminalWidth = 20

// keyLegend tells a person at the terminal which keys stand for the kiosk's
// keypad and buttons; it matches the mapping in package device.
var keyLegend = []string{
	"digits PIN", "# Enter", "* Clear/Back", "i IN", "o OUT",
	"f Clock For", "l Language", "Ctrl-C quit",
}

// ANSI escape sequences. The terminal may be in raw mode (package device
// puts it there to read single keys), where "\n" only moves down a line, so
// every line ends in "\r\n".
const (
	ansiClear = "\x1b[H\x1b[2J"
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	newline   = "\r\n"
)

// Terminal draws screens for a person at a terminal, for the demo: a box with
// the title, Big in a large block font, the icon as a coloured symbol, the
// photo as a colour thumbnail, the hints and the status line, and under the
// box a legend of the keys. It uses ANSI escapes and 24-bit colour, which
// every current terminal emulator understands.
//
// A Terminal is used by one goroutine, the kiosk runner; it is not safe for
// concurrent use.
type Terminal struct {
	w     io.Writer
	width int
	last  lastShown
}

// NewTerminal returns a Terminal that draws on w in a box width columns wide.
// A width of 0 or less means DefaultTerminalWidth; widths under 20 are
// raised to 20.
func NewTerminal(w io.Writer, width int) *Terminal {
	if width <= 0 {
		width = DefaultTerminalWidth
	}
	width = max(width, minTerminalWidth)
	return &Terminal{w: w, width: width}
}

// Show clears the terminal and draws s, unless s is the same as the screen
// drawn last: the runner re-shows the screen on every clock tick, and
// redrawing an unchanged screen only makes it flicker.
func (t *Terminal) Show(s kiosk.Screen) error {
	if t.last.same(s) {
		return nil
	}
	// One write per screen, so the terminal never shows half a screen.
	if _, err := t.w.Write(t.render(s)); err != nil {
		return fmt.Errorf("display: terminal: show screen %q: %w", s.Name, err)
	}
	t.last.set(s)
	return nil
}

func (t *Terminal) render(s kiosk.Screen) []byte {
	inner := t.width - 2
	var b bytes.Buffer
	b.WriteString(ansiClear)

	rule := func(left, right string) {
		b.WriteString(left + strings.Repeat("─", inner) + right + newline)
	}
	// row writes one line of the box with text centred; text may hold ANSI
	// codes but must fit in the box.
	row := func(text string) {
		pad := inner - visibleWidth(text)
		b.WriteString("│" + strings.Repeat(" ", pad/2) + text + strings.Repeat(" ", pad-pad/2) + "│" + newline)
	}
	// para writes plain text wrapped to the box, styled with style.
	para := func(text, style string) {
		for _, l := range wrap(text, inner-2) {
			if style != "" && l != "" {
				l = style + l + ansiReset
			}
			row(l)
		}
	}

	rule("╭", "╮")
	if s.Title != "" {
		para(s.Title, ansiBold)
		rule("├", "┤")
	}
	row("")
	if s.Big != "" {
		if rows, ok := blockText(s.Big, inner-2); ok {
			for _, r := range rows {
				row(ansiBold + r + ansiReset)
			}
		} else {
			para(strings.ToUpper(s.Big), ansiBold)
		}
		row("")
	}
	if sym := iconSymbol(s.Icon); sym != "" {
		row(sym)
		row("")
	}
	for _, l := range s.Lines {
		para(l, "")
	}
	if s.Photo != nil {
		if len(s.Lines) > 0 {
			row("")
		}
		for _, r := range thumbnail(s.Photo, s.PhotoRotation, min(thumbWidth, inner-2)) {
			row(r)
		}
	}
	if len(s.Lines) > 0 || s.Photo != nil {
		row("")
	}
	if len(s.Hints) > 0 || s.Status != "" {
		rule("├", "┤")
		if len(s.Hints) > 0 {
			for _, l := range wrapItems(s.Hints, "   ", inner-2) {
				row(l)
			}
		}
		if s.Status != "" {
			para(s.Status, ansiDim)
		}
	}
	rule("╰", "╯")
	for _, l := range wrapItems(keyLegend, " · ", t.width) {
		b.WriteString(ansiDim + l + ansiReset + newline)
	}
	return b.Bytes()
}

// iconSymbol returns the coloured symbol for an icon, with its name so the
// meaning does not rest on colour alone.
func iconSymbol(i kiosk.Icon) string {
	const (
		red    = "\x1b[1;31m"
		green  = "\x1b[1;32m"
		yellow = "\x1b[1;33m"
		cyan   = "\x1b[1;36m"
	)
	switch i {
	case kiosk.IconNone:
		return ""
	case kiosk.IconSaved:
		return green + "✔ saved" + ansiReset
	case kiosk.IconError:
		return red + "✖ error" + ansiReset
	case kiosk.IconOffline:
		return yellow + "⚠ offline" + ansiReset
	case kiosk.IconLocked:
		return red + "🔒 locked" + ansiReset
	case kiosk.IconCamera:
		return cyan + "📷 camera" + ansiReset
	case kiosk.IconWait:
		return yellow + "⌛ wait" + ansiReset
	}
	return "[" + string(i) + "]"
}

// Thumbnail size in terminal cells. Each cell shows two pixels, one above the
// other, with a half block, which makes the pixels about square.
const (
	thumbWidth   = 32
	thumbMaxRows = 12
)

// thumbnail renders a JPEG, turned clockwise by rotation degrees, as rows
// of coloured half blocks at most width cells wide, keeping its aspect
// ratio. A photo that does not decode is shown as "[photo]": the person
// still sees that a photo was taken.
func thumbnail(photo []byte, rotation, width int) []string {
	img, err := jpeg.Decode(bytes.NewReader(photo))
	if err != nil || img.Bounds().Empty() {
		return []string{"[photo]"}
	}
	img = camera.Rotate(img, rotation)
	bo := img.Bounds()
	w := width
	h := (w*bo.Dy() + bo.Dx() - 1) / bo.Dx() // in pixels, rounded up
	// A photo taller than the thumbnail may be is narrowed instead.
	if h > 2*thumbMaxRows {
		h = 2 * thumbMaxRows
		w = max(1, h*bo.Dx()/bo.Dy())
	}
	h = max(h+h%2, 2)
	px := func(x, y int) [3]uint8 { return average(img, x, y, w, h) }
	rows := make([]string, 0, h/2)
	for y := 0; y < h; y += 2 {
		var b strings.Builder
		for x := range w {
			top, bot := px(x, y), px(x, y+1)
			fmt.Fprintf(&b, "\x1b[38;2;%d;%d;%dm\x1b[48;2;%d;%d;%dm▀", top[0], top[1], top[2], bot[0], bot[1], bot[2])
		}
		b.WriteString(ansiReset)
		rows = append(rows, b.String())
	}
	return rows
}

// average returns the mean colour of the part of img that becomes pixel
// (x, y) of a w×h thumbnail.
func average(img image.Image, x, y, w, h int) [3]uint8 {
	bo := img.Bounds()
	x0, x1 := bo.Min.X+x*bo.Dx()/w, bo.Min.X+(x+1)*bo.Dx()/w
	y0, y1 := bo.Min.Y+y*bo.Dy()/h, bo.Min.Y+(y+1)*bo.Dy()/h
	x1, y1 = max(x1, x0+1), max(y1, y0+1)
	var r, g, b, n uint64
	for py := y0; py < y1; py++ {
		for px := x0; px < x1; px++ {
			cr, cg, cb, _ := img.At(px, py).RGBA()
			r, g, b, n = r+uint64(cr), g+uint64(cg), b+uint64(cb), n+1
		}
	}
	return [3]uint8{uint8(r / n >> 8), uint8(g / n >> 8), uint8(b / n >> 8)}
}

// visibleWidth is the number of terminal columns s takes, leaving out ANSI
// escape sequences.
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == '\x1b' && i+1 < len(s) && s[i+1] == '[' {
			// Skip a CSI sequence: parameters, then one final byte.
			i += 2
			for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
				i++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		n += runeWidth(r)
		i += size
	}
	return n
}

// runeWidth is the number of columns r takes. It knows only the wide
// characters this package draws (emoji) and the CJK blocks; a full East Asian
// Width table is not worth its size for a demo display.
func runeWidth(r rune) int {
	switch {
	case r == 0x231a || r == 0x231b, // ⌚ ⌛
		r >= 0x1100 && r <= 0x115f,   // Hangul Jamo
		r >= 0x2e80 && r <= 0xa4cf,   // CJK
		r >= 0xac00 && r <= 0xd7a3,   // Hangul
		r >= 0xf900 && r <= 0xfaff,   // CJK compatibility
		r >= 0xff00 && r <= 0xff60,   // full-width forms
		r >= 0x1f300 && r <= 0x1faff: // emoji
		return 2
	}
	return 1
}

// wrap breaks plain text into lines at most width columns wide, at spaces
// where it can. It always returns at least one line.
func wrap(text string, width int) []string {
	var lines []string
	cur, curW := "", 0
	for _, word := range strings.Fields(text) {
		ww := visibleWidth(word)
		switch {
		case curW == 0:
		case curW+1+ww <= width:
			cur, curW = cur+" "+word, curW+1+ww
			continue
		default:
			lines = append(lines, cur)
		}
		for ww > width { // a word longer than a line: split it
			head, hw := cutWidth(word, width)
			lines = append(lines, head)
			word, ww = word[len(head):], ww-hw
		}
		cur, curW = word, ww
	}
	return append(lines, cur)
}

// cutWidth returns the longest prefix of s at most width columns wide (at
// least one rune) and its width.
func cutWidth(s string, width int) (string, int) {
	w := 0
	for i, r := range s {
		rw := runeWidth(r)
		if w+rw > width && i > 0 {
			return s[:i], w
		}
		w += rw
	}
	return s, w
}

// wrapItems joins items with sep into lines at most width columns wide,
// breaking only between items.
func wrapItems(items []string, sep string, width int) []string {
	var lines []string
	cur := ""
	for _, it := range items {
		switch {
		case cur == "":
			cur = it
		case visibleWidth(cur+sep+it) <= width:
			cur += sep + it
		default:
			lines = append(lines, cur)
			cur = it
		}
	}
	return append(lines, cur)
}
