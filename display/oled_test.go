package display

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

// i2cScreen is a screen the real kiosk state machine showed, named for its
// golden files.
type i2cScreen struct {
	name   string
	screen kiosk.Screen
}

// i2cKiosk drives the kiosk state machine the way the runner does, so the
// small displays are tested on the screens a worker would really see, in
// both languages, rather than on screens made up for the test.
type i2cKiosk struct {
	t       testing.TB
	s       kiosk.State
	now     time.Time
	capture kiosk.Capture
	commit  kiosk.Commit
	shots   []i2cScreen
}

// i2cStart is 7:02 AM on a Sunday in Chicago.
var i2cStart = time.Date(2026, 11, 22, 7, 2, 0, 0, time.FixedZone("CST", -6*3600))

// i2cRoster has one employee of each kind the screens need.
//
//	1001 Ana Ruiz   PIN 1111 foreman: photo, Clock For
//	1002 Ben Cole   PIN 2222 worker
//	1003 Carla Diaz PIN 3333 office: no photo
//	1006 Luis Mora  PIN 6666 worker, Spanish
//	1007 (a very long name) PIN 7777 worker, no photo consent
func i2cRoster(t testing.TB) *roster.Roster {
	t.Helper()
	kdf := roster.KDF{Salt: []byte("display-salt-123"), Iterations: roster.MinIterations}
	roles := []roster.Role{
		{ID: "foreman", Name: "Foreman", FaceFront: true, ClockFor: true},
		{ID: "worker", Name: "Worker", FaceFront: true},
		{ID: "office", Name: "Office"},
	}
	emp := func(num, name, role, pin string, consent bool, lang roster.Lang) roster.Employee {
		return roster.Employee{ID: "e" + num, Number: num, Name: name, RoleID: role, Active: true,
			PhotoConsent: consent, Language: lang, PINHash: roster.HashPIN(kdf, pin)}
	}
	r, err := roster.New("display-1", kdf, roster.Settings{Nickname: "Main St trailer", Timezone: "America/Chicago"}, roles, []roster.Employee{
		emp("1001", "Ana Ruiz", "foreman", "1111", true, ""),
		emp("1002", "Ben Cole", "worker", "2222", true, ""),
		emp("1003", "Carla Diaz", "office", "3333", true, ""),
		emp("1006", "Luis Mora", "worker", "6666", true, roster.Spanish),
		emp("1007", "Maximiliano Alejandro de la Santísima Trinidad Fernández-Gutiérrez", "worker", "7777", false, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (k *i2cKiosk) ev(e kiosk.Event) {
	k.t.Helper()
	var fx []kiosk.Effect
	k.s, fx = kiosk.Step(k.s, e, k.now)
	for _, f := range fx {
		switch f := f.(type) {
		case kiosk.Capture:
			k.capture = f
		case kiosk.Commit:
			k.commit = f
		}
	}
}

func (k *i2cKiosk) keys(s string) {
	k.t.Helper()
	for _, c := range s {
		key, ok := kiosk.ParseKey(c)
		if !ok {
			k.t.Fatalf("bad key %q", c)
		}
		k.ev(kiosk.KeyPress{Key: key})
	}
}

// wait lets d pass, ticking at every deadline on the way.
func (k *i2cKiosk) wait(d time.Duration) {
	k.t.Helper()
	end := k.now.Add(d)
	for i := 0; i < 1000; i++ {
		dl := k.s.Deadline()
		if dl.IsZero() || dl.After(end) {
			break
		}
		if dl.After(k.now) {
			k.now = dl
		}
		k.ev(kiosk.Tick{})
	}
	k.now = end
}

// committed answers the last Commit as the store would.
func (k *i2cKiosk) committed() {
	k.ev(kiosk.Committed{Ref: k.commit.Ref, Punches: k.commit.Punches})
}

// snap keeps the current screen under name, checking it is the screen the
// story expects.
func (k *i2cKiosk) snap(name, want string) {
	k.t.Helper()
	sc := k.s.Screen(k.now)
	if sc.Name != want {
		k.t.Fatalf("%s: screen is %s, want %s: %+v", name, sc.Name, want, sc)
	}
	k.shots = append(k.shots, i2cScreen{name, sc})
}

// i2cScreens returns a screen of every name the kiosk shows, from the real
// state machine: English and Spanish, online and offline, and a name too
// long for any line.
func i2cScreens(t testing.TB) []i2cScreen {
	t.Helper()
	r := i2cRoster(t)
	photo := []byte("\xff\xd8 not shown on a small display \xff\xd9")
	online := kiosk.Net{Online: true, Waiting: 0, LastSync: i2cStart.Add(-time.Minute)}
	k := &i2cKiosk{t: t, now: i2cStart}
	k.s = kiosk.New(kiosk.Ready, r, nil, punch.PhotoTaken, online, k.now)

	k.snap("idle", kiosk.ScreenIdle)
	k.keys("11")
	k.snap("pin", kiosk.ScreenPIN)
	k.keys("11#")
	k.snap("greet", kiosk.ScreenGreet)
	k.keys("#")
	k.snap("camera", kiosk.ScreenCamera)
	k.wait(3 * time.Second)
	k.ev(kiosk.PhotoTaken{Ref: k.capture.Ref, JPEG: photo})
	k.snap("preview", kiosk.ScreenPreview)
	k.committed()
	k.wait(2 * time.Second)
	k.snap("saved", kiosk.ScreenSaved)
	k.wait(time.Minute)

	k.keys("1111i")
	k.snap("confirm", kiosk.ScreenConfirm)
	k.keys("**")
	k.keys("3333#")
	k.keys("#")
	k.snap("saving", kiosk.ScreenSaving)
	k.ev(kiosk.CommitFailed{Ref: k.commit.Ref, Punches: k.commit.Punches})
	k.snap("not-saved", kiosk.ScreenNotSaved)
	k.keys("*")

	k.keys("1111f")
	k.keys("1002#1003#")
	k.snap("crew", kiosk.ScreenCrew)
	k.keys("o")
	k.snap("crew-confirm", kiosk.ScreenCrewConfirm)
	k.keys("**")
	k.keys("**")

	k.keys("9999#")
	k.snap("message", kiosk.ScreenMessage)
	for range kiosk.WrongPINsBeforeLock - 1 {
		k.keys("9999#")
	}
	k.wait(10 * time.Second)
	k.snap("locked", kiosk.ScreenLocked)
	k.wait(time.Minute)

	// Luis prefers Spanish; the kiosk is offline with punches waiting.
	k.ev(kiosk.NetChanged{Net: kiosk.Net{Online: false, Waiting: 3, LastSync: i2cStart.Add(-2 * time.Hour)}})
	k.keys("l")
	k.snap("idle-es-offline", kiosk.ScreenIdle)
	k.wait(time.Minute) // the language chosen at idle lapses
	k.keys("6666#")
	k.snap("greet-es", kiosk.ScreenGreet)
	k.keys("#")
	k.wait(3 * time.Second)
	k.ev(kiosk.PhotoFailed{Ref: k.capture.Ref, Reason: punch.NoCamera})
	k.committed()
	k.snap("saved-es", kiosk.ScreenSaved)
	k.wait(time.Minute)
	k.keys("6666i")
	k.snap("confirm-es", kiosk.ScreenConfirm)
	k.keys("**")

	k.ev(kiosk.NetChanged{Net: online})
	k.keys("7777#")
	k.snap("greet-long-name", kiosk.ScreenGreet)
	k.keys("#")
	k.committed()
	k.snap("saved-long-name", kiosk.ScreenSaved)
	k.wait(time.Minute)

	k.ev(kiosk.DeviceDisabled{})
	k.snap("disabled", kiosk.ScreenDisabled)

	// A new kiosk: no roster, asking for its setup code.
	k.s = kiosk.New(kiosk.Unprovisioned, nil, nil, punch.NoCamera, kiosk.Net{}, k.now)
	k.keys("4821")
	k.snap("setup-code", kiosk.ScreenSetupCode)
	k.keys("93#")
	k.snap("enrolling", kiosk.ScreenEnrolling)
	return k.shots
}

// oledPNG encodes img as a black and white PNG, the form of the golden
// files: any image viewer shows exactly what the panel would.
func oledPNG(t *testing.T, img *image1bit.VerticalLSB) []byte {
	t.Helper()
	g := image.NewGray(img.Bounds())
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			if img.BitAt(x, y) {
				g.SetGray(x, y, color.Gray{Y: 0xff})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// oledFromPNG decodes a golden file back to its lit pixels.
func oledFromPNG(t *testing.T, data []byte) *image1bit.VerticalLSB {
	t.Helper()
	src, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	img := image1bit.NewVerticalLSB(src.Bounds())
	for y := range src.Bounds().Dy() {
		for x := range src.Bounds().Dx() {
			if r, _, _, _ := src.At(x, y).RGBA(); r >= 0x8000 {
				img.SetBit(x, y, image1bit.On)
			}
		}
	}
	return img
}

func TestOLEDGolden(t *testing.T) {
	for _, sc := range i2cScreens(t) {
		t.Run(sc.name, func(t *testing.T) {
			img := OLEDImage(sc.screen)
			if img.Bounds() != image.Rect(0, 0, OLEDWidth, OLEDHeight) {
				t.Fatalf("image is %v, want 128×64", img.Bounds())
			}
			golden := filepath.Join("testdata", "oled-"+sc.name+".png")
			if *update {
				if err := os.WriteFile(golden, oledPNG(t, img), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v; run go test ./display -update to create it", err)
			}
			want := oledFromPNG(t, data)
			if want.Bounds() != img.Bounds() {
				t.Fatalf("%s is %v, want %v", golden, want.Bounds(), img.Bounds())
			}
			if diff := oledDiff(want, img); diff != 0 {
				got := filepath.Join(t.TempDir(), "got.png")
				_ = os.WriteFile(got, oledPNG(t, img), 0o644)
				t.Errorf("%d pixels differ from %s; the new image is %s (go test ./display -update accepts it)", diff, golden, got)
			}
		})
	}
}

func oledDiff(a, b *image1bit.VerticalLSB) int {
	n := 0
	for y := range OLEDHeight {
		for x := range OLEDWidth {
			if a.BitAt(x, y) != b.BitAt(x, y) {
				n++
			}
		}
	}
	return n
}

// i2cStep is one step of a scripted session with a display and the bus
// transactions it caused.
type i2cStep struct {
	name string
	ops  []i2ctest.IO
}

// i2cTrace runs session on a bus that replays the recording in
// testdata/file, so that any change in the bytes sent fails the test, and
// checks that each step sent as many transactions as recorded and that
// the whole recording was used. With -update it first records a new one
// with i2ctest.Record. session calls step at the start of each step.
func i2cTrace(t *testing.T, file string, session func(bus i2c.Bus, step func(name string))) []i2cStep {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		rec := &i2ctest.Record{}
		var steps []i2cStep
		start := 0
		end := func() {
			if len(steps) > 0 {
				steps[len(steps)-1].ops = rec.Ops[start:]
				start = len(rec.Ops)
			}
		}
		session(rec, func(name string) {
			end()
			steps = append(steps, i2cStep{name: name})
		})
		end()
		if err := os.WriteFile(path, i2cFormat(file, steps), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go test ./display -update to record it", err)
	}
	steps, err := i2cParse(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var all []i2ctest.IO
	ends := make([]int, len(steps))
	for i, s := range steps {
		all = append(all, s.ops...)
		ends[i] = len(all)
	}
	bus := &i2ctest.Playback{Ops: all, DontPanic: true}
	i := -1
	check := func() {
		t.Helper()
		if i >= 0 && bus.Count != ends[i] {
			t.Errorf("step %q ended after transaction %d, the recording %s after %d (go test ./display -update records it again)", steps[i].name, bus.Count, path, ends[i])
		}
	}
	session(bus, func(name string) {
		t.Helper()
		check()
		i++
		if i >= len(steps) || steps[i].name != name {
			t.Fatalf("step %d is %q, not in %s in that place", i, name, path)
		}
	})
	check()
	if err := bus.Close(); err != nil {
		t.Errorf("%s: %v", path, err)
	}
	return steps
}

// i2cFormat writes steps as text: a "step NAME COUNT" line, then one line
// per transaction, the address and the bytes written in hex. Text diffs
// show which bytes a change moved.
func i2cFormat(file string, steps []i2cStep) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# I2C transactions of a scripted session, recorded with i2ctest.Record by\n")
	fmt.Fprintf(&b, "# go test ./display -update; the test replays them with i2ctest.Playback.\n")
	fmt.Fprintf(&b, "# step NAME TRANSACTIONS, then one line per transaction: address, bytes written.\n")
	for _, s := range steps {
		fmt.Fprintf(&b, "step %s %d\n", s.name, len(s.ops))
		for _, op := range s.ops {
			fmt.Fprintf(&b, "%02x", op.Addr)
			for _, c := range op.W {
				fmt.Fprintf(&b, " %02x", c)
			}
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func i2cParse(data []byte) ([]i2cStep, error) {
	var steps []i2cStep
	for n, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(line, "#"):
		case f[0] == "step":
			var s i2cStep
			var count int
			if _, err := fmt.Sscanf(line, "step %s %d", &s.name, &count); err != nil {
				return nil, fmt.Errorf("line %d: %v", n+1, err)
			}
			steps = append(steps, s)
		case len(steps) == 0:
			return nil, fmt.Errorf("line %d: transaction before the first step", n+1)
		default:
			var op i2ctest.IO
			for i, h := range f {
				var v uint16
				if _, err := fmt.Sscanf(h, "%x", &v); err != nil {
					return nil, fmt.Errorf("line %d: %v", n+1, err)
				}
				if i == 0 {
					op.Addr = v
				} else {
					op.W = append(op.W, byte(v))
				}
			}
			s := &steps[len(steps)-1]
			s.ops = append(s.ops, op)
		}
	}
	return steps, nil
}

// i2cCount is a bus that accepts every write and counts them, or fails
// every transaction with fail.
type i2cCount struct {
	n    int
	fail error
}

func (c *i2cCount) String() string { return "i2c-count" }
func (c *i2cCount) SetSpeed(physic.Frequency) error {
	return nil
}

func (c *i2cCount) Tx(addr uint16, w, r []byte) error {
	if c.fail != nil {
		return c.fail
	}
	c.n++
	return nil
}

// ssd1306Sim is an SSD1306 on a bus, as far as the driver uses it: it
// keeps the pixels the panel would show, so a test can check that a
// partial redraw left the panel showing the whole new image.
type ssd1306Sim struct {
	t          *testing.T
	addr       uint16
	on         bool
	page, col  int
	gddram     [OLEDWidth * OLEDHeight / 8]byte
	tx         int
	pendingCmd []byte // a command still waiting for its parameters
}

// ssd1306Params is the number of parameter bytes of each command the
// driver sends that has any.
var ssd1306Params = map[byte]int{
	0xd3: 1, 0xda: 1, 0x81: 1, 0xd5: 1, 0x8d: 1, 0xd9: 1, 0xdb: 1, 0xa8: 1, 0x20: 1, 0x21: 2, 0x22: 2,
}

func (p *ssd1306Sim) String() string                  { return "ssd1306-sim" }
func (p *ssd1306Sim) SetSpeed(physic.Frequency) error { return nil }

func (p *ssd1306Sim) Tx(addr uint16, w, r []byte) error {
	p.tx++
	if addr != p.addr || len(r) != 0 || len(w) == 0 {
		p.t.Errorf("transaction to %#x writing %d and reading %d bytes; the panel is at %#x and is only written", addr, len(w), len(r), p.addr)
		return errors.New("no answer")
	}
	switch w[0] {
	case 0x00:
		for _, c := range w[1:] {
			p.command(c)
		}
	case 0x40:
		for _, d := range w[1:] {
			p.gddram[p.page*OLEDWidth+p.col] = d
			if p.col++; p.col == OLEDWidth {
				p.col, p.page = 0, (p.page+1)%(OLEDHeight/8)
			}
		}
	default:
		p.t.Errorf("control byte %#x, want 0x00 (commands) or 0x40 (data)", w[0])
	}
	return nil
}

func (p *ssd1306Sim) command(c byte) {
	if len(p.pendingCmd) > 0 {
		p.pendingCmd = append(p.pendingCmd, c)
		if len(p.pendingCmd) > ssd1306Params[p.pendingCmd[0]] {
			p.pendingCmd = nil
		}
		return
	}
	switch {
	case ssd1306Params[c] > 0:
		p.pendingCmd = []byte{c}
	case c == 0xae:
		p.on = false
	case c == 0xaf:
		p.on = true
	case c >= 0xb0 && c <= 0xb7:
		p.page = int(c - 0xb0)
	case c <= 0x0f:
		p.col = p.col&0xf0 | int(c)
	case c >= 0x10 && c <= 0x1f:
		p.col = p.col&0x0f | int(c-0x10)<<4
	}
}

// shows checks that the panel is on and shows exactly want.
func (p *ssd1306Sim) shows(t *testing.T, want *image1bit.VerticalLSB) {
	t.Helper()
	if !p.on {
		t.Error("panel is off")
	}
	if !bytes.Equal(p.gddram[:], want.Pix) {
		got := image1bit.NewVerticalLSB(want.Rect)
		copy(got.Pix, p.gddram[:])
		t.Errorf("panel shows an image %d pixels away from the one drawn", oledDiff(got, want))
	}
}

// oledSession is the scripted session of the recorded OLED traffic: start,
// the idle screen, the same again, the clock's next minute, a PIN being
// typed, close. The module is at 0x3d, to prove that the driver's fixed
// 0x3c is moved.
func oledSession(t *testing.T, shots map[string]kiosk.Screen) func(bus i2c.Bus, step func(string)) {
	return func(bus i2c.Bus, step func(string)) {
		t.Helper()
		step("start")
		o, err := NewOLED(bus, 0x3d)
		if err != nil {
			t.Fatal(err)
		}
		show := func(name string, s kiosk.Screen) {
			t.Helper()
			step(name)
			if err := o.Show(s); err != nil {
				t.Fatal(err)
			}
		}
		show("idle", shots["idle"])
		show("idle-again", shots["idle"])
		show("idle-next-minute", shots["idle-next-minute"])
		show("pin", shots["pin"])
		show("greet", shots["greet"])
		step("close")
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// i2cShots returns the screens of i2cScreens by name, and the idle screen
// a minute later.
func i2cShots(t testing.TB) map[string]kiosk.Screen {
	t.Helper()
	shots := map[string]kiosk.Screen{}
	for _, s := range i2cScreens(t) {
		shots[s.name] = s.screen
	}
	k := &i2cKiosk{t: t, now: i2cStart}
	k.s = kiosk.New(kiosk.Ready, i2cRoster(t), nil, punch.PhotoTaken, kiosk.Net{Online: true, LastSync: i2cStart.Add(-time.Minute)}, k.now)
	k.wait(time.Minute)
	k.snap("idle-next-minute", kiosk.ScreenIdle)
	next := k.shots[0].screen
	if next.Big == shots["idle"].Big || next.Title != shots["idle"].Title || next.Status != shots["idle"].Status {
		t.Fatalf("a minute later the idle screen should change its clock only: %+v, then %+v", shots["idle"], next)
	}
	shots["idle-next-minute"] = next
	return shots
}

func TestOLEDTraffic(t *testing.T) {
	shots := i2cShots(t)
	steps := i2cTrace(t, "oled-i2c.txt", oledSession(t, shots))
	for _, s := range steps {
		for _, op := range s.ops {
			if op.Addr != 0x3d {
				t.Fatalf("step %s: transaction to %#x, want the module's 0x3d", s.name, op.Addr)
			}
		}
	}
	count := map[string]int{}
	for _, s := range steps {
		count[s.name] = len(s.ops)
		t.Logf("%-16s %3d transactions", s.name, len(s.ops))
	}
	// One command list starts the panel; a full frame is 8 pages of a
	// command and a data transaction each; an unchanged screen sends
	// nothing; a clock tick sends the pages of the clock only.
	if count["start"] != 1 || count["idle"] != 16 || count["idle-again"] != 0 || count["close"] != 1 {
		t.Errorf("transactions: start %d, idle %d, idle again %d, close %d; want 1, 16, 0, 1",
			count["start"], count["idle"], count["idle-again"], count["close"])
	}
	if n := count["idle-next-minute"]; n == 0 || n > 8 {
		t.Errorf("the clock's next minute cost %d transactions, want 1 to 8 (the pages of Big)", n)
	}
}

func TestOLEDShowsWhatItDraws(t *testing.T) {
	shots := i2cShots(t)
	sim := &ssd1306Sim{t: t, addr: 0x3c}
	o, err := NewOLED(sim, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each screen after the first is drawn over the last by the driver's
	// partial update; the panel must end up showing it exactly.
	for _, name := range []string{"idle", "idle-next-minute", "pin", "greet", "camera", "preview", "saved", "saved-es", "idle"} {
		if err := o.Show(shots[name]); err != nil {
			t.Fatal(err)
		}
		sim.shows(t, OLEDImage(shots[name]))
		if t.Failed() {
			t.Fatalf("after %s", name)
		}
	}
	before := sim.tx
	again := shots["idle"]
	again.Lines = append([]string(nil), again.Lines...) // equal, not the same slice
	if err := o.Show(again); err != nil {
		t.Fatal(err)
	}
	if sim.tx != before {
		t.Errorf("an unchanged screen sent %d transactions, want none", sim.tx-before)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if sim.on {
		t.Error("panel still on after Close")
	}
}

func TestOLEDBusError(t *testing.T) {
	broken := errors.New("remote I/O error")
	bus := &i2cCount{fail: broken}
	if _, err := NewOLED(bus, 0); !i2cAdvises(t, err, broken, "display: oled:") {
		return
	}

	bus.fail = nil
	o, err := NewOLED(bus, 0)
	if err != nil {
		t.Fatal(err)
	}
	idle := kiosk.Screen{Name: kiosk.ScreenIdle, Big: "7:02 AM"}
	bus.fail = broken
	if err := o.Show(idle); !i2cAdvises(t, err, broken, `display: oled: show screen "idle" at 0x3c`) {
		return
	}
	// The panel may have lost power: the next Show starts it again and
	// draws the whole frame, though the screen is the same.
	bus.fail, bus.n = nil, 0
	if err := o.Show(idle); err != nil {
		t.Fatal(err)
	}
	if bus.n != 1+16 {
		t.Errorf("Show after a bus error sent %d transactions, want 17 (start, whole frame)", bus.n)
	}
}

// i2cAdvises checks that err wraps cause and tells a person what to check.
func i2cAdvises(t *testing.T, err, cause error, prefix string) bool {
	t.Helper()
	if err == nil {
		t.Error("no error from a broken bus")
		return false
	}
	msg := err.Error()
	ok := errors.Is(err, cause) && strings.HasPrefix(msg, prefix)
	for _, want := range []string{"address", "wiring", "raspi-config", "dtparam=i2c_arm=on", "group i2c"} {
		ok = ok && strings.Contains(msg, want)
	}
	if !ok {
		t.Errorf("error %q: want it to start %q, wrap %q and name the address, wiring, raspi-config, dtparam=i2c_arm=on and group i2c", msg, prefix, cause)
	}
	return ok
}

func TestOLEDAddress(t *testing.T) {
	for _, addr := range []uint16{0x27, 0x3e, 0x78} {
		if _, err := NewOLED(&i2cCount{}, addr); err == nil || !strings.Contains(err.Error(), "0x3c or 0x3d") {
			t.Errorf("NewOLED at %#x: %v, want an error naming 0x3c and 0x3d", addr, err)
		}
	}
	bus := &i2cCount{}
	if _, err := NewOLED(bus, 0x3d); err != nil || bus.n != 1 {
		t.Errorf("NewOLED at 0x3d: %v after %d transactions, want started in 1", err, bus.n)
	}
}
