package device

import (
	"context"
	"errors"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/siteclock/siteclock/kiosk"
)

// SignalOptions says how a buzzer or an LED is wired.
type SignalOptions struct {
	// ActiveLow: the device is on while the line is low, as on buzzer
	// modules switched by a PNP transistor ("low level trigger").
	ActiveLow bool
}

// Buzzer beeps an active buzzer (one with its own oscillator, sounding
// while powered) on a GPIO output line. A passive buzzer needs a square
// wave of a few kHz instead, which the GPIO character device cannot make
// (it has no PWM); wire an active one.
//
// Beeps: a key is one 30 ms beep, an error one 400 ms beep, a saved punch
// two short beeps, the second longer (60 ms, 60 ms pause, 120 ms): an
// active buzzer has one pitch, so rhythm is all that tells them apart.
//
// Beep never blocks. A beep replaces the one in progress instead of
// queueing behind it, so fast typing never runs seconds behind.
type Buzzer struct {
	p *player
}

// Beep patterns, as alternating on and off times.
var beeps = map[kiosk.SoundKind]pattern{
	kiosk.SoundKey:   {steps: []step{{true, 30 * time.Millisecond}}},
	kiosk.SoundError: {steps: []step{{true, 400 * time.Millisecond}}},
	kiosk.SoundSaved: {steps: []step{{true, 60 * time.Millisecond}, {false, 60 * time.Millisecond}, {true, 120 * time.Millisecond}}},
}

// NewBuzzer silences the buzzer on pin and returns it; Run plays beeps.
func NewBuzzer(pin gpio.PinOut, opts SignalOptions) (*Buzzer, error) {
	p, err := newPlayer("buzzer", pin, opts)
	if err != nil {
		return nil, err
	}
	return &Buzzer{p: p}, nil
}

// Beep asks for the beep of kind, replacing any beep in progress or not
// yet started. Unknown kinds are silent. It implements the daemon's Buzzer.
func (b *Buzzer) Beep(kind kiosk.SoundKind) {
	if pat, ok := beeps[kind]; ok {
		b.p.play(pat)
	}
}

// Run plays beeps until ctx is done, then silences the buzzer and returns
// ctx.Err(); or returns an error if the line fails.
func (b *Buzzer) Run(ctx context.Context) error { return b.p.run(ctx) }

// LEDState is what the status LED shows.
type LEDState int

const (
	// LEDOff: the kiosk is not running (or is starting).
	LEDOff LEDState = iota
	// LEDOn: ready and online.
	LEDOn
	// LEDBlink: running but offline (punches are kept and sent later),
	// half a second on, half a second off.
	LEDBlink
)

// StatusLED shows the kiosk's state on an LED on a GPIO output line.
// Steady states cost nothing; blinking wakes twice a second.
type StatusLED struct {
	p     *player
	mu    sync.Mutex
	state LEDState
	set   bool
}

// NewStatusLED turns the LED on pin off and returns it; Run drives it.
func NewStatusLED(pin gpio.PinOut, opts SignalOptions) (*StatusLED, error) {
	p, err := newPlayer("status LED", pin, opts)
	if err != nil {
		return nil, err
	}
	return &StatusLED{p: p}, nil
}

// SetLED sets what the LED shows, without blocking. Setting the state it
// already has changes nothing, so a blink keeps its rhythm however often
// the caller repeats itself.
func (l *StatusLED) SetLED(s LEDState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set && l.state == s {
		return
	}
	l.state, l.set = s, true
	switch s {
	case LEDOn:
		l.p.play(pattern{steps: []step{{true, 0}}})
	case LEDBlink:
		l.p.play(pattern{steps: []step{{true, 500 * time.Millisecond}, {false, 500 * time.Millisecond}}, repeat: true})
	default:
		l.p.play(pattern{steps: []step{{false, 0}}})
	}
}

// Indicate shows the kiosk's state as the daemon reports it (its Indicate
// hook): on while ready and online, blinking while ready but offline, off
// while the kiosk cannot take punches (locked, disabled, being set up).
func (l *StatusLED) Indicate(ready, online bool) {
	switch {
	case ready && online:
		l.SetLED(LEDOn)
	case ready:
		l.SetLED(LEDBlink)
	default:
		l.SetLED(LEDOff)
	}
}

// Run drives the LED until ctx is done, then turns it off and returns
// ctx.Err(); or returns an error if the line fails.
func (l *StatusLED) Run(ctx context.Context) error { return l.p.run(ctx) }

// step is one level held for a time; 0 holds it until the next pattern.
type step struct {
	on bool
	d  time.Duration
}

// pattern is what a line plays: its steps once, ending off, or repeated.
type pattern struct {
	steps  []step
	repeat bool
}

// player plays patterns on an output line, the latest request first.
type player struct {
	role      string
	pin       gpio.PinOut
	activeLow bool
	mu        sync.Mutex   // makes replacing a pending request atomic
	next      chan pattern // holds at most the latest request
}

func newPlayer(role string, pin gpio.PinOut, opts SignalOptions) (*player, error) {
	if pin == nil {
		return nil, errors.New("device: " + role + ": no pin configured")
	}
	p := &player{role: role, pin: pin, activeLow: opts.ActiveLow, next: make(chan pattern, 1)}
	if err := p.set(false); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *player) set(on bool) error {
	if err := p.pin.Out(gpio.Level(on != p.activeLow)); err != nil {
		return pinError(p.role, p.pin.Name(), err)
	}
	return nil
}

// play replaces the pending request, if any, with pat.
func (p *player) play(pat pattern) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.next:
	default:
	}
	p.next <- pat
}

func (p *player) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	timer.Stop()
	var cur pattern
	i := len(cur.steps)
	for {
		var tick <-chan time.Time
		if i < len(cur.steps) {
			s := cur.steps[i]
			if err := p.set(s.on); err != nil {
				return err
			}
			if s.d > 0 {
				timer.Reset(s.d)
				tick = timer.C
			}
		}
		select {
		case cur = <-p.next:
			i = 0
			timer.Stop()
		case <-tick:
			i++
			switch {
			case i < len(cur.steps):
			case cur.repeat:
				i = 0
			default:
				if err := p.set(false); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			if err := p.set(false); err != nil {
				return err
			}
			return ctx.Err()
		}
	}
}
