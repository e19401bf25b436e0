package display

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/hd44780"
	"periph.io/x/devices/v3/pcf857x"

	"github.com/siteclock/siteclock/kiosk"
)

// LCDAddress is the I2C address of most PCF8574 LCD backpacks with the
// address pads left open; PCF8574A backpacks answer at 0x3f.
const LCDAddress uint16 = 0x27

// The PCF8574 backpack's wiring of the HD44780: P0 RS, P1 R/W, P2 E,
// P3 backlight, P4–P7 data lines D4–D7.
const (
	lcdPinRS        = 0
	lcdPinRW        = 1
	lcdPinE         = 2
	lcdPinBacklight = 3
	lcdPinD4        = 4
)

// CharLCD shows the kiosk's screens on an HD44780 character LCD (16×2,
// 20×2, 16×4 or 20×4) behind a PCF8574 I2C backpack, in the layout of
// LCDLines.
//
// Every pin change is an I2C transaction, about ten a character, so Show
// writes only the part of each row that changed: the idle clock going from
// 7:02 to 7:03 rewrites one character, not the screen.
//
// A CharLCD is used by one goroutine, the kiosk runner; it is not safe for
// concurrent use.
type CharLCD struct {
	bus        i2c.Bus
	addr       uint16
	cols, rows int
	pins       []gpio.PinIO
	// lcd is nil after a bus error: the controller may have lost power or
	// half a byte, so the next Show starts it again.
	lcd *hd44780.Dev
	// shown is what each row of the LCD holds, when known.
	shown []string
	known []bool
	last  lastShown
}

