// Command agent is the test program of the hardware-in-the-loop VM (make
// test-hil, hil/run.sh). It runs as root inside an emulated machine whose
// kernel has vivid as the camera, gpio-sim as the keypad and buttons (lines
// named like the Pi's header pins by hil/init.sh) and bochs as the
// framebuffer, and drives the real siteclockd binary through them: it
// presses keys by pulling gpio-sim lines, checks that the punch was
// committed with a photo from vivid, and compares the framebuffer with the
// screens display.Renderer draws for what the kiosk state machine expects.
//
// With -powercut it runs a boot of the power-cut suite instead (powercut.go,
// make test-powercut).
//
// It prints one line per check, "PASS name: detail" or "FAIL name: detail",
// benchmark figures as "BENCH name key=value ...", and last "HIL RESULT:
// PASS" or "HIL RESULT: FAIL"; hil/run.sh collects them from the console.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the roster's time zone, in a VM with no zoneinfo

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/device"
	"github.com/siteclock/siteclock/display"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/roster"
)

// The wiring hil/init.sh names on gpio-sim, as on a Pi's header.
var (
	rowPins    = []string{"GPIO5", "GPIO6", "GPIO13", "GPIO19"}
	colPins    = []string{"GPIO12", "GPIO16", "GPIO20"}
	layout     = []string{"123", "456", "789", "*0#"}
	inPin      = "GPIO23"
	outPin     = "GPIO24"
	buzzerPin  = "GPIO27"
	camWidth   = 640
	camHeight  = 480
	idleWindow = 20 * time.Second
)

// testRoster is small and fast: few PIN hash iterations (the VM emulates
// its CPU) and screens that stay up long enough to be photographed.
const testRoster = `{
  "version": "hil-1",
  "pin_iterations": 1000,
  "settings": {"nickname": "HIL trailer", "timezone": "America/Chicago", "language": "en",
               "photo_countdown_seconds": 1, "photo_preview_seconds": 0.5,
               "saved_screen_seconds": 4, "message_screen_seconds": 1, "screen_timeout_seconds": 30},
  "roles": [{"id": "worker", "facefront": true}],
  "employees": [
    {"number": "1002", "name": "Ben Cole", "role": "worker", "pin": "2222", "photo_consent": true},
    {"number": "1005", "name": "Erin Walsh", "role": "worker", "pin": "5555", "photo_consent": true}
  ]
}`

func configFile(state string) string {
	q := func(xs []string) string { return `["` + strings.Join(xs, `", "`) + `"]` }
	return fmt.Sprintf(`state_dir = %q
log_level = "info"

[input]
driver = "matrix"
rows = %s
cols = %s
layout = %s
debounce = "20ms"

[gpio]
in = %q
out = %q
buzzer = %q

[display]
driver = "framebuffer"
device = "/dev/fb0"
console = "/dev/tty0"

[camera]
driver = "v4l2"
device = "/dev/video0"
width = %d
height = %d
`, state, q(rowPins), q(colPins), q(layout), inPin, outPin, buzzerPin, camWidth, camHeight)
}

func main() {
	bin := flag.String("siteclockd", "/bin/siteclockd", "the siteclockd binary under test")
	work := flag.String("work", "/tmp/hil", "work folder: config, state, logs")
	cut := flag.Bool("powercut", false, "run a boot of the power-cut suite (powercut.go), as the kernel arguments say")
	flag.Parse()
	if *cut {
		os.Exit(powercutMain(*bin))
	}
	// No garbage collection until the heap reaches 256 MiB (the VM has
	// 1 GiB): a collection stops the agent's threads, the keypad
	// emulator's too, and the daemon would scan on meanwhile.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(256 << 20)
	a := &agent{bin: *bin, work: *work, state: filepath.Join(*work, "state"), start: time.Now()}
	err := a.run()
	if a.daemon != nil {
		a.stopDaemon()
	}
	if err != nil {
		a.fail("agent", "%v", err)
	}
	if a.failed || err != nil {
		fmt.Println("HIL RESULT: FAIL")
		os.Exit(1)
	}
	fmt.Println("HIL RESULT: PASS")
}

