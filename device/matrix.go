package device

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/siteclock/siteclock/kiosk"
)

// The layouts printed on the common membrane keypads. On the 4x4 one the
// letter keys are IN (A), OUT (B), Clock For (C) and language (D).
var (
	Layout3x4 = []string{"123", "456", "789", "*0#"}
	Layout4x4 = []string{"123A", "456B", "789C", "*0#D"}
)

// MatrixOptions tunes a Matrix; the zero value gives the defaults.
type MatrixOptions struct {
	// Debounce is how long a key must read the same before a press or a
	// release counts. Default 20 ms.
	Debounce time.Duration
	// Settle is how long a row is driven low before its columns are read,
	// for the line (and a simulated keypad) to follow. Default 1 ms.
	Settle time.Duration
}

// Matrix scans a diodeless matrix keypad (3x4, 4x4 or any size) wired to
// GPIO lines, and sends each key press once.
//
// Scan protocol, which a simulated keypad must answer to:
//
//   - Columns are inputs with the pull-up bias and falling-edge detection.
//     A column reads low when a held key connects it to a row driven low.
//   - At rest every row is an output driven low, so pressing any key pulls
//     its column low, and the falling edge wakes the scanner. Nothing is
//     read at rest: an idle keypad costs no CPU.
//   - Once woken, the scanner scans in passes. A pass releases every row
//     (input, pull-up bias, no edge detection), then for each row in order
//     drives it low (output), waits Settle, reads every column, and
//     releases it again. A row is selected only while it is an output
//     driven low; no row is ever driven high, so two held keys on one
//     column cannot short two outputs together.
//   - Passes follow each other (one takes rows × Settle) until every key
//     has read released for Debounce. Then every row is driven low again,
//     and after Settle each column is read once: a key held then starts a
//     new scan; otherwise the scanner waits for the next falling edge.
//     Edges caused by the scanning itself only wake it for one more pass.
//
// With gpio-sim this means: a held key (r, c) pulls column c down while row
// r's value reads 0 and up otherwise, following within Settle.
//
// A key counts once it has read pressed for Debounce, and once only
// however long it is held (there is no key repeat). On a matrix without
// diodes, three held keys at the corners of a rectangle make the fourth
// read pressed too, and no scan can tell which three are real: a key at a
// corner of such a rectangle is not reported while the rectangle lasts,
// and counts only after reading pressed on its own for Debounce. Keys held
// together otherwise are each reported once, when each was pressed.
type Matrix struct {
	rows, cols []gpio.PinIO
	keys       []kiosk.Key // row-major
	debounce   time.Duration
	settle     time.Duration
}

// NewMatrix configures the lines of a matrix keypad: rows (the lines
// driven by the scanner) and cols (the lines read, with pull-ups), and
// layout, one string per row with one character per column. A layout
// character is a kiosk key ('0'–'9', '#', '*', 'i', 'o', 'f', 'l'), or a
// letter A–D as printed on a 4x4 keypad for IN, OUT, Clock For and
// language.
func NewMatrix(rows, cols []gpio.PinIO, layout []string, opts MatrixOptions) (*Matrix, error) {
	if len(rows) == 0 || len(cols) == 0 {
		return nil, fmt.Errorf("device: keypad: %d rows and %d columns configured; it needs at least one of each", len(rows), len(cols))
	}
	if opts.Debounce < 0 || opts.Settle < 0 {
		return nil, errors.New("device: keypad: debounce and settle times cannot be negative")
	}
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	if opts.Settle == 0 {
		opts.Settle = time.Millisecond
	}
	if len(layout) != len(rows) {
		return nil, fmt.Errorf("device: keypad layout has %d rows but %d row pins are configured", len(layout), len(rows))
	}
	m := &Matrix{rows: rows, cols: cols, debounce: opts.Debounce, settle: opts.Settle}
	for r, line := range layout {
		chars := []rune(line)
		if len(chars) != len(cols) {
			return nil, fmt.Errorf("device: keypad layout row %d %q has %d keys but %d column pins are configured", r+1, line, len(chars), len(cols))
		}
		for _, c := range chars {
			k, ok := LayoutKey(c)
			if !ok {
				return nil, fmt.Errorf("device: keypad layout row %d %q: %q is not a key; use 0-9 # * i o f l, or A-D for IN, OUT, Clock For, language", r+1, line, c)
			}
			m.keys = append(m.keys, k)
		}
	}
	if err := checkDistinct("keypad", append(append([]gpio.PinIO(nil), rows...), cols...)); err != nil {
		return nil, err
	}
	for _, c := range cols {
		if err := c.In(gpio.PullUp, gpio.FallingEdge); err != nil {
			return nil, pinError("keypad column", c.Name(), err)
		}
	}
	if err := m.rest(); err != nil {
		return nil, err
	}
	return m, nil
}

// LayoutKey is the kiosk key a keypad layout character stands for: a
// kiosk key itself, or a letter A–D (either case) as printed on a 4x4
// keypad for IN, OUT, Clock For and language.
func LayoutKey(c rune) (kiosk.Key, bool) {
	switch c {
	case 'A', 'a':
		return kiosk.KeyIn, true
	case 'B', 'b':
		return kiosk.KeyOut, true
	case 'C', 'c':
		return kiosk.KeyClockFor, true
	case 'D', 'd':
		return kiosk.KeyLang, true
	}
	return kiosk.ParseKey(c)
}

