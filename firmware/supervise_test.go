package firmware

import (
	"context"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// The supervisor's tests run copies of this test binary as the daemon: a
// fake daemon that speaks sd_notify the way siteclockd does and behaves
// as the file "mode" beside it says.
const fakeEnv = "FIRMWARE_FAKE_DAEMON"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		fakeDaemon()
		return
	}
	os.Exit(m.Run())
}

func fakeDaemon() {
	mode, _ := os.ReadFile(filepath.Join(filepath.Dir(os.Args[0]), "mode"))
	conn, _ := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
	say := func(s string) {
		if conn != nil {
			conn.Write([]byte(s))
		}
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	usec, _ := strconv.Atoi(os.Getenv("WATCHDOG_USEC"))
	ping := time.Duration(usec) * time.Microsecond / 2
	if ping == 0 {
		ping = time.Hour
	}
	switch m := strings.TrimSpace(string(mode)); {
	case m == "supervisor":
		fakeSupervisor()
	case m == "install":
		// The real updater takes the offer of FAKE_BINARY as 2.0.0,
		// downloads, installs and switches to it.
		say("READY=1")
		os.Exit(fakeInstall())
	case m == "exit":
		os.Exit(3)
	case m == "never":
		<-term
		os.Exit(0)
	case strings.HasPrefix(m, "update "):
		// Switch to the version named, as the daemon's Install does,
		// then ask to be restarted into it.
		say("READY=1\nSTATUS=online, 0 waiting")
		s, err := OpenStore(os.Getenv("FAKE_STORE"))
		if err == nil {
			err = s.Switch(strings.TrimPrefix(m, "update "), os.Getenv("FAKE_RUNNING"), time.Now())
		}
		if err != nil {
			os.Exit(4)
		}
		say("STOPPING=1")
		os.Exit(ExitRestart)
	case m == "hang":
		say("READY=1\nSTATUS=online, 0 waiting")
		<-term
		os.Exit(0)
	default: // ok
		say("READY=1\nSTATUS=online, 0 waiting")
		t := time.NewTicker(ping)
		for {
			select {
			case <-t.C:
				say("WATCHDOG=1")
			case <-term:
				say("STOPPING=1")
				os.Exit(0)
			}
		}
	}
}

type fixture struct {
	t     *testing.T
	store *Store
	self  string
	exe   []byte
	heard *systemdEar
}

func newFixture(t *testing.T, selfMode string) *fixture {
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeEnv, "1")
	t.Setenv("NOTIFY_SOCKET", "") // the supervisor's own, not the test's
	dir := t.TempDir()
	s, err := OpenStore(filepath.Join(dir, "firmware"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_STORE", s.Dir())
	f := &fixture{t: t, store: s, exe: exe, heard: &systemdEar{}, self: filepath.Join(dir, "pkg", Product)}
	os.MkdirAll(filepath.Dir(f.self), 0o755)
	os.WriteFile(f.self, exe, 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "mode"), []byte(selfMode), 0o644)
	return f
}

// version installs this test binary as version, behaving as mode.
func (f *fixture) version(v, mode string) {
	stage(f.t, f.store, v, f.exe)
	os.WriteFile(filepath.Join(f.store.Dir(), "versions", v, "mode"), []byte(mode), 0o644)
}

func (f *fixture) supervisor() *Supervisor {
	return &Supervisor{Store: f.store, Self: f.self, SelfVersion: "1.0.0",
		ReadyTimeout: 3 * time.Second, Probation: 700 * time.Millisecond, Watchdog: 400 * time.Millisecond,
		StopTimeout: 2 * time.Second, Notify: f.heard.add}
}

// systemdEar stands in for systemd: what the supervisor told it.
type systemdEar struct {
	mu   sync.Mutex
	msgs []string
}

func (e *systemdEar) add(m string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.msgs = append(e.msgs, strings.Split(m, "\n")...)
	return nil
}

func (e *systemdEar) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.msgs)
}

func count(msgs []string, m string) int {
	n := 0
	for _, x := range msgs {
		if x == m {
			n++
		}
	}
	return n
}

// run runs the supervisor until cond holds (checked every 20 ms), then
// stops it and returns its exit status.
func (f *fixture) run(s *Supervisor, cond func(State) bool) int {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		code, err := s.Run(ctx)
		if err != nil {
			f.t.Error(err)
		}
		done <- code
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := f.store.State()
		if cond(st) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			f.t.Fatalf("state never got there: %+v, report %+v", st, st.Report)
		}
		select {
		case code := <-done:
			f.t.Fatalf("the supervisor returned %d early; state %+v", code, st)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	return <-done
}

func reported(state string) func(State) bool {
	return func(st State) bool { return st.Report != nil && st.Report.State == state && st.Trial == nil }
}

