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

// Button is one push button: a GPIO line and the key it sends. The button
// connects the line to ground (active low) and the line's pull-up holds it
// high otherwise, so no resistor is needed.
type Button struct {
	Key kiosk.Key
	Pin gpio.PinIn
}

// ButtonOptions tunes Buttons; the zero value gives the defaults.
type ButtonOptions struct {
	// Debounce is how long a line must stay quiet (no edge) before its
	// level counts. Default 20 ms.
	Debounce time.Duration
}

// Buttons watches push buttons on GPIO lines (IN, OUT, Clock For,
// language, or any kiosk key) and sends a key when one is pressed.
//
// Each line is an input with the pull-up bias and edge detection on both
// edges; a goroutine per line sleeps in WaitForEdge, so idle buttons cost
// no CPU. After an edge it waits until the line has had no edge for
// Debounce, then reads it: low after high is a press. Holding a button is
// one press; a button held when Run starts counts only once it has been
// released and pressed again.
type Buttons struct {
	buttons  []Button
	debounce time.Duration
}

// NewButtons configures the lines of buttons.
func NewButtons(buttons []Button, opts ButtonOptions) (*Buttons, error) {
	if len(buttons) == 0 {
		return nil, errors.New("device: buttons: none configured")
	}
	if opts.Debounce < 0 {
		return nil, errors.New("device: buttons: the debounce time cannot be negative")
	}
	if opts.Debounce == 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	pins := make([]gpio.PinIn, len(buttons))
	for i, b := range buttons {
		if k, ok := kiosk.ParseKey(rune(b.Key)); !ok || k != b.Key {
			return nil, fmt.Errorf("device: buttons: %q is not a key; use 0-9 # * i o f l", rune(b.Key))
		}
		pins[i] = b.Pin
	}
	if err := checkDistinct("buttons", pins); err != nil {
		return nil, err
	}
	for _, b := range buttons {
		if err := b.Pin.In(gpio.PullUp, gpio.BothEdges); err != nil {
			return nil, pinError(fmt.Sprintf("button %s", b.Key), b.Pin.Name(), err)
		}
	}
	return &Buttons{buttons: append([]Button(nil), buttons...), debounce: opts.Debounce}, nil
}

// Run watches the buttons and sends each press to out, waiting for the
// receiver. It returns ctx.Err() when ctx is done, or the first error of a
// line.
func (b *Buttons) Run(ctx context.Context, out chan<- kiosk.Key) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pins := make([]gpio.PinIn, len(b.buttons))
	for i, btn := range b.buttons {
		pins[i] = btn.Pin
	}
	haltOnDone(ctx, pins)

	var wg sync.WaitGroup
	for _, btn := range b.buttons {
		wg.Go(func() {
			if err := b.watch(ctx, btn, out); ctx.Err() == nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// watch sends btn's presses until ctx is done or the line fails.
func (b *Buttons) watch(ctx context.Context, btn Button, out chan<- kiosk.Key) error {
	role := fmt.Sprintf("button %s", btn.Key)
	down := btn.Pin.Read() == gpio.Low
	for {
		if err := waitEdge(ctx, role, btn.Pin); err != nil {
			return err
		}
		// Each further edge starts the quiet time again.
		for btn.Pin.WaitForEdge(b.debounce) {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		pressed := btn.Pin.Read() == gpio.Low
		if pressed && !down {
			select {
			case out <- btn.Key:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		down = pressed
	}
}
