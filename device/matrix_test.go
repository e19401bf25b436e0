package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"

	"github.com/siteclock/siteclock/kiosk"
)

// The keypad tests run in synctest bubbles: debounce and settle times are
// fake time, so they cost no wall time and do not depend on the machine's
// load. Everything that blocks (pins, channels) is made inside the bubble.

// pinBase is the part of gpio.PinIO that the fakes do not care about.
type pinBase struct{ name string }

func (p *pinBase) String() string                        { return p.name }
func (p *pinBase) Name() string                          { return p.name }
func (p *pinBase) Number() int                           { return -1 }
func (p *pinBase) Function() string                      { return "" }
func (p *pinBase) Func() pin.Func                        { return pin.FuncNone }
func (p *pinBase) SupportedFuncs() []pin.Func            { return []pin.Func{gpio.IN, gpio.OUT} }
func (p *pinBase) SetFunc(pin.Func) error                { return errors.New("fake pin: SetFunc not supported") }
func (p *pinBase) DefaultPull() gpio.Pull                { return gpio.PullNoChange }
func (p *pinBase) PWM(gpio.Duty, physic.Frequency) error { return errors.New("fake pin: no PWM") }

// edgeWaiter is the WaitForEdge half of a fake input: edges accumulate
// as one pending edge, like the kernel's queue seen from a slow reader,
// and Halt interrupts a wait.
type edgeWaiter struct {
	edges chan struct{}
	halt  chan struct{}
}

func newEdgeWaiter() edgeWaiter {
	return edgeWaiter{edges: make(chan struct{}, 1), halt: make(chan struct{}, 1)}
}

func (w edgeWaiter) fire() {
	select {
	case w.edges <- struct{}{}:
	default:
	}
}

func (w edgeWaiter) WaitForEdge(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.edges:
		return true
	case <-w.halt:
		return false
	case <-t.C:
		return false
	}
}

func (w edgeWaiter) Halt() error {
	select {
	case w.halt <- struct{}{}:
	default:
	}
	return nil
}

// fakeMatrix is a diodeless keypad wired to fake pins. It answers column
// reads from the wiring: rows and columns are nodes, a held key joins a
// row and a column, and a column reads low when its group of joined nodes
// holds a row driven low (ghost keys included, as on real hardware). A
// group holding a row driven low and one driven high is a short circuit,
// which it counts.
type fakeMatrix struct {
	mu      sync.Mutex
	rows    []*fakeRow
	cols    []*fakeCol
	held    map[[2]int]bool
	layout  []string
	reads   int // column reads
	shorts  int
	failOut error // returned by every row Out, when set
}

type fakeRow struct {
	pinBase
	m      *fakeMatrix
	output bool
	level  gpio.Level
	pull   gpio.Pull
}

type fakeCol struct {
	pinBase
	edgeWaiter
	m     *fakeMatrix
	pull  gpio.Pull
	edge  gpio.Edge
	level gpio.Level
}

func newFakeMatrix(layout []string) *fakeMatrix {
	m := &fakeMatrix{held: map[[2]int]bool{}, layout: layout}
	for i := range layout {
		m.rows = append(m.rows, &fakeRow{pinBase: pinBase{fmt.Sprintf("ROW%d", i)}, m: m, level: gpio.High})
	}
	for j := range len(layout[0]) {
		m.cols = append(m.cols, &fakeCol{pinBase: pinBase{fmt.Sprintf("COL%d", j)}, edgeWaiter: newEdgeWaiter(), m: m, level: gpio.High})
	}
	return m
}

func (m *fakeMatrix) pins() (rows, cols []gpio.PinIO) {
	for _, r := range m.rows {
		rows = append(rows, r)
	}
	for _, c := range m.cols {
		cols = append(cols, c)
	}
	return rows, cols
}

// where finds the key labelled c in the layout.
func (m *fakeMatrix) where(c byte) [2]int {
	for i, row := range m.layout {
		if j := strings.IndexByte(row, c); j >= 0 {
			return [2]int{i, j}
		}
	}
	panic("no key " + string(c))
}

func (m *fakeMatrix) press(keys string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range len(keys) {
		m.held[m.where(keys[i])] = true
	}
	m.update()
}

func (m *fakeMatrix) release(keys string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range len(keys) {
		delete(m.held, m.where(keys[i]))
	}
	m.update()
}