// checkDistinct fails if a pin is missing or configured twice.
func checkDistinct[P interface{ Name() string }](what string, pins []P) error {
	seen := make(map[string]bool)
	for _, p := range pins {
		if any(p) == nil {
			return fmt.Errorf("device: %s: a pin is missing", what)
		}
		n := p.Name()
		if seen[n] {
			return fmt.Errorf("device: %s: pin %s is configured twice", what, n)
		}
		seen[n] = true
	}
	return nil
}

// Run scans the keypad and sends each key press to out, waiting for the
// receiver. It returns ctx.Err() when ctx is done, or an error if a line
// fails.
func (m *Matrix) Run(ctx context.Context, out chan<- kiosk.Key) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	// One goroutine per column turns its edges into a wake-up: several
	// edges before the scanner looks are one wake-up.
	wake := make(chan struct{}, 1)
	failed := make(chan error, len(m.cols))
	for _, c := range m.cols {
		wg.Go(func() {
			for {
				if err := waitEdge(ctx, "keypad column", c); err != nil {
					if ctx.Err() == nil {
						failed <- err
					}
					return
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		})
	}
	haltOnDone(ctx, m.cols)

	for {
		if err := m.rest(); err != nil {
			return err
		}
		time.Sleep(m.settle)
		// Wake-ups from before now are stale: the read below covers them.
		select {
		case <-wake:
		default:
		}
		if !m.anyColumnLow() {
			select {
			case <-wake:
			case err := <-failed:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := m.scan(ctx, out); err != nil {
			return err
		}
	}
}

// rest drives every row low, so that any key press makes an edge.
func (m *Matrix) rest() error {
	for _, r := range m.rows {
		if err := r.Out(gpio.Low); err != nil {
			return pinError("keypad row", r.Name(), err)
		}
	}
	return nil
}

func (m *Matrix) anyColumnLow() bool {
	for _, c := range m.cols {
		if c.Read() == gpio.Low {
			return true
		}
	}
	return false
}

// Raw readings of one key in a pass.
const (
	released = iota
	pressed
	ambiguous // at a corner of a rectangle of pressed keys
)

// keyState is a key's debounced state and its latest raw reading.
type keyState struct {
	down  bool      // debounced: pressed and reported
	raw   int       // released, pressed or ambiguous
	since time.Time // when raw last changed
}

// Once every key read pressed has been reported and nothing changed for
// heldCalm, the scanner looks only every heldPoll: a key held down (or a
// jammed one, or a wet membrane) then costs almost nothing, and its
// release is still seen within heldPoll plus the debounce time.
const (
	heldCalm = time.Second
	heldPoll = 50 * time.Millisecond
)

// scan runs passes until every key is released, sending presses.
func (m *Matrix) scan(ctx context.Context, out chan<- kiosk.Key) error {
	state := make([]keyState, len(m.keys))
	raw := make([]bool, len(m.keys))
	start := time.Now()
	for i := range state {
		state[i].since = start
	}
	changed := start // when a key's reading last changed
	for {
		if err := m.pass(raw); err != nil {
			return err
		}
		now := time.Now()
		busy := false
		for i, s := range state {
			r := released
			switch {
			case raw[i] && m.cornered(raw, i):
				r = ambiguous
			case raw[i]:
				r = pressed
			}
			if r != s.raw {
				s.raw, s.since = r, now
				changed = now
			}
			if r != ambiguous && (r == pressed) != s.down && now.Sub(s.since) >= m.debounce {
				s.down = r == pressed
				if s.down {
					select {
					case out <- m.keys[i]:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			state[i] = s
			busy = busy || s.down || s.raw != released
		}
		if !busy {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if now.Sub(changed) >= heldCalm && settled(state) {
			select {
			case <-time.After(heldPoll):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// settled reports whether every key reads as it was last reported: held
// keys reported, nothing pending.
func settled(state []keyState) bool {
	for _, s := range state {
		if (s.raw == pressed) != s.down || s.raw == ambiguous {
			return false
		}
	}
	return true
}

// pass reads every key once into raw (true: reads pressed).
func (m *Matrix) pass(raw []bool) error {
	for _, r := range m.rows {
		if err := r.In(gpio.PullUp, gpio.NoEdge); err != nil {
			return pinError("keypad row", r.Name(), err)
		}
	}
	n := len(m.cols)
	for i, r := range m.rows {
		if err := r.Out(gpio.Low); err != nil {
			return pinError("keypad row", r.Name(), err)
		}
		time.Sleep(m.settle)
		for j, c := range m.cols {
			raw[i*n+j] = c.Read() == gpio.Low
		}
		if err := r.In(gpio.PullUp, gpio.NoEdge); err != nil {
			return pinError("keypad row", r.Name(), err)
		}
	}
	return nil
}

// cornered reports whether the pressed key i is a corner of a rectangle
// of pressed keys, where a diodeless matrix cannot tell a real key from a
// ghost.
func (m *Matrix) cornered(raw []bool, i int) bool {
	n := len(m.cols)
	r, c := i/n, i%n
	for r2 := range m.rows {
		if r2 == r || !raw[r2*n+c] {
			continue
		}
		for c2 := range n {
			if c2 != c && raw[r*n+c2] && raw[r2*n+c2] {
				return true
			}
		}
	}
	return false
}
