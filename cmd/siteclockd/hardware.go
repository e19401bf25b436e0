package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/daemon"
	"github.com/siteclock/siteclock/device"
	"github.com/siteclock/siteclock/display"
	"github.com/siteclock/siteclock/kiosk"
)

// hardware is what the kiosk is wired to, opened from the configuration:
// where keys and badge reads come from, the display, the camera, and the
// buzzer and status LED.
type hardware struct {
	scripted bool // keys are a script (stdin), not a person
	// inputs each send keys until ctx is done (or, for a script, until
	// the input ends).
	inputs  []input
	badge   *device.BadgeReader
	display daemon.Display
	camera  daemon.Camera
	buzzer  *device.Buzzer
	led     *device.StatusLED
	closers []func() error
	outputs sync.WaitGroup // the buzzer and LED players, which switch off when they end
}

// input is a source of keys. The main one (the keypad, the terminal or a
// script) is vital: when it fails nobody can punch, and the daemon stops
// so that systemd restarts it. Buttons and USB keypads are extras: their
// failure is logged and the kiosk goes on (a USB keypad waits for its
// device to come back by itself).
type input struct {
	name  string
	vital bool
	run   func(ctx context.Context, keys chan<- kiosk.Key) error
}

// openHardware opens every part the configuration names. On an error the
// parts opened so far are closed again.
func openHardware(cfg config, stdin io.Reader, stdout io.Writer, log *slog.Logger) (_ *hardware, err error) {
	h := &hardware{}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	debounce, _ := time.ParseDuration(cfg.Input.Debounce) // validated with the config
	onStatus := func(what string) func(error) {
		return func(err error) {
			if err != nil {
				log.Warn(what+" not available", "err", err)
			} else {
				log.Info(what + " ready")
			}
		}
	}

	switch cfg.Input.Driver {
	case "stdin":
		h.scripted = true
		h.inputs = append(h.inputs, input{"script on standard input", true, func(ctx context.Context, keys chan<- kiosk.Key) error {
			return device.ReadKeys(ctx, stdin, keys)
		}})
	case "terminal":
		f, ok := stdin.(*os.File)
		if !ok {
			return nil, device.ErrNotTerminal
		}
		term, err := device.OpenTerminal(f)
		if err != nil {
			return nil, err
		}
		h.closers = append(h.closers, term.Restore)
		h.inputs = append(h.inputs, input{"terminal", true, term.Run})
	case "matrix":
		rows, err := device.OpenPins(cfg.Input.Rows)
		if err != nil {
			return nil, fmt.Errorf("keypad rows: %w", err)
		}
		cols, err := device.OpenPins(cfg.Input.Cols)
		if err != nil {
			return nil, fmt.Errorf("keypad columns: %w", err)
		}
		layout, _ := cfg.keypadLayout() // validated with the config
		m, err := device.NewMatrix(rows, cols, layout, device.MatrixOptions{Debounce: debounce})
		if err != nil {
			return nil, err
		}
		h.inputs = append(h.inputs, input{"keypad", true, m.Run})
	}

	var buttons []device.Button
	for _, b := range cfg.buttons() {
		pin, err := device.OpenPin(b.line)
		if err != nil {
			return nil, fmt.Errorf("%s button: %w", b.key, err)
		}
		buttons = append(buttons, device.Button{Key: b.key, Pin: pin})
	}
	if len(buttons) > 0 {
		bs, err := device.NewButtons(buttons, device.ButtonOptions{Debounce: debounce})
		if err != nil {
			return nil, err
		}
		h.inputs = append(h.inputs, input{"buttons", false, bs.Run})
	}
	for _, path := range cfg.Input.Evdev {
		kp, err := device.NewUSBKeypad(path, device.InputOptions{OnStatus: onStatus("USB keypad " + path)})
		if err != nil {
			return nil, err
		}
		h.inputs = append(h.inputs, input{"USB keypad " + path, false, kp.Run})
	}
	if cfg.Input.Badge != "" {
		if h.badge, err = device.NewBadgeReader(cfg.Input.Badge, device.InputOptions{OnStatus: onStatus("badge reader " + cfg.Input.Badge)}); err != nil {
			return nil, err
		}
	}
	if cfg.GPIO.Buzzer != "" {
		pin, err := outputPin("buzzer", cfg.GPIO.Buzzer)
		if err != nil {
			return nil, err
		}
		if h.buzzer, err = device.NewBuzzer(pin, device.SignalOptions{ActiveLow: cfg.GPIO.BuzzerActiveLow}); err != nil {
			return nil, err
		}
	}
	if cfg.GPIO.LED != "" {
		pin, err := outputPin("status LED", cfg.GPIO.LED)
		if err != nil {
			return nil, err
		}
		if h.led, err = device.NewStatusLED(pin, device.SignalOptions{ActiveLow: cfg.GPIO.LEDActiveLow}); err != nil {
			return nil, err
		}
	}

	if h.display, err = openDisplay(cfg, stdout, log, &h.closers); err != nil {
		return nil, err
	}
	h.camera = newCamera(cfg, log, &h.closers)
	return h, nil
}