// update recomputes the column levels and fires edges. Call with mu held.
func (m *fakeMatrix) update() {
	nr := len(m.rows)
	parent := make([]int, nr+len(m.cols))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			i = parent[i]
		}
		return i
	}
	for k := range m.held {
		parent[find(k[0])] = find(nr + k[1])
	}
	low := map[int]bool{}
	high := map[int]bool{}
	for i, r := range m.rows {
		if r.output && r.level == gpio.Low {
			low[find(i)] = true
		}
		if r.output && r.level == gpio.High {
			high[find(i)] = true
		}
	}
	for g := range low {
		if high[g] {
			m.shorts++
		}
	}
	for j, c := range m.cols {
		l := gpio.High
		if low[find(nr+j)] || c.pull != gpio.PullUp {
			l = gpio.Low // a column without its pull-up never reads high
		}
		fall := c.level == gpio.High && l == gpio.Low
		rise := c.level == gpio.Low && l == gpio.High
		c.level = l
		if (fall && (c.edge == gpio.FallingEdge || c.edge == gpio.BothEdges)) ||
			(rise && (c.edge == gpio.RisingEdge || c.edge == gpio.BothEdges)) {
			c.fire()
		}
	}
}

func (r *fakeRow) In(pull gpio.Pull, edge gpio.Edge) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.output, r.pull = false, pull
	r.m.update()
	return nil
}

func (r *fakeRow) Out(l gpio.Level) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.m.failOut != nil {
		return r.m.failOut
	}
	r.output, r.level = true, l
	r.m.update()
	return nil
}

func (r *fakeRow) Read() gpio.Level               { panic("the scanner reads no row") }
func (r *fakeRow) WaitForEdge(time.Duration) bool { panic("the scanner waits on no row") }
func (r *fakeRow) Pull() gpio.Pull                { return r.pull }
func (r *fakeRow) Halt() error                    { return nil }

func (c *fakeCol) In(pull gpio.Pull, edge gpio.Edge) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.pull, c.edge = pull, edge
	c.m.update()
	return nil
}

func (c *fakeCol) Read() gpio.Level {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.reads++
	return c.level
}

func (c *fakeCol) Out(gpio.Level) error { panic("the scanner drives no column") }
func (c *fakeCol) Pull() gpio.Pull      { return c.pull }

func (m *fakeMatrix) readCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

// atRest reports whether every row is driven low, as between scans.
func (m *fakeMatrix) atRest() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.rows {
		if !r.output || r.level != gpio.Low {
			return false
		}
	}
	return true
}

// keypadRun runs a Matrix on a fake keypad inside a bubble.
type keypadRun struct {
	t    *testing.T
	fake *fakeMatrix
	out  chan kiosk.Key
	stop context.CancelFunc
	done chan error
}

func startKeypad(t *testing.T, layout []string, opts MatrixOptions) *keypadRun {
	t.Helper()
	fake := newFakeMatrix(layout)
	rows, cols := fake.pins()
	m, err := NewMatrix(rows, cols, layout, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	k := &keypadRun{t: t, fake: fake, out: make(chan kiosk.Key, 64), stop: cancel, done: make(chan error, 1)}
	go func() { k.done <- m.Run(ctx, k.out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-k.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if fake.shorts != 0 {
			t.Errorf("the scanner shorted a row driven high to one driven low %d times", fake.shorts)
		}
	})
	synctest.Wait()
	return k
}

// keys returns what the keypad has sent since the last call, once every
// goroutine is idle or asleep.
func (k *keypadRun) keys() string {
	synctest.Wait()
	var b strings.Builder
	for {
		select {
		case key := <-k.out:
			b.WriteByte(byte(key))
		default:
			return b.String()
		}
	}
}

func (k *keypadRun) expect(want string) {
	k.t.Helper()
	if got := k.keys(); got != want {
		k.t.Errorf("keys %q, want %q", got, want)
	}
}

func TestMatrixPressOnceAndIdleWithoutReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startKeypad(t, Layout3x4, MatrixOptions{})
		if !k.fake.atRest() {
			t.Fatal("at rest the rows are not all driven low")
		}
		idle := func(when string) {
			t.Helper()
			time.Sleep(100 * time.Millisecond) // let a scan finish
			synctest.Wait()
			before := k.fake.readCount()
			time.Sleep(time.Hour)
			synctest.Wait()
			if n := k.fake.readCount() - before; n != 0 {
				t.Errorf("%s: %d column reads in an idle hour, want 0 (waiting on edges)", when, n)
			}
			if !k.fake.atRest() {
				t.Errorf("%s: rows not all driven low while idle", when)
			}
		}
		idle("after start")

		k.fake.press("5")
		time.Sleep(100 * time.Millisecond)
		k.expect("5")
		time.Sleep(3 * time.Second) // held: no repeat
		k.expect("")
		k.fake.release("5")
		time.Sleep(100 * time.Millisecond)
		k.expect("")
		idle("after a key")

		k.fake.press("5")
		time.Sleep(50 * time.Millisecond)
		k.fake.release("5")
		k.fake.press("#")
		time.Sleep(50 * time.Millisecond)
		k.fake.release("#")
		k.expect("5#")
		idle("after two keys")

		// Stopping interrupts the edge waits at once (Halt) rather than
		// after their timeout.
		start := time.Now()
		k.stop()
		if err := <-k.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		k.done <- context.Canceled // for the cleanup
		if d := time.Since(start); d != 0 {
			t.Errorf("Run took %v to stop, want no time", d)
		}
	})
}

func TestMatrixDebounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startKeypad(t, Layout3x4, MatrixOptions{Debounce: 20 * time.Millisecond})

		// Contact bounce on press and on release: one key.
		bounce := func(first, second func(string)) {
			for range 8 {
				first("7")
				time.Sleep(300 * time.Microsecond)
				second("7")
				time.Sleep(700 * time.Microsecond)
			}
		}
		bounce(k.fake.press, k.fake.release)
		k.fake.press("7")
		time.Sleep(200 * time.Millisecond)
		bounce(k.fake.release, k.fake.press)
		k.fake.release("7")
		time.Sleep(200 * time.Millisecond)
		k.expect("7")

		// A blip shorter than the debounce time is no key.
		k.fake.press("8")
		time.Sleep(12 * time.Millisecond)
		k.fake.release("8")
		time.Sleep(200 * time.Millisecond)
		k.expect("")

		// A release shorter than the debounce time is no second press.
		k.fake.press("9")
		time.Sleep(100 * time.Millisecond)
		k.fake.release("9")
		time.Sleep(10 * time.Millisecond)
		k.fake.press("9")
		time.Sleep(100 * time.Millisecond)
		k.fake.release("9")
		time.Sleep(100 * time.Millisecond)
		k.expect("9")
	})
}

func TestMatrixTwoKeysHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startKeypad(t, Layout3x4, MatrixOptions{})
		step := func() { time.Sleep(60 * time.Millisecond) }

		// Different rows and columns: each once, when pressed.
		k.fake.press("1")
		step()
		k.expect("1")
		k.fake.press("9")
		step()
		k.expect("9")
		k.fake.release("1")
		step()
		k.fake.press("1") // 9 still held
		step()
		k.fake.release("19")
		step()
		k.expect("1")

		// Same row, then same column (two rows joined through one column:
		// a scanner driving unselected rows high would short them here).
		for _, pair := range []string{"46", "28", "0*"} {
			k.fake.press(pair[:1])
			step()
			k.fake.press(pair[1:])
			step()
			k.fake.release(pair[:1])
			step()
			k.fake.release(pair[1:])
			step()
			k.expect(pair)
		}
	})
}

func TestMatrixGhostKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startKeypad(t, Layout3x4, MatrixOptions{})
		step := func() { time.Sleep(60 * time.Millisecond) }

		// 1, 2 and 4 held make 5 read pressed too: 4 (and the ghost 5)
		// cannot be told apart and are not reported; 4 counts once 1 is
		// let go and it reads pressed on its own.
		k.fake.press("1")
		step()
		k.fake.press("2")
		step()
		k.expect("12")
		k.fake.press("4")
		step()
		time.Sleep(time.Second)
		k.expect("")
		k.fake.release("1")
		step()
		k.expect("4")
		k.fake.release("24")
		step()
		k.expect("")

		// Three corners pressed at once: nothing at all is certain.
		k.fake.press("689")
		time.Sleep(2 * time.Second)
		k.fake.release("689")
		step()
		k.expect("")

		// And the keypad still works afterwards.
		k.fake.press("3")
		step()
		k.fake.release("3")
		step()
		k.expect("3")
	})
}

func TestMatrix4x4Layout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startKeypad(t, Layout4x4, MatrixOptions{Settle: 2 * time.Millisecond})
		for _, c := range "A1B2C3D#*0" {
			k.fake.press(string(c))
			time.Sleep(80 * time.Millisecond)
			k.fake.release(string(c))
			time.Sleep(80 * time.Millisecond)
		}
		k.expect("i1o2f3l#*0")
	})
}

func TestMatrixKeyHeldAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFakeMatrix(Layout3x4)
		fake.press("0") // before the scanner waits for edges: no edge to see
		rows, cols := fake.pins()
		m, err := NewMatrix(rows, cols, Layout3x4, MatrixOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan kiosk.Key, 4)
		done := make(chan error)
		go func() { done <- m.Run(ctx, out) }()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		select {
		case k := <-out:
			if k != '0' {
				t.Errorf("key %q, want '0'", k)
			}
		default:
			t.Error("a key held when the scanner started was not seen")
		}
		cancel()
		<-done
	})
}

func TestMatrixRowFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFakeMatrix(Layout3x4)
		rows, cols := fake.pins()
		m, err := NewMatrix(rows, cols, Layout3x4, MatrixOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fake.mu.Lock()
		fake.failOut = errors.New("GPIOLine.Out(): line_request ioctl: device or resource busy")
		fake.mu.Unlock()
		start := time.Now()
		err = m.Run(t.Context(), make(chan kiosk.Key))
		if err == nil || !strings.Contains(err.Error(), "keypad row ROW0") || !strings.Contains(err.Error(), "gpioinfo") {
			t.Errorf("Run: %v, want the row, the cause and what to do", err)
		}
		// Its column goroutines were interrupted, not waited out.
		if d := time.Since(start); d != 0 {
			t.Errorf("Run took %v to fail, want no time", d)
		}
	})
}

func TestNewMatrixRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFakeMatrix(Layout3x4)
		rows, cols := fake.pins()
		for _, tc := range []struct {
			name       string
			rows, cols []gpio.PinIO
			layout     []string
			opts       MatrixOptions
			want       string
		}{
			{"no rows", nil, cols, nil, MatrixOptions{}, "at least one"},
			{"layout rows", rows, cols, Layout3x4[:3], MatrixOptions{}, "3 rows but 4 row pins"},
			{"layout columns", rows, cols, Layout4x4, MatrixOptions{}, `"123A" has 4 keys but 3 column pins`},
			{"not a key", rows, cols, []string{"123", "456", "789", "*0X"}, MatrixOptions{}, `'X' is not a key`},
			{"pin twice", rows, []gpio.PinIO{cols[0], cols[1], rows[2]}, Layout3x4, MatrixOptions{}, "ROW2 is configured twice"},
			{"pin missing", rows, []gpio.PinIO{cols[0], nil, cols[2]}, Layout3x4, MatrixOptions{}, "pin is missing"},
			{"negative", rows, cols, Layout3x4, MatrixOptions{Debounce: -1}, "negative"},
		} {
			_, err := NewMatrix(tc.rows, tc.cols, tc.layout, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: NewMatrix: %v, want an error with %q", tc.name, err, tc.want)
			}
		}
		// A layout may use kiosk key characters as well as A-D.
		if _, err := NewMatrix(rows, cols, []string{"12i", "45o", "78f", "*0l"}, MatrixOptions{}); err != nil {
			t.Errorf("kiosk key letters: %v", err)
		}
	})
}

// The GPIO helpers' tests are here too: gpio.go has no test file of its own.

func TestMissingPinSaysWhatToDo(t *testing.T) {
	denied := func(p string) error { return &os.PathError{Op: "open", Path: p, Err: syscall.EACCES} }
	ok := func(string) error { return nil }
	for _, tc := range []struct {
		name  string
		chips []string
		open  func(string) error
		want  string
	}{
		{"no chips", nil, ok, "no GPIO chips"},
		{"permission", []string{"/dev/gpiochip0"}, denied, "add the service user to group gpio"},
		{"unknown name", []string{"/dev/gpiochip0"}, ok, "no GPIO line named GPIO99: check the name in the config; `gpioinfo` lists them"},
	} {
		err := missingPin("GPIO99", tc.chips, tc.open)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPinErrorHints(t *testing.T) {
	for _, tc := range []struct{ err, want string }{
		{"line_request ioctl: device or resource busy", "`gpioinfo` shows its consumer"},
		{"line_request ioctl: permission denied", "group gpio"},
		{"something else", "device: keypad row GPIO17: something else"},
	} {
		got := pinError("keypad row", "GPIO17", errors.New(tc.err)).Error()
		if !strings.Contains(got, tc.want) {
			t.Errorf("pinError(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestOpenPinUnknown runs the real driver on a machine without GPIO
// chips (a build machine); on a Pi it checks an unknown name instead.
func TestOpenPinUnknown(t *testing.T) {
	_, err := OpenPin("NO_SUCH_LINE")
	if err == nil || !strings.Contains(err.Error(), "no GPIO line named NO_SUCH_LINE") {
		t.Errorf("OpenPin: %v, want an error naming the line", err)
	}
}

// A key held down for long (or a jammed one) is scanned only every
// heldPoll once it has been reported, and its release is still seen.
func TestMatrixHeldKeyScansSlowly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := startKeypad(t, Layout3x4, MatrixOptions{})
		k.fake.press("7")
		time.Sleep(100 * time.Millisecond)
		k.expect("7")
		time.Sleep(2 * heldCalm)
		synctest.Wait()
		before := k.fake.readCount()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		passes := (k.fake.readCount() - before) / 3 // three columns a row, four rows a pass
		passes /= 4
		if max := int(10*time.Second/heldPoll) + 1; passes > max {
			t.Errorf("%d passes in 10 s with a key held, want at most %d (one every %v)", passes, max, heldPoll)
		}
		if passes == 0 {
			t.Error("no pass at all with a key held: its release would never be seen")
		}
		k.fake.release("7")
		time.Sleep(heldPoll + 100*time.Millisecond)
		k.fake.press("8")
		time.Sleep(100 * time.Millisecond)
		k.expect("8")
	})
}