// NewCharLCD starts the LCD of cols×rows characters whose backpack is at
// addr (0 means LCDAddress) on bus: it turns the backlight on and clears
// the display.
func NewCharLCD(bus i2c.Bus, addr uint16, cols, rows int) (*CharLCD, error) {
	if addr == 0 {
		addr = LCDAddress
	}
	if !(addr >= 0x20 && addr <= 0x27 || addr >= 0x38 && addr <= 0x3f) {
		return nil, fmt.Errorf("display: lcd: address %#x: a PCF8574 backpack answers at 0x20–0x27 (PCF8574A: 0x38–0x3f); check the address setting", addr)
	}
	switch {
	case (cols == 16 || cols == 20) && (rows == 2 || rows == 4):
	default:
		return nil, fmt.Errorf("display: lcd: size %dx%d: supported sizes are 16x2, 20x2, 16x4 and 20x4", cols, rows)
	}
	c := &CharLCD{bus: bus, addr: addr, cols: cols, rows: rows, shown: make([]string, rows), known: make([]bool, rows)}
	if err := c.start(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CharLCD) start() error {
	wrap := func(what string, err error) error {
		return fmt.Errorf("display: lcd: %s at %#x on %s: %w; %s", what, c.addr, c.bus, err, i2cAdvice)
	}
	// pcf857x.New only sets up pins; it sends nothing. Each pin change
	// after it writes the whole port, so the first one below also drives
	// every other pin low, whatever the chip held before.
	pcf, err := pcf857x.New(c.bus, c.addr, pcf857x.PCF8574)
	if err != nil {
		return wrap("open backpack", err)
	}
	c.pins = pcf.Pins
	if err := c.pins[lcdPinBacklight].Out(gpio.High); err != nil {
		return wrap("turn backlight on", err)
	}
	// R/W low: the kiosk only writes, and a controller left in read mode
	// would fight the backpack for the data lines.
	if err := c.pins[lcdPinRW].Out(gpio.Low); err != nil {
		return wrap("set R/W", err)
	}
	data := []gpio.PinOut{c.pins[lcdPinD4], c.pins[lcdPinD4+1], c.pins[lcdPinD4+2], c.pins[lcdPinD4+3]}
	lcd, err := hd44780.New(data, c.pins[lcdPinRS], c.pins[lcdPinE])
	if err != nil {
		return wrap("start HD44780", err)
	}
	// hd44780.New never sends a function set (its first instruction, 0x14,
	// is a cursor shift), which leaves the number of lines to the state of
	// the unconnected data lines D0–D3 when it switches to 4-bit mode.
	// Setting two lines (4-bit, 5×8 dots) ourselves makes rows 2–4 show
	// on controllers without pull-ups there too. A four-row LCD is a
	// two-line controller whose lines are folded.
	if err := c.instruction(0x28); err != nil {
		return wrap("set two-line mode", err)
	}
	c.lcd = lcd
	blank := strings.Repeat(" ", c.cols)
	for r := range c.shown {
		c.shown[r], c.known[r] = blank, true // New cleared the display
	}
	return nil
}

// instruction sends an instruction byte to the controller in 4-bit mode,
// for the one instruction hd44780.Dev does not offer.
func (c *CharLCD) instruction(b byte) error {
	if err := c.pins[lcdPinRS].Out(gpio.Low); err != nil {
		return err
	}
	for _, nibble := range []byte{b >> 4, b & 0x0f} {
		for i := range 4 {
			if err := c.pins[lcdPinD4+i].Out(gpio.Level(nibble>>i&1 == 1)); err != nil {
				return err
			}
		}
		// The controller latches the nibble on E's falling edge; each
		// I2C write takes far longer than the 450 ns pulse it needs.
		if err := c.pins[lcdPinE].Out(gpio.High); err != nil {
			return err
		}
		if err := c.pins[lcdPinE].Out(gpio.Low); err != nil {
			return err
		}
	}
	return nil
}

// Show writes s, unless it is the screen shown last: the runner shows the
// screen again on every clock tick. Only the characters that changed are
// sent, from the first that differs in a row to the last.
func (c *CharLCD) Show(s kiosk.Screen) error {
	if c.last.same(s) {
		return nil
	}
	if c.lcd == nil {
		if err := c.start(); err != nil {
			return err
		}
	}
	for r, text := range LCDLines(s, c.cols, c.rows) {
		from, to := 0, c.cols
		if c.known[r] {
			from, to = lcdChanged(c.shown[r], text)
		}
		if from == to {
			continue
		}
		err := c.lcd.SetCursor(lcdCursor(r, from, c.cols))
		if err == nil {
			err = c.lcd.Print(text[from:to])
		}
		if err != nil {
			c.lcd = nil
			clear(c.known)
			return fmt.Errorf("display: lcd: show screen %q at %#x on %s: %w; %s", s.Name, c.addr, c.bus, err, i2cAdvice)
		}
		c.shown[r], c.known[r] = text, true
	}
	c.last.set(s)
	return nil
}

// Close clears the display and turns the backlight off, so that a kiosk
// whose daemon stopped does not go on showing a clock that no longer
// moves. It does not close the bus, which belongs to the caller.
func (c *CharLCD) Close() error {
	if c.lcd == nil {
		if err := c.start(); err != nil {
			return err
		}
	}
	err := c.lcd.Halt()
	if err == nil {
		err = c.pins[lcdPinBacklight].Out(gpio.Low)
	}
	c.last = lastShown{}
	clear(c.known)
	c.lcd = nil
	if err != nil {
		return fmt.Errorf("display: lcd: turn off at %#x on %s: %w; %s", c.addr, c.bus, err, i2cAdvice)
	}
	return nil
}

// lcdChanged returns the span [from, to) of was and now that differs: all
// of it is rewritten, since moving the cursor costs as much as a
// character or two.
func lcdChanged(was, now string) (from, to int) {
	if len(was) != len(now) {
		return 0, len(now)
	}
	for from < len(now) && was[from] == now[from] {
		from++
	}
	to = len(now)
	for to > from && was[to-1] == now[to-1] {
		to--
	}
	return from, to
}

// lcdCursor returns the arguments of hd44780.Dev.SetCursor that put the
// cursor at row, col. SetCursor computes 0x40×line + column, which is
// right for two rows only; a four-row LCD is two 40-character lines
// folded, with rows 3 and 4 continuing rows 1 and 2 after cols characters
// (20×4: rows start at 0x00, 0x40, 0x14, 0x54). The DDRAM address is
// computed here and split so that SetCursor sends exactly it.
func lcdCursor(row, col, cols int) (line, column uint8) {
	addr := row%2*0x40 + row/2*cols + col
	return uint8(addr / 0x40), uint8(addr % 0x40)
}

// LCDLines lays s out on a character LCD of rows×cols as rows strings of
// exactly cols ASCII characters; Spanish and other accented letters are
// written without their accents, because the HD44780's common character
// ROM has none.
//
// Four rows show Title; Big, centred; the first non-empty line of Lines,
// or the Hints if it has none; and the Hints, or Status when the Hints are
// shown already or the kiosk is idle (a passer-by looks there for the
// kiosk's connection). A Big too long for a row takes the second and third
// rows, and the fourth shows the first of the body line, Hints and Status.
//
// Two rows show Big, centred, or Title if Big is empty, over the first
// line of Lines, or the Hints, or Status: except that the greeting shows
// the worker's name (Title) over the keys to press, the screens that ask
// a question (confirm, not-saved) show Big over the keys, and "saved"
// gives Big both rows when it needs them, since the direction and time of
// the punch must be read in full.
//
// Text too long for a row is cut with "..".
func LCDLines(s kiosk.Screen, cols, rows int) []string {
	if cols <= 0 || rows <= 0 {
		return nil
	}
	title, big, status := lcdASCII(s.Title), lcdASCII(s.Big), lcdASCII(s.Status)
	hints := lcdASCII(strings.Join(s.Hints, "  "))
	line := ""
	for _, l := range s.Lines {
		if l = lcdASCII(l); strings.TrimSpace(l) != "" {
			line = l
			break
		}
	}

	var text []string // the rows, before fitting
	centre := map[int]bool{}
	switch {
	case rows >= 4 && len(big) > cols:
		// Big on two rows, over whichever of the rest matters most.
		b1, b2 := lcdSplit(big, cols)
		text, centre[1], centre[2] = []string{title, b1, b2, lcdFirst(line, hints, status)}, true, true
	case rows >= 4:
		third, fourth := line, hints
		if line == "" {
			third, fourth = hints, status
		}
		if fourth == "" || s.Name == kiosk.ScreenIdle {
			fourth = status
		}
		text, centre[1] = []string{title, big, third, fourth}, true
	case s.Name == kiosk.ScreenGreet:
		text = []string{title, lcdFirst(hints, status)}
	case s.Name == kiosk.ScreenConfirm || s.Name == kiosk.ScreenNotSaved:
		text, centre[0] = []string{big, lcdFirst(hints, line, status)}, true
	case s.Name == kiosk.ScreenSaved && len(big) > cols:
		b1, b2 := lcdSplit(big, cols)
		text, centre[0], centre[1] = []string{b1, b2}, true, true
	default:
		top := big
		if top == "" {
			top = title
		} else {
			centre[0] = true
		}
		text = []string{top, lcdFirst(line, hints, status)}
	}

	out := make([]string, rows)
	for r := range out {
		t := ""
		if r < len(text) {
			t = strings.TrimSpace(text[r])
		}
		out[r] = lcdFit(t, cols, centre[r])
	}
	return out
}

// lcdSplit breaks Big in two rows of cols characters.
func lcdSplit(big string, cols int) (string, string) {
	return twoLineSplit(big, cols, func(s string) int { return len(s) })
}

// lcdFirst returns the first of texts that is not blank.
func lcdFirst(texts ...string) string {
	for _, t := range texts {
		if strings.TrimSpace(t) != "" {
			return t
		}
	}
	return ""
}

// lcdFit cuts t to cols characters, ending it with ".." if it had to be
// cut, and pads it with spaces, centred or on the right.
func lcdFit(t string, cols int, centre bool) string {
	if len(t) > cols {
		if cols > 4 {
			t = strings.TrimRight(t[:cols-2], " ") + ".."
		} else {
			t = t[:cols]
		}
	}
	left := 0
	if centre {
		left = (cols - len(t)) / 2
	}
	return strings.Repeat(" ", left) + t + strings.Repeat(" ", cols-left-len(t))
}

// lcdReplace writes the non-ASCII symbols the kiosk uses, and two ASCII
// characters the HD44780's ROM draws as something else (¥ and →).
var lcdReplace = map[rune]string{
	'•': "*", '·': "-", '…': "...", '–': "-", '—': "-",
	'‘': "'", '’': "'", '“': `"`, '”': `"`, '«': `"`, '»': `"`,
	'¿': "", '¡': "", // Spanish opening marks: ASCII has no inverted ones
	'ß': "ss", 'æ': "ae", 'Æ': "AE", 'œ': "oe", 'Œ': "OE",
	'ø': "o", 'Ø': "O", 'ł': "l", 'Ł': "L", 'đ': "d", 'Đ': "D", 'ı': "i",
	'\\': "/", '~': "-",
}

// lcdASCII writes s in printable ASCII: accents are dropped (á → a,
// ñ → n, ü → u), the symbols of lcdReplace replaced, and anything else
// shown as "?".
func lcdASCII(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch rep, ok := lcdReplace[r]; {
		case ok:
			b.WriteString(rep)
		case unicode.Is(unicode.Mn, r):
			// A combining accent, split from its letter by NFD.
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
