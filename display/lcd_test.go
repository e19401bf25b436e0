package display

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/siteclock/siteclock/kiosk"
)

// lcdSizes are the LCD sizes whose layouts have golden files.
var lcdSizes = []struct{ cols, rows int }{{16, 2}, {20, 4}}

// lcdBox draws lines in a frame, so that the golden files show the edge
// of the LCD and trailing spaces.
func lcdBox(lines []string, cols, rows int) string {
	var b strings.Builder
	edge := "+" + strings.Repeat("-", cols) + "+\n"
	fmt.Fprintf(&b, "%dx%d\n%s", cols, rows, edge)
	for _, l := range lines {
		fmt.Fprintf(&b, "|%s|\n", l)
	}
	b.WriteString(edge)
	return b.String()
}

func TestLCDLinesGolden(t *testing.T) {
	for _, sc := range i2cScreens(t) {
		t.Run(sc.name, func(t *testing.T) {
			var got strings.Builder
			for _, size := range lcdSizes {
				lines := LCDLines(sc.screen, size.cols, size.rows)
				if len(lines) != size.rows {
					t.Fatalf("%dx%d: %d lines, want %d", size.cols, size.rows, len(lines), size.rows)
				}
				for _, l := range lines {
					if len(l) != size.cols || strings.IndexFunc(l, func(r rune) bool { return r < 0x20 || r >= 0x7f || r == '\\' || r == '~' }) >= 0 {
						t.Errorf("%dx%d: line %q is not %d characters of ASCII the LCD shows as such", size.cols, size.rows, l, size.cols)
					}
				}
				got.WriteString(lcdBox(lines, size.cols, size.rows))
			}
			golden := filepath.Join("testdata", "lcd-"+sc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v; run go test ./display -update to create it", err)
			}
			if got.String() != string(want) {
				t.Errorf("layout differs from %s (go test ./display -update accepts it):\n%s", golden, got.String())
			}
		})
	}
}

func TestLCDLinesEdges(t *testing.T) {
	s := kiosk.Screen{Name: kiosk.ScreenMessage, Title: "T", Big: "B", Lines: []string{"", "  ", "first"}, Status: "S"}
	if got := LCDLines(s, 20, 4); got[2] != "first"+strings.Repeat(" ", 15) {
		t.Errorf("row 3 = %q, want the first non-blank line", got[2])
	}
	if got := LCDLines(s, 0, 2); got != nil {
		t.Errorf("no columns: %q, want nil", got)
	}
	if got := LCDLines(kiosk.Screen{}, 16, 2); !slices.Equal(got, []string{strings.Repeat(" ", 16), strings.Repeat(" ", 16)}) {
		t.Errorf("empty screen: %q, want blank rows", got)
	}
	// A screen with hints and no body line shows the hints, then Status.
	s = kiosk.Screen{Name: "x", Big: "Big", Hints: []string{"# OK", "* Back"}, Status: "Online"}
	want := []string{"T", "Big", "# OK  * Back", "Online"}
	s.Title = "T"
	for i, l := range LCDLines(s, 20, 4) {
		if strings.TrimSpace(l) != want[i] {
			t.Errorf("row %d = %q, want %q", i+1, l, want[i])
		}
	}
	// Cut with "..": the kept part ends without a space.
	if got := lcdFit("Sunday, Novem ber", 16, false); got != "Sunday, Novem.. " {
		t.Errorf("lcdFit = %q", got)
	}
}

