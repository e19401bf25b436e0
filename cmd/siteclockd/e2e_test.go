package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/systemd/systemdtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// siteclockd builds the daemon once for the tests of this package.
func siteclockd(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "siteclockd-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "siteclockd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// fastRoster is the demo's people with short screen times, so a script
// runs in well under a second per punch.
const fastRoster = `{
  "version": "e2e-1",
  "pin_iterations": 1000,
  "settings": {"nickname": "E2E trailer", "photo_countdown_seconds": 0.2, "photo_preview_seconds": 0.1,
               "saved_screen_seconds": 0.1, "message_screen_seconds": 0.1, "screen_timeout_seconds": 2},
  "roles": [
    {"id": "foreman", "facefront": true, "clock_for": true},
    {"id": "worker", "facefront": true},
    {"id": "nophoto"}
  ],
  "employees": [
    {"number": "1001", "name": "Ana Ruiz", "role": "foreman", "pin": "1111", "photo_consent": true},
    {"number": "1002", "name": "Ben Cole", "role": "worker", "pin": "2222", "photo_consent": true},
    {"number": "1003", "name": "Carla Diaz", "role": "nophoto", "pin": "3333"},
    {"number": "1004", "name": "Diego Soto", "role": "worker", "pin": "4444", "photo_consent": true, "language": "es"}
  ]
}`

func cmdRun(t testing.TB, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(siteclockd(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

func importRoster(t testing.TB, state, doc string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "roster.json")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cmdRun(t, "", "roster", "import", "-state", state, f)
	if err != nil {
		t.Fatalf("roster import: %v", err)
	}
	if !strings.Contains(out, "imported roster e2e-1: 4 employees, 3 roles") {
		t.Fatalf("roster import said %q", out)
	}
}

// TestHeadlessEndToEnd builds siteclockd, drives it through standard input
// and checks the screens it prints and the punches it committed.
func TestHeadlessEndToEnd(t *testing.T) {
	state := t.TempDir()
	importRoster(t, state, fastRoster)

	keys := "2222#" + "#" + // Ben: greeted, IN with a photo
		"3333o" + // Carla: OUT, her role takes no photo
		"l4444#" + // Diego in Spanish: greeted
		"#" + // IN
		"1111f1002#9999#1003#i#" + // Ana clocks in her crew; 9999 rejected
		"9999#" // a wrong PIN
	out, err := cmdRun(t, keys, "-headless", "-state", state, "-camera", "sim")
	if err != nil {
		t.Fatalf("siteclockd: %v\nscreens:\n%s", err, out)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if n, ok := strings.CutPrefix(line, "--- "); ok {
			n = strings.TrimSuffix(n, " ---")
			if len(names) == 0 || names[len(names)-1] != n {
				names = append(names, n)
			}
		}
	}
	seq := strings.Join(names, " ")
	for _, want := range []string{
		"idle pin greet camera preview saved",
		"pin saving saved",
		"crew crew-confirm saving saved",
		"pin message pin",
	} {
		if !strings.Contains(seq, want) {
			t.Errorf("screen sequence %q lacks %q", seq, want)
		}
	}
	for _, want := range []string{
		"Hello, Ben Cole", "Look at the camera", "[photo: ", "Clocked IN", "Photo saved",
		"Clocked OUT", "Hola, Diego Soto", "ENTRADA",
		"No employee number 9999", "Clock IN 2 people?", "2 clocked IN", "Recorded by Ana Ruiz",
		"PIN not recognized", "E2E trailer", "5 waiting",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("screens lack %q", want)
		}
	}
	for _, pin := range []string{"2222", "3333", "4444", "1111"} {
		if strings.Contains(out, pin) {
			t.Errorf("PIN %s appears on screen", pin)
		}
	}

	list, err := cmdRun(t, "", "punches", "-state", state)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(list), "\n")[1:]
	want := []string{
		"1002 Ben Cole in self .jpg",
		"1003 Carla Diaz out self none: role_facefront_off",
		"1004 Diego Soto in self .jpg",
		"1002 Ben Cole in 1001 none: clock_for",
		"1003 Carla Diaz in 1001 none: clock_for",
	}
	if len(rows) != len(want) {
		t.Fatalf("punches:\n%s\nwant %d rows", list, len(want))
	}
	for i, row := range rows {
		f := strings.Fields(row)
		// SEQ ID EMPLOYEE NAME(2 words) DIR DATE TIME CLOCKEDBY PHOTO...
		got := strings.Join([]string{f[2], f[3], f[4], f[5]}, " ")
		w := strings.Fields(want[i])
		if got != strings.Join(w[:4], " ") {
			t.Errorf("punch %d = %q, want %q", i, row, want[i])
		}
		if by := f[8]; by != w[4] {
			t.Errorf("punch %d clocked by %q, want %s", i, by, w[4])
		}
		if !strings.Contains(row, strings.Join(w[5:], " ")) {
			t.Errorf("punch %d = %q, want photo %q", i, row, strings.Join(w[5:], " "))
		}
		if f[0] != fmt.Sprint(i+1) {
			t.Errorf("punch %d has sequence number %s", i, f[0])
		}
		// ... CLOCK SIGNED: signed with the device key made at the first start.
		if clock, signed := f[len(f)-2], f[len(f)-1]; signed != "yes" || !strings.HasPrefix(clock, "ntp") && !strings.HasPrefix(clock, "unchecked") {
			t.Errorf("punch %d = %q: want its clock (ntp or unchecked, no office here) and signed yes", i, row)
		}
	}

	st, err := cmdRun(t, "", "status", "-state", state)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"device:", "ready", "e2e-1, 4 employees", "5 in all, 5 waiting"} {
		if !strings.Contains(st, w) {
			t.Errorf("status lacks %q:\n%s", w, st)
		}
	}
}

