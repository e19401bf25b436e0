package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/daemon"
	"github.com/siteclock/siteclock/device"
	"github.com/siteclock/siteclock/display"
	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/kiosk"
)

// The outcome of checking one part.
const (
	checkPass = "PASS"
	checkFail = "FAIL"
	checkLook = "LOOK" // done; only a person can see or hear whether it worked
	checkNone = "-"    // not configured
)

// partResult is one line of the hardware check's report.
type partResult struct {
	part, outcome, detail string
}

// hwcheck is `siteclockd hwcheck`: IT runs it on a new kiosk (with the
// daemon stopped) to check every part the configuration names. It lights
// the LED, beeps, asks for each key and button in turn, takes and saves a
// photo, draws a test pattern, and prints a report with a line a part. It
// fails when a part failed.
func hwcheck(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newFlags("hwcheck", stderr)
	c.fs.StringVar(&c.camera, "camera", "", "camera driver: sim, v4l2 or none")
	keyTimeout := c.fs.Duration("key-timeout", 15*time.Second, "how long to wait for each key")
	photo := c.fs.String("photo", "", "where to save the test photo (default: hwcheck.jpg in the state folder)")
	cfg, err := c.load(args)
	if err != nil {
		return err
	}
	if cfg.Input.Driver == "terminal" {
		// The report goes to the terminal; keys come as for a script.
		cfg.Input.Driver = "stdin"
	}
	if cfg.Display.Driver == "terminal" {
		cfg.Display.Driver = "text"
	}
	if *photo == "" {
		*photo = filepath.Join(cfg.StateDir, "hwcheck.jpg")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The prompts go to the kiosk's display, and to standard error for
	// the person at the console when the display is text.
	hw, err := openHardware(cfg, stdin, stderr, log)
	if err != nil {
		return fmt.Errorf("hwcheck: %w", err)
	}
	defer hw.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := make(chan kiosk.Key)
	inputErr := hw.run(ctx, keys, make(chan kiosk.Event), log, cancel)

	hc := &hwChecker{hw: hw, cfg: cfg, keys: keys, inputErr: inputErr, keyTimeout: *keyTimeout, photo: *photo, prompt: stderr}
	results := []partResult{
		hc.checkDisplay(),
		hc.checkLED(),
		hc.checkBuzzer(),
		hc.checkKeys(ctx),
		hc.checkCamera(ctx),
	}
	hc.show(kiosk.Screen{Name: "hwcheck", Title: "Hardware check", Big: "Done", Lines: []string{"See the report on the console."}})

	fmt.Fprintln(stdout, "siteclockd hardware check")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	var failed []string
	for _, r := range results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.part, r.outcome, r.detail)
		if r.outcome == checkFail {
			failed = append(failed, r.part)
		}
	}
	tw.Flush()
	if len(failed) > 0 {
		fmt.Fprintf(stdout, "result: FAIL (%s)\n", strings.Join(failed, ", "))
		return fmt.Errorf("hwcheck: %s failed; see the report above", strings.Join(failed, ", "))
	}
	fmt.Fprintln(stdout, "result: PASS (check the LOOK lines by eye and ear)")
	return nil
}

type hwChecker struct {
	hw         *hardware
	cfg        config
	keys       <-chan kiosk.Key
	inputErr   <-chan error // a vital input that failed
	keyTimeout time.Duration
	photo      string
	prompt     io.Writer
}

func (hc *hwChecker) show(s kiosk.Screen) {
	if err := hc.hw.display.Show(s); err != nil {
		fmt.Fprintf(hc.prompt, "display: %v\n", err)
	}
}