func TestLCDASCII(t *testing.T) {
	tests := []struct{ in, want string }{
		{"¿Marcar ENTRADA otra vez?", "Marcar ENTRADA otra vez?"},
		{"¡Sí! Año, niño, pingüino", "Si! Ano, nino, pinguino"},
		{"ÁÉÍÓÚ Ñ Ü áéíóú", "AEIOU N U aeiou"},
		{"Fernández-Gutiérrez", "Fernandez-Gutierrez"},
		{"Online · 0 waiting", "Online - 0 waiting"},
		{"••••", "****"},
		{"Saving…", "Saving..."},
		{"Łukasz Straße Øre", "Lukasz Strasse Ore"},
		{"a\\b~c", "a/b-c"},
		{"日本\ttab", "?? tab"},
	}
	for _, tt := range tests {
		if got := lcdASCII(tt.in); got != tt.want {
			t.Errorf("lcdASCII(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLCDCursor(t *testing.T) {
	// The DDRAM address of each row's first character, from the HD44780
	// data sheet, and what hd44780.Dev.SetCursor makes of the arguments.
	rows := map[int][]int{16: {0x00, 0x40, 0x10, 0x50}, 20: {0x00, 0x40, 0x14, 0x54}}
	for cols, starts := range rows {
		for row, start := range starts {
			for _, col := range []int{0, 5, cols - 1} {
				line, column := lcdCursor(row, col, cols)
				if got := int(line)*0x40 + int(column); got != start+col || column >= 0x40 {
					t.Errorf("%d columns, row %d, column %d: SetCursor(%d, %d) addresses %#x, want %#x", cols, row, col, line, column, got, start+col)
				}
			}
		}
	}
}

// lcdSim is a PCF8574 backpack and an HD44780 on a bus: it decodes the
// port writes into the controller's instructions and keeps the characters
// it would show. It models a controller whose unconnected data lines read
// low, so two-line mode must be set by an instruction.
type lcdSim struct {
	t         *testing.T
	addr      uint16
	tx        int
	port      byte
	fourBit   bool
	twoLine   bool
	on        bool
	high      int // the pending high nibble in 4-bit mode, or -1
	ddram     [0x80]byte
	ac        int
	written   []int // DDRAM addresses written to
	backlight bool
}

func newLCDSim(t *testing.T, addr uint16) *lcdSim {
	s := &lcdSim{t: t, addr: addr, high: -1}
	for i := range s.ddram {
		s.ddram[i] = '#' // power-on garbage: New must clear it
	}
	return s
}

// The PCF8574 port bits of the backpack.
const (
	simRS = 1 << lcdPinRS
	simRW = 1 << lcdPinRW
	simE  = 1 << lcdPinE
	simBL = 1 << lcdPinBacklight
)

func (s *lcdSim) String() string                  { return "lcd-sim" }
func (s *lcdSim) SetSpeed(physic.Frequency) error { return nil }

func (s *lcdSim) Tx(addr uint16, w, r []byte) error {
	s.tx++
	if addr != s.addr || len(w) != 1 || len(r) != 0 {
		s.t.Errorf("transaction to %#x writing %d and reading %d bytes; want one byte written to %#x", addr, len(w), len(r), s.addr)
		return errors.New("no answer")
	}
	b := w[0]
	if s.port&simE != 0 && b&simE == 0 {
		if b&simRW != 0 {
			s.t.Error("E strobed with R/W high: the controller would drive the data lines")
		}
		s.nibble(b&simRS != 0, int(b>>4))
	}
	s.port = b
	s.backlight = b&simBL != 0
	return nil
}

func (s *lcdSim) nibble(rs bool, n int) {
	if !s.fourBit {
		// 8-bit mode: a nibble is a whole instruction, D0–D3 read low.
		if !rs && n == 0x2 {
			s.fourBit, s.twoLine = true, false
		}
		return
	}
	if s.high < 0 {
		s.high = n
		return
	}
	v := s.high<<4 | n
	s.high = -1
	if rs {
		s.ddram[s.ac] = byte(v)
		s.written = append(s.written, s.ac)
		switch s.ac {
		case 0x27:
			s.ac = 0x40
		case 0x67:
			s.ac = 0
		default:
			s.ac++
		}
		return
	}
	switch {
	case v&0x80 != 0:
		s.ac = v & 0x7f
	case v&0xe0 == 0x20:
		s.twoLine = v&0x08 != 0
	case v&0xf8 == 0x08:
		s.on = v&0x04 != 0
	case v&0xfe == 0x02:
		s.ac = 0
	case v == 0x01:
		for i := range s.ddram {
			s.ddram[i] = ' '
		}
		s.ac = 0
	}
}

// rows returns what the LCD shows. In one-line mode the odd rows are dark.
func (s *lcdSim) rows(cols, rows int) []string {
	out := make([]string, rows)
	for r := range out {
		if !s.on || !s.twoLine && r%2 == 1 {
			out[r] = strings.Repeat(" ", cols)
			continue
		}
		start := r%2*0x40 + r/2*cols
		out[r] = string(s.ddram[start : start+cols])
	}
	return out
}

func TestLCDShowsWhatItWrites(t *testing.T) {
	shots := i2cShots(t)
	for _, size := range []struct{ cols, rows int }{{16, 2}, {20, 2}, {16, 4}, {20, 4}} {
		t.Run(fmt.Sprintf("%dx%d", size.cols, size.rows), func(t *testing.T) {
			sim := newLCDSim(t, 0x27)
			c, err := NewCharLCD(sim, 0, size.cols, size.rows)
			if err != nil {
				t.Fatal(err)
			}
			if !sim.backlight {
				t.Error("backlight off after NewCharLCD")
			}
			blank := make([]string, size.rows)
			for i := range blank {
				blank[i] = strings.Repeat(" ", size.cols)
			}
			if got := sim.rows(size.cols, size.rows); !slices.Equal(got, blank) {
				t.Errorf("after NewCharLCD the LCD shows %q, want it clear", got)
			}
			for _, name := range []string{"idle", "idle-next-minute", "pin", "greet", "saved", "crew", "idle-es-offline", "saved-long-name", "locked", "idle"} {
				if err := c.Show(shots[name]); err != nil {
					t.Fatal(err)
				}
				if got, want := sim.rows(size.cols, size.rows), LCDLines(shots[name], size.cols, size.rows); !slices.Equal(got, want) {
					t.Fatalf("after %s the LCD shows\n%s\nwant\n%s", name, lcdBox(got, size.cols, size.rows), lcdBox(want, size.cols, size.rows))
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if got := sim.rows(size.cols, size.rows); sim.backlight || !slices.Equal(got, blank) {
				t.Errorf("after Close: backlight %v, LCD shows %q; want dark and clear", sim.backlight, got)
			}
		})
	}
}

func TestLCDWritesOnlyChanges(t *testing.T) {
	shots := i2cShots(t)
	sim := newLCDSim(t, 0x27)
	c, err := NewCharLCD(sim, 0, 20, 4)
	if err != nil {
		t.Fatal(err)
	}
	idle, next := shots["idle"], shots["idle-next-minute"]
	if err := c.Show(idle); err != nil {
		t.Fatal(err)
	}

	// The same screen again, even rebuilt from fresh slices, sends nothing.
	tx := sim.tx
	again := idle
	again.Lines = slices.Clone(idle.Lines)
	if err := c.Show(again); err != nil {
		t.Fatal(err)
	}
	if sim.tx != tx {
		t.Errorf("an unchanged screen sent %d transactions, want none", sim.tx-tx)
	}

	// The next minute changes one character of Big's row: only it is
	// written.
	sim.written = nil
	if err := c.Show(next); err != nil {
		t.Fatal(err)
	}
	before, after := LCDLines(idle, 20, 4)[1], LCDLines(next, 20, 4)[1]
	col := 0
	for before[col] == after[col] {
		col++
	}
	if want := []int{0x40 + col}; !slices.Equal(sim.written, want) {
		t.Errorf("clock tick wrote DDRAM addresses %#x, want only %#x (%q to %q)", sim.written, want, before, after)
	}
	t.Logf("clock tick on a 20x4 LCD: %d transactions", sim.tx-tx)

	// A screen whose fourth row alone changes writes in that row only.
	status := next
	status.Status = "Offline · 1 waiting · last sync 7:01 AM"
	sim.written = nil
	if err := c.Show(status); err != nil {
		t.Fatal(err)
	}
	if len(sim.written) == 0 {
		t.Fatal("the new status line was not written")
	}
	for _, a := range sim.written {
		if a < 0x54 || a >= 0x54+20 {
			t.Errorf("status change wrote DDRAM address %#x, outside row 4 (0x54–0x67)", a)
		}
	}
}

// lcdSession is the scripted session of the recorded LCD traffic.
func lcdSession(t *testing.T, shots map[string]kiosk.Screen) func(bus i2c.Bus, step func(string)) {
	return func(bus i2c.Bus, step func(string)) {
		t.Helper()
		step("start")
		c, err := NewCharLCD(bus, 0x3f, 20, 4)
		if err != nil {
			t.Fatal(err)
		}
		show := func(name string, s kiosk.Screen) {
			t.Helper()
			step(name)
			if err := c.Show(s); err != nil {
				t.Fatal(err)
			}
		}
		show("idle", shots["idle"])
		show("idle-again", shots["idle"])
		show("idle-next-minute", shots["idle-next-minute"])
		show("pin", shots["pin"])
		show("greet", shots["greet"])
		step("close")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLCDTraffic(t *testing.T) {
	shots := i2cShots(t)
	steps := i2cTrace(t, "lcd-20x4-i2c.txt", lcdSession(t, shots))
	count := map[string]int{}
	for _, s := range steps {
		count[s.name] = len(s.ops)
		t.Logf("%-16s %4d transactions", s.name, len(s.ops))
		for _, op := range s.ops {
			if op.Addr != 0x3f || len(op.W) != 1 {
				t.Fatalf("step %s: %+v, want one byte written to the backpack at 0x3f", s.name, op)
			}
		}
	}
	if count["idle-again"] != 0 {
		t.Errorf("an unchanged screen sent %d transactions, want none", count["idle-again"])
	}
	// One character and a cursor move: about 10 transactions each.
	if n := count["idle-next-minute"]; n == 0 || n > 25 {
		t.Errorf("the clock's next minute cost %d transactions, want 1 to 25", n)
	}
}

func TestLCDBusError(t *testing.T) {
	broken := errors.New("remote I/O error")
	bus := &i2cCount{fail: broken}
	if _, err := NewCharLCD(bus, 0, 16, 2); !i2cAdvises(t, err, broken, "display: lcd:") {
		return
	}

	sim := newLCDSim(t, 0x27)
	flaky := &i2cFlaky{Bus: sim}
	c, err := NewCharLCD(flaky, 0, 16, 2)
	if err != nil {
		t.Fatal(err)
	}
	idle := kiosk.Screen{Name: kiosk.ScreenIdle, Big: "7:02 AM", Lines: []string{"Sunday"}}
	flaky.fail = broken
	if err := c.Show(idle); !i2cAdvises(t, err, broken, `display: lcd: show screen "idle" at 0x27`) {
		return
	}
	// The controller may have lost half a byte: the next Show starts it
	// again and writes the whole screen, though the screen is the same.
	flaky.fail = nil
	if err := c.Show(idle); err != nil {
		t.Fatal(err)
	}
	if got, want := sim.rows(16, 2), LCDLines(idle, 16, 2); !slices.Equal(got, want) {
		t.Errorf("after recovering the LCD shows %q, want %q", got, want)
	}
}

// i2cFlaky passes transactions to Bus, or fails them with fail.
type i2cFlaky struct {
	i2c.Bus
	fail error
}

func (f *i2cFlaky) Tx(addr uint16, w, r []byte) error {
	if f.fail != nil {
		return f.fail
	}
	return f.Bus.Tx(addr, w, r)
}

func TestLCDSettings(t *testing.T) {
	for _, addr := range []uint16{0x1f, 0x28, 0x30, 0x40} {
		if _, err := NewCharLCD(&i2cCount{}, addr, 16, 2); err == nil || !strings.Contains(err.Error(), "0x20–0x27") {
			t.Errorf("NewCharLCD at %#x: %v, want an error naming the backpack addresses", addr, err)
		}
	}
	for _, size := range [][2]int{{16, 1}, {40, 2}, {20, 3}, {8, 2}} {
		if _, err := NewCharLCD(&i2cCount{}, 0, size[0], size[1]); err == nil || !strings.Contains(err.Error(), "16x2, 20x2, 16x4 and 20x4") {
			t.Errorf("NewCharLCD %dx%d: %v, want an error naming the sizes", size[0], size[1], err)
		}
	}
	if _, err := NewCharLCD(newLCDSim(t, 0x38), 0x38, 20, 4); err != nil {
		t.Errorf("PCF8574A at 0x38: %v", err)
	}
}

// BenchmarkI2CScreenChange reports the I2C transactions a screen change
// costs on each display (tx/op), over a real bus's sequence of changes:
// the idle clock ticking, and a worker starting to type a PIN.
func BenchmarkI2CScreenChange(b *testing.B) {
	shots := i2cShots(b)
	changes := map[string][2]kiosk.Screen{
		"clock-tick":   {shots["idle"], shots["idle-next-minute"]},
		"idle-to-pin":  {shots["idle"], shots["pin"]},
		"pin-to-greet": {shots["pin"], shots["greet"]},
	}
	displays := map[string]func(bus i2c.Bus) (interface{ Show(kiosk.Screen) error }, error){
		"oled": func(bus i2c.Bus) (interface{ Show(kiosk.Screen) error }, error) { return NewOLED(bus, 0) },
		"lcd16x2": func(bus i2c.Bus) (interface{ Show(kiosk.Screen) error }, error) {
			return NewCharLCD(bus, 0, 16, 2)
		},
		"lcd20x4": func(bus i2c.Bus) (interface{ Show(kiosk.Screen) error }, error) {
			return NewCharLCD(bus, 0, 20, 4)
		},
	}
	for _, dname := range []string{"oled", "lcd16x2", "lcd20x4"} {
		for _, cname := range []string{"clock-tick", "idle-to-pin", "pin-to-greet"} {
			b.Run(dname+"/"+cname, func(b *testing.B) {
				bus := &i2cCount{}
				d, err := displays[dname](bus)
				if err != nil {
					b.Fatal(err)
				}
				pair := changes[cname]
				if err := d.Show(pair[0]); err != nil {
					b.Fatal(err)
				}
				bus.n = 0
				shows := 0
				for i := 0; b.Loop(); i++ {
					if err := d.Show(pair[(i+1)%2]); err != nil {
						b.Fatal(err)
					}
					shows++
				}
				b.ReportMetric(float64(bus.n)/float64(shows), "tx/op")
			})
		}
	}
}

func TestTwoLineSplit(t *testing.T) {
	tests := []struct {
		text          string
		limit         int
		first, second string
	}{
		{"Clocked IN 7:02 AM", 16, "Clocked IN", "7:02 AM"},
		{"Clocked OUT 12:02 PM", 16, "Clocked OUT", "12:02 PM"},
		{"ENTRADA 7:05 a. m.", 16, "ENTRADA", "7:05 a. m."},
		{"This device is disabled", 16, "This device", "is disabled"},
		{"Saving", 16, "Saving", ""},
		// No break fits: the first line takes what fits.
		{"Este dispositivo está desactivado", 10, "Este", "dispositivo está desactivado"},
		{"aa bbbbbbbbbbbb", 4, "aa", "bbbbbbbbbbbb"},
	}
	for _, tt := range tests {
		first, second := twoLineSplit(tt.text, tt.limit, func(s string) int { return len([]rune(s)) })
		if first != tt.first || second != tt.second {
			t.Errorf("twoLineSplit(%q, %d) = %q, %q; want %q, %q", tt.text, tt.limit, first, second, tt.first, tt.second)
		}
	}
}
