package device

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/siteclock/siteclock/kiosk"
)

// fakeButton is a push button to ground on a fake input line: the test
// presses and releases it, and the line reports edges as configured.
type fakeButton struct {
	pinBase
	edgeWaiter
	mu    sync.Mutex
	pull  gpio.Pull
	edge  gpio.Edge
	held  bool
	reads int
}

func newFakeButton(name string) *fakeButton {
	return &fakeButton{pinBase: pinBase{name}, edgeWaiter: newEdgeWaiter()}
}

func (b *fakeButton) level() gpio.Level {
	return gpio.Level(!b.held && b.pull == gpio.PullUp)
}

func (b *fakeButton) set(held bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	before := b.level()
	b.held = held
	after := b.level()
	if before != after && (b.edge == gpio.BothEdges ||
		(after == gpio.Low && b.edge == gpio.FallingEdge) || (after == gpio.High && b.edge == gpio.RisingEdge)) {
		b.fire()
	}
}

func (b *fakeButton) press()   { b.set(true) }
func (b *fakeButton) release() { b.set(false) }

// bounce makes n short contact flickers, starting from the opposite of
// final, and leaves the button at final.
func (b *fakeButton) bounce(n int, final bool) {
	for range n {
		b.set(final)
		time.Sleep(400 * time.Microsecond)
		b.set(!final)
		time.Sleep(900 * time.Microsecond)
	}
	b.set(final)
}

func (b *fakeButton) In(pull gpio.Pull, edge gpio.Edge) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pull, b.edge = pull, edge
	return nil
}

func (b *fakeButton) Read() gpio.Level {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads++
	return b.level()
}

func (b *fakeButton) Pull() gpio.Pull { return b.pull }

func runButtons(t *testing.T, buttons []Button) (out chan kiosk.Key) {
	t.Helper()
	bs, err := NewButtons(buttons, ButtonOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	out = make(chan kiosk.Key, 16)
	done := make(chan error)
	go func() { done <- bs.Run(ctx, out) }()
	synctest.Wait() // Run has read the lines' levels and waits for edges
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return out
}

func drainKeys(out chan kiosk.Key) string {
	synctest.Wait()
	var b strings.Builder
	for {
		select {
		case k := <-out:
			b.WriteByte(byte(k))
		default:
			return b.String()
		}
	}
}

func TestButtonsBounceAndHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, outB := newFakeButton("GPIO5"), newFakeButton("GPIO6")
		out := runButtons(t, []Button{{kiosk.KeyIn, in}, {kiosk.KeyOut, outB}})
		if in.Pull() != gpio.PullUp {
			t.Errorf("the button line's pull is %s, want the pull-up", in.Pull())
		}
		expect := func(want string) {
			t.Helper()
			if got := drainKeys(out); got != want {
				t.Errorf("keys %q, want %q", got, want)
			}
		}

		in.bounce(6, true)
		time.Sleep(time.Second) // held a long time: still one press
		in.bounce(6, false)
		time.Sleep(100 * time.Millisecond)
		expect("i")

		// Both buttons, overlapping: each once, in the order pressed.
		outB.press()
		time.Sleep(50 * time.Millisecond)
		in.press()
		time.Sleep(50 * time.Millisecond)
		outB.release()
		in.release()
		time.Sleep(50 * time.Millisecond)
		expect("oi")

		// A blip shorter than the debounce time after a press, or a
		// flicker while released, is no press.
		in.press()
		time.Sleep(5 * time.Millisecond)
		in.release()
		time.Sleep(100 * time.Millisecond)
		expect("")

		// Idle buttons are not read.
		synctest.Wait()
		in.mu.Lock()
		before := in.reads
		in.mu.Unlock()
		time.Sleep(time.Hour)
		synctest.Wait()
		in.mu.Lock()
		after := in.reads
		in.mu.Unlock()
		if after != before {
			t.Errorf("%d reads of an idle button in an hour, want 0", after-before)
		}
	})
}

func TestButtonHeldAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lang := newFakeButton("GPIO13")
		lang.held = true // before Run: the line reads low from the start
		out := runButtons(t, []Button{{kiosk.KeyLang, lang}})
		time.Sleep(time.Second)
		if got := drainKeys(out); got != "" {
			t.Errorf("a button held at start sent %q", got)
		}
		lang.release()
		time.Sleep(100 * time.Millisecond)
		lang.press()
		time.Sleep(100 * time.Millisecond)
		if got := drainKeys(out); got != "l" {
			t.Errorf("keys %q after release and press, want \"l\"", got)
		}
	})
}

func TestNewButtonsRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newFakeButton("GPIO5"), newFakeButton("GPIO6")
		for _, tc := range []struct {
			name    string
			buttons []Button
			opts    ButtonOptions
			want    string
		}{
			{"none", nil, ButtonOptions{}, "none configured"},
			{"not a key", []Button{{'x', a}}, ButtonOptions{}, `'x' is not a key`},
			{"upper case", []Button{{'I', a}}, ButtonOptions{}, `'I' is not a key`},
			{"pin twice", []Button{{kiosk.KeyIn, a}, {kiosk.KeyOut, a}}, ButtonOptions{}, "GPIO5 is configured twice"},
			{"pin missing", []Button{{kiosk.KeyIn, a}, {kiosk.KeyOut, nil}}, ButtonOptions{}, "pin is missing"},
			{"negative", []Button{{kiosk.KeyIn, a}, {kiosk.KeyOut, b}}, ButtonOptions{Debounce: -time.Millisecond}, "negative"},
		} {
			_, err := NewButtons(tc.buttons, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: NewButtons: %v, want an error with %q", tc.name, err, tc.want)
			}
		}
	})
}

// brokenEdges is a line whose driver cannot wait for edges: WaitForEdge
// returns false at once.
type brokenEdges struct{ *fakeButton }

func (brokenEdges) WaitForEdge(time.Duration) bool { return false }

func TestButtonsWithoutEdgeDetectionFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, err := NewButtons([]Button{{kiosk.KeyIn, brokenEdges{newFakeButton("GPIO7")}}}, ButtonOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = bs.Run(t.Context(), make(chan kiosk.Key))
		if err == nil || !strings.Contains(err.Error(), "GPIO7") || !strings.Contains(err.Error(), "edge") {
			t.Errorf("Run: %v, want an error naming the line and edge detection", err)
		}
	})
}