type agent struct {
	bin, work, state string
	start            time.Time
	failed           bool

	lines  map[string]*simLine
	buzzer *simLine
	kp     *keypad
	scr    *screen
	roster *roster.Roster
	daemon *exec.Cmd
	exited chan error
	logf   string

	keyLat, beepLat []time.Duration // digit keys: contact to pixels, to beep
}

// The results, with the time since the agent started: the VM's pace
// shows where a slow run spends it.
func (a *agent) pass(name, format string, args ...any) {
	fmt.Printf("PASS %s [%.1fs]: %s\n", name, time.Since(a.start).Seconds(), fmt.Sprintf(format, args...))
}

func (a *agent) fail(name, format string, args ...any) {
	a.failed = true
	fmt.Printf("FAIL %s [%.1fs]: %s\n", name, time.Since(a.start).Seconds(), fmt.Sprintf(format, args...))
}

func (a *agent) bench(name, format string, args ...any) {
	fmt.Printf("BENCH %s %s\n", name, fmt.Sprintf(format, args...))
}

// run does the checks in order; one that the rest depend on ends the run
// with its error.
func (a *agent) run() error {
	if err := os.MkdirAll(a.work, 0o700); err != nil {
		return err
	}
	if err := a.checkDevices(); err != nil {
		return err
	}
	if err := a.checkLines(); err != nil {
		return err
	}
	a.checkCamera()
	if err := a.checkFramebuffer(); err != nil {
		return err
	}
	if err := a.startDaemon(); err != nil {
		return err
	}
	if err := a.punchWithPhoto(); err != nil {
		return err
	}
	if err := a.keyToPixels(); err != nil {
		return err
	}
	return a.idleCPU()
}

func (a *agent) checkDevices() error {
	var missing []string
	for _, d := range []string{"/dev/video0", "/dev/fb0"} {
		if _, err := os.Stat(d); err != nil {
			missing = append(missing, d)
		}
	}
	chips, _ := filepath.Glob("/dev/gpiochip*")
	if len(chips) == 0 {
		missing = append(missing, "/dev/gpiochip*")
	}
	if len(missing) > 0 {
		a.fail("devices", "missing %s (see the init lines above for a module that did not load)", strings.Join(missing, ", "))
		return errors.New("the emulated hardware is incomplete")
	}
	a.pass("devices", "/dev/video0, /dev/fb0, %s", strings.Join(chips, " "))
	return nil
}

// checkLines finds the named lines twice: as gpio-sim configured them and
// as the daemon will, through periph's GPIO character-device driver. It
// only looks the lines up; requesting them would keep the daemon from
// doing so.
func (a *agent) checkLines() error {
	lines, err := findSimLines("/sys/kernel/config")
	if err != nil {
		a.fail("gpio-lines", "%v", err)
		return err
	}
	all := slices.Concat(rowPins, colPins, []string{inPin, outPin, buzzerPin})
	for _, n := range all {
		if lines[n] == nil {
			a.fail("gpio-lines", "gpio-sim has no line named %s", n)
			return errors.New("gpio-sim lines missing")
		}
		p, err := device.OpenPin(n)
		if err != nil {
			a.fail("gpio-lines", "%v", err)
			return err
		}
		if p.Name() != n {
			a.fail("gpio-lines", "looked up %s, got %s", n, p.Name())
			return errors.New("wrong line")
		}
	}
	a.lines = lines
	a.buzzer = lines[buzzerPin]
	a.kp = &keypad{
		layout:  layout,
		buttons: map[rune]*simLine{'i': lines[inPin], 'o': lines[outPin]},
		gap:     100 * time.Millisecond,
	}
	for _, n := range rowPins {
		a.kp.rows = append(a.kp.rows, lines[n])
	}
	for _, n := range colPins {
		a.kp.cols = append(a.kp.cols, lines[n])
	}
	if err := a.kp.watchRows(); err != nil {
		a.fail("gpio-lines", "%v", err)
		return err
	}
	a.pass("gpio-lines", "%d lines found by name through gpio-sim and the GPIO character device: %s", len(all), strings.Join(all, " "))
	return nil
}