func TestHeadlessUnprovisioned(t *testing.T) {
	out, err := cmdRun(t, "12345#", "-headless", "-state", t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"--- setup-code ---", "Enter setup code", "Checking setup code", "No office server is configured"} {
		if !strings.Contains(out, want) {
			t.Errorf("screens lack %q:\n%s", want, out)
		}
	}
}

func TestBadInputIsRefusedClearly(t *testing.T) {
	state := t.TempDir()
	importRoster(t, state, fastRoster)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{\"version\": \"2\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n {\"number\": \"1\", \"name\": \"X\", \"role\": \"nope\", \"pin\": \"1234\"}]}"), 0o600)
	_, err := cmdRun(t, "", "roster", "import", "-state", state, bad)
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), `unknown role "nope"`) || !strings.Contains(err.Error(), "unchanged") {
		t.Errorf("bad roster import: %v", err)
	}
	st, _ := cmdRun(t, "", "status", "-state", state)
	if !strings.Contains(st, "e2e-1") {
		t.Errorf("old roster lost after a refused import:\n%s", st)
	}

	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("state_dir = \"/x\"\n[camera]\ndriver = \"sim\"\nsim_falt = \"none\"\n"), 0o600)
	_, err = cmdRun(t, "", "-config", cfg, "-headless")
	if err == nil || !strings.Contains(err.Error(), "unknown setting camera.sim_falt") {
		t.Errorf("misspelt config: %v", err)
	}
	os.WriteFile(cfg, []byte("state_dir = \"/x\"\nlog_level = info\n"), 0o600)
	_, err = cmdRun(t, "", "-config", cfg, "-headless")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("corrupt config: %v", err)
	}
	_, err = cmdRun(t, "", "-config", filepath.Join(t.TempDir(), "missing.toml"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing config: %v", err)
	}

	// A corrupt database: refused, named, and left as it was.
	broken := t.TempDir()
	junk := bytes.Repeat([]byte("not a database "), 512)
	os.WriteFile(filepath.Join(broken, "kiosk.db"), junk, 0o600)
	_, err = cmdRun(t, "", "-headless", "-state", broken)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(broken, "kiosk.db")) || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("corrupt database: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(broken, "kiosk.db")); !bytes.Equal(b, junk) {
		t.Error("the corrupt database was changed")
	}
}