// checkDisplay draws a test pattern. A framebuffer is read back and
// compared; other displays show a test screen, and a person looks.
func (hc *hwChecker) checkDisplay() partResult {
	r := partResult{part: "display"}
	switch d := hc.hw.display.(type) {
	case *display.Framebuffer:
		w, h := d.Size()
		want := display.TestPattern(w, h)
		if err := d.ShowImage(want); err != nil {
			r.outcome, r.detail = checkFail, err.Error()
			return r
		}
		got, err := d.Snapshot()
		if err != nil {
			r.outcome, r.detail = checkFail, err.Error()
			return r
		}
		if n := differentPixels(want, got); n > 0 {
			r.outcome, r.detail = checkFail, fmt.Sprintf("%s %s: %d pixels read back differ from the test pattern drawn", hc.cfg.Display.Device, d.Format(), n)
			return r
		}
		r.outcome, r.detail = checkPass, fmt.Sprintf("%s (%s): test pattern drawn and read back; look for colour bars and a grid", hc.cfg.Display.Device, d.Format())
		if err := d.ConsoleError(); err != nil {
			r.detail += fmt.Sprintf(" (console: %v)", err)
		}
		// Leave the pattern up for a moment before the key prompts.
		time.Sleep(2 * time.Second)
	default:
		if err := hc.hw.display.Show(kiosk.Screen{Name: "hwcheck", Title: "Hardware check", Big: "8:88 PM",
			Lines: []string{"ABCDEFGHIJKLMNOPQRST", "0123456789 áéíóú ñ"}, Icon: kiosk.IconSaved, Status: "status line"}); err != nil {
			r.outcome, r.detail = checkFail, err.Error()
			return r
		}
		r.outcome, r.detail = checkLook, hc.cfg.Display.Driver+": test screen shown; check it is readable"
	}
	return r
}

// differentPixels counts pixels whose colour differs by more than a
// 16-bit-per-pixel framebuffer's rounding.
func differentPixels(a, b *image.RGBA) int {
	if a.Rect != b.Rect {
		return a.Rect.Dx() * a.Rect.Dy()
	}
	n := 0
	for i := 0; i+3 < len(a.Pix); i += 4 {
		for c := range 3 {
			d := int(a.Pix[i+c]) - int(b.Pix[i+c])
			if d > 8 || d < -8 {
				n++
				break
			}
		}
	}
	return n
}

func (hc *hwChecker) checkLED() partResult {
	if hc.hw.led == nil {
		return partResult{"status LED", checkNone, "not configured (gpio.led)"}
	}
	hc.hw.led.SetLED(device.LEDOn)
	return partResult{"status LED", checkLook, hc.cfg.GPIO.LED + " lit: check that it is on"}
}

func (hc *hwChecker) checkBuzzer() partResult {
	if hc.hw.buzzer == nil {
		return partResult{"buzzer", checkNone, "not configured (gpio.buzzer)"}
	}
	for _, s := range []kiosk.SoundKind{kiosk.SoundKey, kiosk.SoundSaved, kiosk.SoundError} {
		hc.hw.buzzer.Beep(s)
		time.Sleep(700 * time.Millisecond)
	}
	return partResult{"buzzer", checkLook, hc.cfg.GPIO.Buzzer + " beeped a click, two short beeps and a long one: check you heard them"}
}

// expectedKeys is every key the configured inputs can send.
func (hc *hwChecker) expectedKeys() []kiosk.Key {
	var want []kiosk.Key
	add := func(k kiosk.Key) {
		if !slices.Contains(want, k) {
			want = append(want, k)
		}
	}
	switch hc.cfg.Input.Driver {
	case "matrix":
		layout, _ := hc.cfg.keypadLayout()
		for _, row := range layout {
			for _, c := range row {
				if k, ok := device.LayoutKey(c); ok {
					add(k)
				}
			}
		}
	case "stdin": // hwcheck reads a terminal as stdin
		for _, c := range "0123456789*#" {
			add(kiosk.Key(c))
		}
	}
	for _, b := range hc.cfg.buttons() {
		add(b.key)
	}
	return want
}

// keyName is how a prompt names a key.
func keyName(k kiosk.Key) string {
	switch k {
	case kiosk.KeyIn:
		return "IN"
	case kiosk.KeyOut:
		return "OUT"
	case kiosk.KeyClockFor:
		return "Clock For"
	case kiosk.KeyLang:
		return "Language"
	}
	return k.String()
}