// checkCamera takes photos from vivid through the camera package, as the
// daemon does, and times them while the camera streams. It runs before the
// daemon takes the camera.
func (a *agent) checkCamera() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cam := camera.NewV4L2(camera.V4L2Config{Device: "/dev/video0", Width: camWidth, Height: camHeight})
	defer cam.Close()
	if err := cam.Check(ctx); err != nil {
		a.fail("camera", "check: %v", err)
		return
	}
	if err := cam.Start(ctx); err != nil {
		a.fail("camera", "start streaming: %v", err)
		return
	}
	time.Sleep(time.Second) // the daemon starts streaming a moment before the photo too
	interval, ierr := frameInterval("/dev/video0")
	var lat []time.Duration
	var last []byte
	for range 10 {
		start := time.Now()
		photo, err := cam.Capture(ctx)
		if err != nil {
			a.fail("camera", "capture: %v", err)
			return
		}
		lat = append(lat, time.Since(start))
		last = photo
	}
	info := cam.Info()
	if err := cam.Stop(); err != nil {
		a.fail("camera", "stop: %v", err)
	}
	if ierr != nil {
		a.bench("photo-latency", "%s frame-interval=unknown(%v)", durations(lat), ierr)
	} else {
		a.bench("photo-latency", "%s frame-interval=%v within-two-frames=%v", durations(lat), interval, percentile(lat, 50) <= 2*interval)
	}
	if err := vividBars(last); err != nil {
		a.fail("camera", "%v", err)
		return
	}
	a.pass("camera", "%s: 10 photos, each a %dx%d JPEG showing vivid's colour bars", info, camWidth, camHeight)
}

