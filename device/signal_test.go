package device

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/siteclock/siteclock/kiosk"
)

// fakeOut is an output line that records each change of level with the
// (fake) time since mark.
type fakeOut struct {
	pinBase
	mu      sync.Mutex
	level   gpio.Level
	known   bool
	mark    time.Time
	changes []string
	outs    int
	fail    error
}

func newFakeOut(name string) *fakeOut {
	return &fakeOut{pinBase: pinBase{name}, mark: time.Now()}
}

func (o *fakeOut) Out(l gpio.Level) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.outs++
	if !o.known || l != o.level {
		o.changes = append(o.changes, fmt.Sprintf("%s@%v", l, time.Since(o.mark)))
	}
	o.level, o.known = l, true
	return nil
}

func (o *fakeOut) In(gpio.Pull, gpio.Edge) error  { panic("an output line is not an input") }
func (o *fakeOut) Read() gpio.Level               { panic("an output line is not read") }
func (o *fakeOut) WaitForEdge(time.Duration) bool { panic("an output line has no edges") }
func (o *fakeOut) Pull() gpio.Pull                { return gpio.PullNoChange }
func (o *fakeOut) Halt() error                    { return nil }

// take returns the changes since the last take (or creation) and starts
// timing from now.
func (o *fakeOut) take() string {
	synctest.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	s := strings.Join(o.changes, " ")
	o.changes, o.mark = nil, time.Now()
	return s
}

func (o *fakeOut) count() int {
	synctest.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.outs
}

// runPlayer runs run until the test ends and checks that it stopped with
// the line off.
func runPlayer(t *testing.T, pin *fakeOut, off gpio.Level, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		if pin.level != off {
			t.Errorf("the line is %s after Run, want %s (off)", pin.level, off)
		}
	})
}

func TestBuzzerPatterns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newFakeOut("GPIO18")
		b, err := NewBuzzer(pin, SignalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := pin.take(); got != "Low@0s" {
			t.Errorf("NewBuzzer: %q, want the buzzer silenced at once", got)
		}
		runPlayer(t, pin, gpio.Low, b.Run)
		for _, tc := range []struct {
			kind kiosk.SoundKind
			want string
		}{
			{kiosk.SoundKey, "High@0s Low@30ms"},
			{kiosk.SoundError, "High@0s Low@400ms"},
			{kiosk.SoundSaved, "High@0s Low@60ms High@120ms Low@240ms"},
			{"no such sound", ""},
		} {
			pin.take()
			b.Beep(tc.kind)
			time.Sleep(2 * time.Second)
			if got := pin.take(); got != tc.want {
				t.Errorf("Beep(%s): %q, want %q", tc.kind, got, tc.want)
			}
		}

		// A later beep cuts the one in progress short.
		b.Beep(kiosk.SoundError)
		time.Sleep(100 * time.Millisecond)
		b.Beep(kiosk.SoundKey)
		time.Sleep(time.Second)
		if got, want := pin.take(), "High@0s Low@130ms"; got != want {
			t.Errorf("error then key: %q, want %q", got, want)
		}
		b.Beep(kiosk.SoundSaved)
		time.Sleep(70 * time.Millisecond) // in the pause between the two
		b.Beep(kiosk.SoundKey)
		time.Sleep(time.Second)
		if got, want := pin.take(), "High@0s Low@60ms High@70ms Low@100ms"; got != want {
			t.Errorf("saved then key: %q, want %q", got, want)
		}

		// Silence costs nothing: no line writes in an idle hour.
		before := pin.count()
		time.Sleep(time.Hour)
		if n := pin.count() - before; n != 0 {
			t.Errorf("%d line writes in a silent hour, want 0", n)
		}
	})
}

func TestBuzzerBeepNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newFakeOut("GPIO18")
		b, err := NewBuzzer(pin, SignalOptions{ActiveLow: true})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing plays yet: a blocking Beep would deadlock the bubble.
		for range 1000 {
			b.Beep(kiosk.SoundError)
		}
		b.Beep(kiosk.SoundKey)
		pin.take()
		runPlayer(t, pin, gpio.High, b.Run)
		time.Sleep(time.Second)
		// Only the latest beep plays, inverted for an active-low module.
		if got, want := pin.take(), "Low@0s High@30ms"; got != want {
			t.Errorf("after 1000 error beeps and a key beep: %q, want %q", got, want)
		}
	})
}

func TestBuzzerStopsSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newFakeOut("GPIO18")
		b, err := NewBuzzer(pin, SignalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Run(ctx) }()
		b.Beep(kiosk.SoundError)
		time.Sleep(100 * time.Millisecond)
		pin.take()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		if got := pin.take(); got != "Low@0s" {
			t.Errorf("stopping mid-beep: %q, want the buzzer off at once", got)
		}
	})
}

func TestBuzzerLineFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newFakeOut("GPIO18")
		pin.fail = errors.New("line_request ioctl: device or resource busy")
		if _, err := NewBuzzer(pin, SignalOptions{}); err == nil || !strings.Contains(err.Error(), "buzzer GPIO18") {
			t.Errorf("NewBuzzer on a busy line: %v, want an error naming it", err)
		}
		if _, err := NewBuzzer(nil, SignalOptions{}); err == nil {
			t.Error("NewBuzzer(nil) did not fail")
		}
	})
}

func TestStatusLED(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newFakeOut("GPIO23")
		l, err := NewStatusLED(pin, SignalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pin.take()
		runPlayer(t, pin, gpio.Low, l.Run)

		l.SetLED(LEDOn)
		time.Sleep(time.Millisecond)
		if got := pin.take(); got != "High@0s" {
			t.Errorf("on: %q", got)
		}
		before := pin.count()
		time.Sleep(time.Hour)
		if n := pin.count() - before; n != 0 {
			t.Errorf("%d line writes in an hour of steady light, want 0", n)
		}

		pin.take()
		l.SetLED(LEDBlink)
		time.Sleep(1200 * time.Millisecond)
		l.SetLED(LEDBlink) // again: the rhythm goes on
		time.Sleep(1000 * time.Millisecond)
		want := "Low@500ms High@1s Low@1.5s High@2s"
		if got := pin.take(); got != want {
			t.Errorf("blink: %q, want %q", got, want)
		}
		l.SetLED(LEDOff)
		time.Sleep(time.Second)
		if got := pin.take(); got != "Low@0s" {
			t.Errorf("off: %q", got)
		}
	})
}

// The daemon's Buzzer interface, restated so this package need not import
// the daemon.
var _ interface{ Beep(kiosk.SoundKind) } = (*Buzzer)(nil)

func TestStatusLEDIndicate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newFakeOut("GPIO23")
		l, err := NewStatusLED(pin, SignalOptions{ActiveLow: true})
		if err != nil {
			t.Fatal(err)
		}
		pin.take()
		runPlayer(t, pin, gpio.High, l.Run)
		for _, tc := range []struct {
			ready, online bool
			want          string
		}{
			{true, true, "Low@0s"},                    // on (active low)
			{true, false, "High@500ms Low@1s"},        // blinking, already on
			{false, true, "High@0s"},                  // off
			{false, false, ""},                        // still off
			{true, false, "Low@0s High@500ms Low@1s"}, // blinking from off
		} {
			l.Indicate(tc.ready, tc.online)
			time.Sleep(1200 * time.Millisecond)
			if got := pin.take(); got != tc.want {
				t.Errorf("Indicate(ready %v, online %v): %q, want %q", tc.ready, tc.online, got, tc.want)
			}
		}
	})
}