// checkKeys asks for each key in turn and reports those that never came.
// A key pressed before its turn counts too.
func (hc *hwChecker) checkKeys(ctx context.Context) partResult {
	want := hc.expectedKeys()
	if len(want) == 0 {
		return partResult{"keys", checkNone, "no keypad or buttons configured"}
	}
	got := map[kiosk.Key]bool{}
	var missing, extra []string
	keys := hc.keys
	for i, k := range want {
		if got[k] {
			continue
		}
		hc.show(kiosk.Screen{Name: "hwcheck", Title: "Hardware check: keys", Big: "Press " + keyName(k),
			Lines: []string{fmt.Sprintf("Key %d of %d", i+1, len(want))}})
		fmt.Fprintf(hc.prompt, "press %s (%d of %d)\n", keyName(k), i+1, len(want))
		timeout := time.NewTimer(hc.keyTimeout)
	wait:
		for !got[k] {
			select {
			case key, ok := <-keys:
				if !ok {
					keys = nil // the input ended (a script): the rest never come
					break wait
				}
				if slices.Contains(want, key) {
					got[key] = true
				} else {
					extra = append(extra, keyName(key))
				}
			case <-timeout.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		timeout.Stop()
		if !got[k] {
			missing = append(missing, keyName(k))
		}
	}
	detail := fmt.Sprintf("%d of %d keys arrived", len(want)-len(missing), len(want))
	select {
	case err := <-hc.inputErr:
		if err != nil {
			return partResult{"keys", checkFail, detail + "; the input failed: " + err.Error()}
		}
	default:
	}
	if len(extra) > 0 {
		detail += "; unexpected: " + strings.Join(extra, " ")
	}
	if len(missing) > 0 {
		return partResult{"keys", checkFail, detail + "; never arrived: " + strings.Join(missing, " ") + " (check the wiring of their row, column or button)"}
	}
	return partResult{"keys", checkPass, detail}
}

// checkCamera takes a photo and saves it where IT can look at it.
func (hc *hwChecker) checkCamera(ctx context.Context) partResult {
	r := partResult{part: "camera"}
	cam := hc.hw.camera
	if cam == nil {
		r.outcome, r.detail = checkNone, "not configured (camera.driver)"
		return r
	}
	hc.show(kiosk.Screen{Name: "hwcheck", Title: "Hardware check: camera", Big: "Look at the camera"})
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := cam.Check(ctx); err != nil {
		r.outcome, r.detail = checkFail, err.Error()
		return r
	}
	start := time.Now()
	jpg, err := cam.Capture(ctx)
	took := time.Since(start)
	if err != nil {
		r.outcome, r.detail = checkFail, err.Error()
		return r
	}
	ic, err := jpeg.DecodeConfig(bytes.NewReader(jpg))
	if err != nil {
		r.outcome, r.detail = checkFail, fmt.Sprintf("the camera sent %d bytes that are not a JPEG: %v", len(jpg), err)
		return r
	}
	if err := os.MkdirAll(filepath.Dir(hc.photo), 0o700); err != nil {
		r.outcome, r.detail = checkFail, fmt.Sprintf("save the photo: %v", err)
		return r
	}
	if err := durable.WriteFile(hc.photo, jpg); err != nil {
		r.outcome, r.detail = checkFail, fmt.Sprintf("save the photo: %v", err)
		return r
	}
	hc.show(kiosk.Screen{Name: "hwcheck", Title: "Hardware check: camera", Big: "Photo taken", Photo: jpg, Icon: kiosk.IconCamera})
	what := hc.cfg.Camera.Driver
	if v, ok := cam.(*camera.V4L2); ok {
		what = v.Info().String()
	}
	r.outcome = checkPass
	r.detail = fmt.Sprintf("%s: %dx%d photo (%d KB) in %d ms, saved to %s (delete it when done: it is a face)",
		what, ic.Width, ic.Height, (len(jpg)+1023)/1024, took.Milliseconds(), hc.photo)
	return r
}

var _ daemon.Display = (*display.Framebuffer)(nil)