// TestSupervisorUpdates: the packaged 1.0.0 switches to 2.0.0 and exits to
// be restarted; 2.0.0 comes up healthy and is kept. systemd hears READY=1
// once and no STOPPING=1 for the restart.
func TestSupervisorUpdates(t *testing.T) {
	f := newFixture(t, "update 2.0.0")
	f.version("2.0.0", "ok")
	f.run(f.supervisor(), reported(protocol.UpdateInstalled))
	if cur, _ := f.store.Current(); cur != "2.0.0" {
		t.Errorf("current = %q, want 2.0.0", cur)
	}
	msgs := f.heard.all()
	if n := count(msgs, "READY=1"); n != 1 {
		t.Errorf("systemd heard READY=1 %d times, want once: %q", n, msgs)
	}
	stops := count(msgs, "STOPPING=1")
	if stops != 1 || msgs[len(msgs)-1] != "STOPPING=1" {
		t.Errorf("systemd heard STOPPING=1 %d times (%q); want once, at the end, not for the restart into the update", stops, msgs)
	}
	if count(msgs, "STATUS=online, 0 waiting") == 0 || count(msgs, "WATCHDOG=1") == 0 {
		t.Errorf("systemd did not hear the daemon's status and watchdog: %q", msgs)
	}
}

// TestSupervisorRollsBack: a new version that exits, never says ready, or
// stops its watchdog pings is replaced by the previous one, which runs.
func TestSupervisorRollsBack(t *testing.T) {
	for _, c := range []struct{ mode, why string }{
		{"exit", "exited with status 3"},
		{"never", "did not report ready within 3s"},
		{"hang", "stopped its watchdog pings"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			f := newFixture(t, "ok")
			f.version("2.0.0", "ok")
			f.version("3.0.0", c.mode)
			f.store.link("2.0.0")
			f.store.Update(func(st *State) error { st.Highest = "2.0.0"; return nil })
			if err := f.store.Switch("3.0.0", "2.0.0", t0); err != nil {
				t.Fatal(err)
			}
			f.run(f.supervisor(), reported(protocol.UpdateRolledBack))
			st, _ := f.store.State()
			if cur, _ := f.store.Current(); cur != "2.0.0" || !strings.Contains(st.Report.Detail, c.why) || len(st.Failed) != 1 {
				t.Errorf("current %q, report %+v, failed %q; want 2.0.0 back because %s", cur, st.Report, st.Failed, c.why)
			}
		})
	}
}

// TestSupervisorGivesUpAfterAttempts: a version on probation that was
// started MaxAttempts times without proving healthy (power cut each time)
// is not started again.
func TestSupervisorGivesUpAfterAttempts(t *testing.T) {
	f := newFixture(t, "ok")
	f.version("2.0.0", "ok")
	f.store.Switch("2.0.0", "", t0)
	f.store.Update(func(st *State) error { st.Trial.Attempts = 3; return nil })
	f.run(f.supervisor(), reported(protocol.UpdateRolledBack))
	st, _ := f.store.State()
	if cur, _ := f.store.Current(); cur != "" || !strings.Contains(st.Report.Detail, "in 3 starts") {
		t.Errorf("current %q, report %+v", cur, st.Report)
	}
}

// TestSupervisorPrefersNewerPackage: a package newer than the version
// installed over the air runs instead of it.
func TestSupervisorPrefersNewerPackage(t *testing.T) {
	f := newFixture(t, "ok")
	f.version("0.9.0", "exit")
	f.store.link("0.9.0")
	s := f.supervisor()
	if v, bin := s.pick(State{}); v != "1.0.0" || bin != f.self {
		t.Errorf("pick = %s %s, want the packaged 1.0.0", v, bin)
	}
	s.SelfVersion = "0.1.0"
	if v, _ := s.pick(State{}); v != "0.9.0" {
		t.Errorf("pick = %s, want the newer 0.9.0 installed over the air", v)
	}
}

// TestSupervisorLeavesAHungStartToSystemd: a daemon that is not on
// probation but never says ready is spoken for to systemd's watchdog only
// for ReadyTimeout; then the pings stop, so that systemd restarts it.
func TestSupervisorLeavesAHungStartToSystemd(t *testing.T) {
	f := newFixture(t, "never")
	s := f.supervisor()
	s.ReadyTimeout, s.Watchdog = 300*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(time.Second)
	first := count(f.heard.all(), "WATCHDOG=1")
	time.Sleep(500 * time.Millisecond)
	later := count(f.heard.all(), "WATCHDOG=1")
	cancel()
	<-done
	if first == 0 || later != first {
		t.Errorf("watchdog pings: %d in the first second, %d after; want some while it may still get ready, then none", first, later)
	}
	if n := count(f.heard.all(), "READY=1"); n != 0 {
		t.Errorf("systemd heard READY=1 %d times for a daemon that never said it", n)
	}
}