func outputPin(what, line string) (gpio.PinOut, error) {
	pin, err := device.OpenPin(line)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return pin, nil
}

func openDisplay(cfg config, stdout io.Writer, log *slog.Logger, closers *[]func() error) (daemon.Display, error) {
	d := cfg.Display
	switch d.Driver {
	case "text":
		return display.NewHeadless(stdout), nil
	case "terminal":
		return display.NewTerminal(stdout, 0), nil
	case "framebuffer":
		fb, err := display.OpenFramebuffer(d.Device, display.FramebufferOptions{Console: d.Console})
		if err != nil {
			return nil, err
		}
		if err := fb.ConsoleError(); err != nil {
			log.Warn("the console stays in text mode", "err", err)
		}
		*closers = append(*closers, fb.Close)
		return fb, nil
	}
	bus, err := device.OpenI2C(d.I2CBus)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, bus.Close)
	if d.Driver == "ssd1306" {
		oled, err := display.NewOLED(bus, uint16(d.I2CAddr))
		if err != nil {
			return nil, err
		}
		*closers = append(*closers, oled.Close)
		return oled, nil
	}
	addr := uint16(d.I2CAddr)
	if addr == 0 {
		addr = display.LCDAddress
	}
	lcd, err := display.NewCharLCD(bus, addr, d.LCDCols, d.LCDRows)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, lcd.Close)
	return lcd, nil
}

// newCamera is the configured camera; nil for none.
func newCamera(cfg config, log *slog.Logger, closers *[]func() error) daemon.Camera {
	switch cfg.Camera.Driver {
	case "v4l2":
		cam := camera.NewV4L2(camera.V4L2Config{Device: cfg.Camera.Device, Width: cfg.Camera.Width, Height: cfg.Camera.Height, Logger: log})
		*closers = append(*closers, cam.Close)
		return cam
	case "sim":
		cam := camera.NewSim(time.Now)
		switch cfg.Camera.SimFault {
		case "none":
			cam.SetFault(camera.ErrNoCamera)
		case "permission":
			cam.SetFault(camera.ErrPermission)
		case "unplugged":
			cam.SetFault(camera.ErrUnplugged)
		}
		return cam
	}
	return nil
}

// run runs the inputs, the badge reader, the buzzer and the LED until ctx
// is done. keys is closed once every input has ended (the end of a
// script). The channel returned gets the error of a vital input that
// failed (quit is called then, to stop the kiosk), or nil once every
// input ended without one. A quit key calls quit too.
func (h *hardware) run(ctx context.Context, keys chan<- kiosk.Key, events chan<- kiosk.Event, log *slog.Logger, quit func()) <-chan error {
	errc := make(chan error, 1)
	if len(h.inputs) == 0 {
		close(keys)
		errc <- nil
	}
	type ended struct {
		in  input
		err error
	}
	left := make(chan ended, len(h.inputs))
	for _, in := range h.inputs {
		go func() { left <- ended{in, in.run(ctx, keys)} }()
	}
	go func() {
		var failed bool
		for range h.inputs {
			e := <-left
			switch {
			case errors.Is(e.err, device.ErrQuit):
				quit()
			case e.err == nil || errors.Is(e.err, context.Canceled):
			case e.in.vital && !failed:
				failed = true
				errc <- fmt.Errorf("%s: %w", e.in.name, e.err)
				quit() // nobody can punch: stop, and let systemd restart the daemon
			default:
				log.Error("input stopped; the kiosk goes on without it", "input", e.in.name, "err", e.err)
			}
		}
		if len(h.inputs) > 0 {
			if !failed {
				errc <- nil
			}
			close(keys)
		}
	}()
	if h.badge != nil {
		numbers := make(chan string)
		go func() {
			if err := h.badge.Run(ctx, numbers); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("badge reader stopped", "err", err)
			}
		}()
		go func() {
			for {
				select {
				case n := <-numbers:
					select {
					case events <- kiosk.Badge{Number: n}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var outputs []func(context.Context) error
	if h.buzzer != nil {
		outputs = append(outputs, h.buzzer.Run)
	}
	if h.led != nil {
		outputs = append(outputs, h.led.Run)
	}
	for _, run := range outputs {
		h.outputs.Go(func() {
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("GPIO output stopped", "err", err)
			}
		})
	}
	return errc
}

// close closes what openHardware opened, last first, once the buzzer and
// LED have switched off (run's ctx must be done).
func (h *hardware) close() {
	off := make(chan struct{})
	go func() { h.outputs.Wait(); close(off) }()
	select {
	case <-off:
	case <-time.After(2 * time.Second):
	}
	for i := len(h.closers) - 1; i >= 0; i-- {
		h.closers[i]()
	}
	h.closers = nil
}