// vividBars checks that photo is vivid's default test picture, eight
// vertical bars at 75%: white, yellow, cyan, green, magenta, red, blue,
// black. The top of the picture, where vivid writes its text, is not
// looked at.
func vividBars(photo []byte) error {
	img, err := jpeg.Decode(bytes.NewReader(photo))
	if err != nil {
		return fmt.Errorf("photo is not a JPEG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != camWidth || b.Dy() != camHeight {
		return fmt.Errorf("photo is %dx%d, want %dx%d", b.Dx(), b.Dy(), camWidth, camHeight)
	}
	bars := [8][3]int{{191, 191, 191}, {191, 191, 0}, {0, 191, 191}, {0, 191, 0}, {191, 0, 191}, {191, 0, 0}, {0, 0, 191}, {0, 0, 0}}
	y := b.Min.Y + b.Dy()*3/4
	for i, want := range bars {
		x := b.Min.X + (2*i+1)*b.Dx()/16
		r, g, bl, _ := img.At(x, y).RGBA()
		got := [3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}
		for c := range 3 {
			if d := got[c] - want[c]; d > 48 || d < -48 {
				return fmt.Errorf("photo is not vivid's colour bars: bar %d at (%d,%d) is %v, want about %v", i+1, x, y, got, want)
			}
		}
	}
	return nil
}

// checkFramebuffer opens the framebuffer the way the daemon will, draws
// the test pattern and reads it back.
func (a *agent) checkFramebuffer() error {
	s, err := openScreen("/dev/fb0")
	if err != nil {
		a.fail("framebuffer", "%v", err)
		return err
	}
	a.scr = s
	pat := display.TestPattern(s.w, s.h)
	if err := s.fb.ShowImage(pat); err != nil {
		a.fail("framebuffer", "draw the test pattern: %v", err)
		return err
	}
	snap, err := s.fb.Snapshot()
	if err != nil {
		a.fail("framebuffer", "read back: %v", err)
		return err
	}
	// The console is still in text mode here, so its cursor (8x16) may
	// blink over the pattern.
	if n, box := diff(snap, pat); n > 8*16 {
		var samples []string
		for _, pt := range []image.Point{{10, 10}, {100, 100}, {640, 400}, {1000, 700}, {1270, 790}} {
			samples = append(samples, fmt.Sprintf("%v got %v want %v", pt, snap.RGBAAt(pt.X, pt.Y), pat.RGBAAt(pt.X, pt.Y)))
		}
		a.fail("framebuffer", "%s: the test pattern read back differs in %d pixels within %v: %s", s.fb.Format(), n, box, strings.Join(samples, "; "))
		return errors.New("framebuffer round trip")
	}
	a.pass("framebuffer", "%s: the test pattern reads back", s.fb.Format())
	return nil
}

// startDaemon writes the config, imports the roster and starts siteclockd,
// then waits for its idle screen.
func (a *agent) startDaemon() error {
	cfg := filepath.Join(a.work, "siteclockd.toml")
	rf := filepath.Join(a.work, "roster.json")
	if err := os.WriteFile(cfg, []byte(configFile(a.state)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(rf, []byte(testRoster), 0o600); err != nil {
		return err
	}
	r, err := roster.Parse(strings.NewReader(testRoster))
	if err != nil {
		return fmt.Errorf("the agent's roster: %v", err)
	}
	a.roster = r
	out, err := exec.Command(a.bin, "roster", "import", "-config", cfg, rf).CombinedOutput()
	if err != nil {
		a.fail("roster-import", "siteclockd roster import: %v: %s", err, strings.TrimSpace(string(out)))
		return errors.New("siteclockd does not take the hardware configuration")
	}
	a.pass("roster-import", "%s", strings.TrimSpace(string(out)))

	a.logf = filepath.Join(a.work, "siteclockd.log")
	logw, err := os.Create(a.logf)
	if err != nil {
		return err
	}
	a.daemon = exec.Command(a.bin, "-config", cfg)
	a.daemon.Stdout, a.daemon.Stderr = logw, logw
	if err := a.daemon.Start(); err != nil {
		return fmt.Errorf("start siteclockd: %v", err)
	}
	a.exited = make(chan error, 1)
	go func() { a.exited <- a.daemon.Wait(); logw.Close() }()

	m, err := a.scr.waitScreen(a.idleScreens(0), 60*time.Second)
	if err != nil {
		return err
	}
	if !m.ok {
		a.fail("screen-idle", "the framebuffer does not show the idle screen after %v (closest: %d pixels differ within %v)%s", m.after.Round(time.Millisecond), m.diff, m.box, a.daemonState())
		return errors.New("the daemon did not come up")
	}
	a.pass("screen-idle", "siteclockd (pid %d) shows the idle screen %v after start", a.daemon.Process.Pid, m.after.Round(time.Millisecond))
	return nil
}

// daemonState says whether the daemon still runs, with its log's tail.
func (a *agent) daemonState() string {
	state := "; siteclockd runs"
	select {
	case err := <-a.exited:
		a.exited <- err
		state = fmt.Sprintf("; siteclockd exited: %v", err)
	default:
	}
	b, _ := os.ReadFile(a.logf)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return state + "; its log ends:\n    " + strings.Join(lines, "\n    ")
}

// idleScreens is the idle screen as it may look now: the clock may turn
// to the next minute while the test looks.
func (a *agent) idleScreens(waiting int) []kiosk.Screen {
	now := time.Now()
	var out []kiosk.Screen
	for _, t := range []time.Time{now, now.Add(time.Minute), now.Add(-time.Minute)} {
		s := kiosk.New(kiosk.Ready, a.roster, nil, punch.PhotoTaken, kiosk.Net{Waiting: waiting}, t)
		out = append(out, s.Screen(t))
	}
	return out
}

// replica follows the daemon's kiosk through the keys the agent presses:
// the same pure state machine, fed the same keys, gives the screens the
// framebuffer should show.
type replica struct {
	s   kiosk.State
	now time.Time
}

func (a *agent) newReplica(now time.Time, waiting int) *replica {
	return &replica{s: kiosk.New(kiosk.Ready, a.roster, nil, punch.PhotoTaken, kiosk.Net{Waiting: waiting}, now), now: now}
}

func (r *replica) keys(ks string) []kiosk.Effect {
	var effs []kiosk.Effect
	for _, k := range ks {
		var e []kiosk.Effect
		r.s, e = kiosk.Step(r.s, kiosk.KeyPress{Key: kiosk.Key(k)}, r.now)
		effs = append(effs, e...)
	}
	return effs
}

func (r *replica) screen() kiosk.Screen { return r.s.Screen(r.now) }

// punchWithPhoto types Ben's PIN on the keypad, presses the IN button and
// checks the punch, its photo and the screens on the way.
func (a *agent) punchWithPhoto() error {
	rep := a.newReplica(time.Now(), 0)
	for _, step := range []struct{ keys, name string }{{"2222", "screen-pin"}, {"#", "screen-greet"}} {
		// One key at a time, each checked on the screen, so a key the
		// daemon missed is named.
		var m match
		var want kiosk.Screen
		for i, k := range step.keys {
			var err error
			var t keyTimes
			if t, want, err = a.pressFor(rep, k); err != nil {
				a.fail(step.name, "key %d %q of %q: %v%s\n    keypad: %s", i+1, k, step.keys, err, a.daemonState(), a.kp.traceText())
				return err
			}
			a.keyTimes(k, t)
			if m, err = a.scr.waitScreen([]kiosk.Screen{want}, 5*time.Second); err != nil {
				return err
			}
			if !m.ok {
				a.fail(step.name, "after key %d %q of %q the framebuffer does not show %q %q (%d pixels differ within %v; keypad emulator lag %s)%s",
					i+1, k, step.keys, want.Name, want.Lines, m.diff, m.box, a.kp.followLag(), a.daemonState()+"\n    keypad: "+a.kp.traceText())
				return errors.New("keys not seen")
			}
		}
		a.pass(step.name, "keys %q on the emulated keypad: the framebuffer shows the %q screen (%d pixels off)", step.keys, want.Name, m.diff)
	}

	pressed, _, err := a.pressSeen('i')
	if err != nil {
		a.fail("punch", "press IN: %v%s", err, a.daemonState())
		return err
	}
	p, photo, err := a.waitPunch("1002", 30*time.Second)
	if err != nil {
		a.fail("punch", "%v%s", err, a.daemonState())
		return err
	}
	a.pass("punch", "seq %d: %s %s %s at %s, committed %v after the IN button", p.Seq, p.EmployeeNumber, p.EmployeeName, p.Direction, p.At.Format(time.TimeOnly), time.Since(pressed).Round(time.Millisecond))
	if p.Direction != punch.In {
		a.fail("punch", "direction %s, want in", p.Direction)
	}
	if p.Photo == "" || p.NoPhoto != punch.PhotoTaken {
		a.fail("photo", "the punch has no photo (%s)", p.NoPhoto)
	} else if err := vividBars(photo); err != nil {
		a.fail("photo", "%s: %v", p.Photo, err)
	} else {
		a.pass("photo", "%s: a %dx%d JPEG of vivid's colour bars", p.Photo, camWidth, camHeight)
	}

	// The saved screen, as the machine shows it for this punch: replayed
	// with the punch's own time and photo. The status line's count of
	// waiting punches includes it once the runner has read the queue's
	// counts; the framebuffer must show one of the two.
	var cands []kiosk.Screen
	for waiting := range 2 {
		s, err := a.savedScreen(p, photo, waiting)
		if err != nil {
			a.fail("screen-saved", "replay: %v", err)
			return nil
		}
		cands = append(cands, s)
	}
	m, err := a.scr.waitScreen(cands, 5*time.Second)
	if err != nil {
		return err
	}
	if !m.ok {
		a.fail("screen-saved", "the framebuffer does not show %q for the punch (%d pixels differ within %v)", cands[0].Big, m.diff, m.box)
		return nil
	}
	a.pass("screen-saved", "the framebuffer shows %q, %q, %q (%d pixels off)", cands[m.which].Big, strings.Join(cands[m.which].Lines, " / "), cands[m.which].Status, m.diff)
	return nil
}

// savedScreen replays Ben's punch through the state machine at the
// punch's time, answering its effects as the daemon did.
func (a *agent) savedScreen(p punch.Punch, photo []byte, waiting int) (kiosk.Screen, error) {
	rep := a.newReplica(p.At, waiting)
	effs := rep.keys("2222#i")
	for range 200 {
		if rep.screen().Name == kiosk.ScreenSaved {
			return rep.screen(), nil
		}
		if len(effs) == 0 {
			rep.now = rep.now.Add(100 * time.Millisecond)
			rep.s, effs = kiosk.Step(rep.s, kiosk.Tick{}, rep.now)
			continue
		}
		e := effs[0]
		effs = effs[1:]
		var more []kiosk.Effect
		switch e := e.(type) {
		case kiosk.Capture:
			rep.s, more = kiosk.Step(rep.s, kiosk.PhotoTaken{Ref: e.Ref, JPEG: photo}, rep.now)
		case kiosk.Commit:
			rep.s, more = kiosk.Step(rep.s, kiosk.Committed{Ref: e.Ref, Punches: []punch.Punch{p}}, rep.now)
		}
		effs = append(effs, more...)
	}
	return kiosk.Screen{}, fmt.Errorf("no saved screen after the keys (the machine shows %q)", rep.screen().Name)
}

// waitPunch polls the queue, read-only beside the running daemon, for a
// punch of employee number emp, and returns it with its photo.
func (a *agent) waitPunch(emp string, timeout time.Duration) (punch.Punch, []byte, error) {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		p, photo, err := a.findPunch(emp)
		if err == nil {
			return p, photo, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _, err := a.findPunch(emp)
	return punch.Punch{}, nil, fmt.Errorf("no punch of %s in the queue after %v: %v", emp, timeout, err)
}

func (a *agent) findPunch(emp string) (punch.Punch, []byte, error) {
	db, err := queue.Open(a.state, queue.Options{ReadOnly: true})
	if err != nil {
		return punch.Punch{}, nil, err
	}
	defer db.Close()
	ps, err := db.All(0)
	if err != nil {
		return punch.Punch{}, nil, err
	}
	for _, p := range ps {
		if p.EmployeeNumber != emp {
			continue
		}
		var photo []byte
		if p.Photo != "" {
			if photo, err = db.ReadPhoto(p.Photo); err != nil {
				return p, nil, err
			}
		}
		return p, photo, nil
	}
	return punch.Punch{}, nil, fmt.Errorf("%d punches, none of %s", len(ps), emp)
}

// keyToPixels times digit keys from the contact closing on the emulated
// keypad to the framebuffer changing, over a few PIN entries that are
// cleared again with '*'.
func (a *agent) keyToPixels() error {
	// Back at idle after the saved screen.
	if m, err := a.scr.waitScreen(a.idleScreens(1), 15*time.Second); err != nil || !m.ok {
		a.fail("key-to-pixels", "the idle screen did not come back after the punch (%d pixels differ)", m.diff)
		return errors.New("not idle")
	}
	rep := a.newReplica(time.Now(), 1)
	for _, k := range "5555*****" { // a PIN, cleared again back to idle
		t, want, err := a.pressFor(rep, k)
		if err != nil {
			a.fail("keys", "%v (waiting for %q %q)%s\n    keypad: %s", err, want.Name, want.Lines, a.daemonState(), a.kp.traceText())
			return err
		}
		a.keyTimes(k, t)
	}
	if len(a.beepLat) > 0 {
		a.bench("key-to-beep", "%s (contact to buzzer line high: scan, debounce and the kiosk's step; the rest of key-to-pixels is drawing)", durations(a.beepLat))
	}
	a.bench("key-to-pixels", "%s (contact to the new screen's pixels, debounce 20ms included)", durations(a.keyLat))
	a.bench("keypad-follow", "%s (row change to column pull, the emulator's own lag)", a.kp.followLag())
	a.pass("keys", "%d digit keys and 5 clears each drew the expected screen; the PIN cleared back to idle", len(a.keyLat))
	return nil
}

// keyTimes keeps a digit key's latencies for the benchmark.
func (a *agent) keyTimes(k rune, t keyTimes) {
	if k < '0' || k > '9' {
		return
	}
	a.keyLat = append(a.keyLat, t.seen.Sub(t.closed))
	if !t.beep.IsZero() {
		a.beepLat = append(a.beepLat, t.beep.Sub(t.closed))
	}
}

// pressSeen presses k on the emulated keypad or buttons, holding it until
// the screen changes: every key the agent presses changes it.
func (a *agent) pressSeen(k rune) (closed, seen time.Time, err error) {
	before := a.scr.copyRaw()
	return a.kp.press(k, func() bool { return a.scr.changed(before) }, 10*time.Second)
}

// keyTimes is when a key's contact closed, when the daemon beeped for
// it (the buzzer's line went high: the key was scanned, debounced and
// stepped through the kiosk) and when its screen was on the framebuffer.
type keyTimes struct{ closed, beep, seen time.Time }

// pressFor presses k on the emulated keypad, holding it until the
// framebuffer shows the screen rep expects after it, where that differs
// from the screen before. Any change would not do: the idle clock turning
// to the next minute is a change too.
func (a *agent) pressFor(rep *replica, k rune) (t keyTimes, want kiosk.Screen, err error) {
	rep.now = time.Now()
	prev := a.scr.render(rep.screen())
	rep.keys(string(k))
	want = rep.screen()
	img := a.scr.render(want)
	_, box := diff(prev, img)
	if box.Empty() {
		return t, want, fmt.Errorf("key %q: the %q screen would look the same after it", k, want.Name)
	}
	quiet := false // the buzzer was seen silent since the press began
	t.closed, t.seen, err = a.kp.press(k, func() bool {
		if t.beep.IsZero() {
			if low, err := a.buzzer.low(); err == nil && low {
				quiet = true
			} else if err == nil && quiet {
				t.beep = time.Now()
			}
		}
		return a.scr.shows(img, box)
	}, 10*time.Second)
	return t, want, err
}

// idleCPU measures the daemon's CPU time while the kiosk sits idle with
// the matrix keypad, buttons, camera and framebuffer attached.
func (a *agent) idleCPU() error {
	// The idle screen's clock redraws once a minute, which costs about a
	// second of emulated CPU: keep it out of the window, which then shows
	// what idling itself costs (wake-ups, polling).
	time.Sleep(2 * time.Second) // let the last key's work finish
	switch sec := time.Now().Second(); {
	case sec < 4:
		time.Sleep(time.Duration(4-sec) * time.Second)
	case sec+int(idleWindow.Seconds()) > 57:
		time.Sleep(time.Duration(64-sec) * time.Second)
	}
	pid := a.daemon.Process.Pid
	t0, w0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	time.Sleep(idleWindow)
	t1, w1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	const hz = 100 // USER_HZ
	cpu := time.Duration(t1-t0) * time.Second / hz
	a.bench("idle-cpu", "window=%v (no clock redraw in it) cpu=%v (%.2f%%) wakeups=%d (%.1f/s)", idleWindow, cpu,
		100*cpu.Seconds()/idleWindow.Seconds(), w1-w0, float64(w1-w0)/idleWindow.Seconds())
	return nil
}

// cpuTicks returns the process's user+system time in clock ticks and how
// many times its threads were scheduled in (the sum of the threads'
// schedstat timeslices: each is a wake-up).
func cpuTicks(pid int) (ticks, wakeups int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name in parentheses; utime and stime are
	// the 14th and 15th fields of the line.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		s, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(s)); len(f) == 3 {
			n, _ := strconv.ParseInt(f[2], 10, 64)
			wakeups += n
		}
	}
	return ut + st, wakeups, nil
}

func (a *agent) stopDaemon() {
	select {
	case err := <-a.exited:
		a.fail("daemon", "siteclockd had exited already: %v%s", err, a.daemonState())
		return
	default:
	}
	_ = a.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.exited:
		if err != nil {
			a.fail("daemon-stop", "siteclockd ended with %v after SIGTERM", err)
			return
		}
		a.pass("daemon-stop", "siteclockd stopped cleanly on SIGTERM")
	case <-time.After(10 * time.Second):
		_ = a.daemon.Process.Kill()
		a.fail("daemon-stop", "siteclockd did not stop within 10s of SIGTERM")
	}
}

// durations summarises samples as n, p50, p90 and max.
func durations(d []time.Duration) string {
	return fmt.Sprintf("n=%d p50=%v p90=%v max=%v", len(d), percentile(d, 50).Round(100*time.Microsecond),
		percentile(d, 90).Round(100*time.Microsecond), slices.Max(d).Round(100*time.Microsecond))
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