// BenchmarkKeyToScreen measures, in headless mode, the time from writing a
// key to siteclockd's standard input until its new screen is read from its
// standard output; the baseline is the same round trip through cat.
func BenchmarkKeyToScreen(b *testing.B) {
	state := b.TempDir()
	importRoster(b, state, fastRoster)
	for _, tc := range []struct {
		name string
		cmd  []string
	}{
		{"siteclockd", []string{siteclockd(b), "-headless", "-state", state, "-camera", "none"}},
		{"baseline-cat", []string{"cat"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := exec.CommandContext(ctx, tc.cmd[0], tc.cmd[1:]...)
			in, _ := cmd.StdinPipe()
			outp, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer cmd.Wait()
			defer in.Close()
			r := bufio.NewReader(outp)
			next := func(marker string) {
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						b.Fatalf("read: %v", err)
					}
					if strings.HasPrefix(line, marker) {
						return
					}
				}
			}
			isCat := tc.name == "baseline-cat"
			if !isCat {
				next("--- idle")
				io.WriteString(in, "3")
				next("--- pin")
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Alternate a digit and a clear: each changes the screen.
				key := "3"
				if i%2 == 0 {
					key = "*"
				}
				t0 := time.Now()
				if isCat {
					io.WriteString(in, "--- "+key+"\n")
				} else {
					io.WriteString(in, key)
				}
				next("--- ")
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := append([]time.Duration(nil), lat...)
	for i := range s { // insertion sort is plenty for a benchmark's samples
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	b.ReportMetric(float64(s[len(s)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(s[len(s)*99/100].Microseconds()), "p99-µs")
}

// TestSystemdNotify runs siteclockd with a unixgram socket standing in for
// systemd: READY=1 with the status line once the kiosk is up, STATUS= as
// the line changes, STOPPING=1 at the end.
func TestSystemdNotify(t *testing.T) {
	state := t.TempDir()
	importRoster(t, state, fastRoster)
	sd := systemdtest.Listen(t)
	cmd := exec.Command(siteclockd(t), "-headless", "-state", state, "-camera", "none")
	cmd.Stdin = strings.NewReader("3333o")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{
		"READY=1\nSTATUS=offline, 0 waiting, never synced, no camera",
		"STATUS=offline, 1 waiting, never synced, no camera",
		"STOPPING=1",
	}
	if got := sd.Messages(t); !slices.Equal(got, want) {
		t.Errorf("notifications:\n%q\nwant\n%q", got, want)
	}
}

// TestSystemdWatchdog: with WatchdogSec= set, the running kiosk pings from
// its loop, and still says STOPPING=1 when it stops.
func TestSystemdWatchdog(t *testing.T) {
	state := t.TempDir()
	importRoster(t, state, fastRoster)
	sd := systemdtest.Listen(t)
	// Pings every 50 ms; WATCHDOG_PID is left out (the child's PID is not
	// known before it starts), which systemd's protocol allows.
	t.Setenv("WATCHDOG_USEC", "100000")
	cmd := exec.Command(siteclockd(t), "-headless", "-state", state, "-camera", "none")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := sd.WaitFor(t, "WATCHDOG=1", time.Minute)
	if len(got) == 0 || !strings.HasPrefix(got[0], "READY=1\n") {
		t.Errorf("first notifications %q, want READY=1 first", got)
	}
	stdin.Close() // the end of the script stops the kiosk
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rest := sd.Messages(t)
	if len(rest) == 0 || rest[len(rest)-1] != "STOPPING=1" {
		t.Errorf("last notifications %q, want STOPPING=1 last", rest)
	}
}
