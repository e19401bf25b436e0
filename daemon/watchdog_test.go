package daemon

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/systemd"
	"github.com/siteclock/siteclock/systemd/systemdtest"
)

// gate blocks whoever passes it while it is shut.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *gate) pass() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

// stuckDisplay is a display whose Show hangs while its gate is shut, as a
// wedged framebuffer or I2C bus would.
type stuckDisplay struct {
	gate  *gate
	mu    sync.Mutex
	shown []string
}

func (d *stuckDisplay) Show(sc kiosk.Screen) error {
	d.gate.pass()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shown = append(d.shown, sc.Name)
	return nil
}

// slowStore is an in-memory Store whose Commit hangs while its gate is
// shut, as a dying SD card would.
type slowStore struct {
	gate    *gate
	mu      sync.Mutex
	punches []punch.Punch
}

func (s *slowStore) Commit(_ context.Context, ps []punch.Punch, _ []byte) ([]punch.Punch, error) {
	s.gate.pass()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ps {
		ps[i].Seq = int64(len(s.punches) + 1)
		s.punches = append(s.punches, ps[i])
	}
	return ps, nil
}

func (s *slowStore) Punch(id string) (punch.Punch, error) { return punch.Punch{}, queue.ErrNotFound }
func (s *slowStore) Reclaim() (int, error)                { return 0, nil }
func (s *slowStore) Stats() (queue.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return queue.Stats{Total: len(s.punches), Waiting: len(s.punches)}, nil
}

func (s *slowStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.punches)
}

// watchedKiosk is a kiosk wired to a systemd stand-in with WatchdogSec=10s,
// as cmd/siteclockd wires it.
func watchedKiosk(t *testing.T, sd *systemdtest.Socket, d Display, s Store, keys <-chan kiosk.Key) *Kiosk {
	t.Helper()
	sd.Watch(t, 10*time.Second)
	every, err := systemd.WatchdogInterval()
	if err != nil || every != 5*time.Second {
		t.Fatalf("watchdog interval %v, %v; want 5s", every, err)
	}
	n := &systemd.Notifier{}
	r := testRoster(t)
	return &Kiosk{
		State: kiosk.New(kiosk.Ready, r, nil, "", kiosk.Net{}, time.Now()),
		Keys:  keys, Display: d, Store: s,
		Status: n.Status, Watchdog: n.Watchdog, WatchdogEvery: every,
	}
}

func press(keys chan<- kiosk.Key, s string) {
	for _, c := range s {
		k, _ := kiosk.ParseKey(c)
		keys <- k
	}
}

// TestWatchdogStopsWhenLoopHangs: the kiosk pings systemd from its own loop
// every WatchdogSec/2; when the loop hangs in the display the pings stop,
// so systemd kills and restarts the daemon, and they resume if it recovers.
func TestWatchdogStopsWhenLoopHangs(t *testing.T) {
	sd := systemdtest.Listen(t)
	synctest.Test(t, func(t *testing.T) {
		disp := &stuckDisplay{gate: newGate()}
		keys := make(chan kiosk.Key)
		k := watchedKiosk(t, sd, disp, &slowStore{gate: newGate()}, keys)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- k.Run(ctx) }()

		time.Sleep(12 * time.Second)
		synctest.Wait()
		got := sd.Messages(t)
		if len(got) == 0 || got[0] != "READY=1\nSTATUS=offline, 0 waiting, never synced, no camera" {
			t.Fatalf("first notifications %q, want READY=1 with the status line", got)
		}
		if n := systemdtest.Count(got, "WATCHDOG=1"); n != 2 {
			t.Errorf("%d pings in 12 s at a 5 s interval, want 2: %q", n, got)
		}

		disp.gate.shut()
		press(keys, "1") // the PIN screen: Show hangs
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := systemdtest.Count(sd.Messages(t), "WATCHDOG=1"); n != 0 {
			t.Errorf("%d pings while the loop hung in Show; want none, so that systemd restarts the kiosk", n)
		}

		disp.gate.release()
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if n := systemdtest.Count(sd.Messages(t), "WATCHDOG=1"); n == 0 {
			t.Error("no pings after the display recovered")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestReadyAfterFirstScreen: READY=1 waits for the first screen to be up;
// a kiosk that cannot show it is not ready (systemd's start times out).
func TestReadyAfterFirstScreen(t *testing.T) {
	sd := systemdtest.Listen(t)
	synctest.Test(t, func(t *testing.T) {
		disp := &stuckDisplay{gate: newGate()}
		disp.gate.shut()
		k := watchedKiosk(t, sd, disp, &slowStore{gate: newGate()}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- k.Run(ctx) }()

		synctest.Wait()
		if got := sd.Messages(t); len(got) != 0 {
			t.Errorf("before the first screen: %q, want nothing", got)
		}
		disp.gate.release()
		synctest.Wait()
		got := sd.Messages(t)
		if len(got) != 1 || !strings.HasPrefix(got[0], "READY=1\n") || !slices.Equal(disp.shown, []string{"idle"}) {
			t.Errorf("after the first screen (%q): %q, want READY=1", disp.shown, got)
		}
		cancel()
		<-done
	})
}

// TestStopFinishesCommit: told to stop while a punch is being committed,
// the kiosk finishes the commit before Run returns (and while the commit
// hangs, the watchdog pings stop).
func TestStopFinishesCommit(t *testing.T) {
	sd := systemdtest.Listen(t)
	synctest.Test(t, func(t *testing.T) {
		store := &slowStore{gate: newGate()}
		keys := make(chan kiosk.Key)
		k := watchedKiosk(t, sd, &stuckDisplay{gate: newGate()}, store, keys)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- k.Run(ctx) }()

		store.gate.shut()
		press(keys, "3333o") // Carla, no photo: OUT commits at once
		synctest.Wait()
		sd.Messages(t)
		cancel() // SIGTERM
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) with the commit still in progress", err)
		default:
		}
		if n := systemdtest.Count(sd.Messages(t), "WATCHDOG=1"); n != 0 {
			t.Errorf("%d pings while the commit hung", n)
		}
		store.gate.release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if store.count() != 1 {
			t.Errorf("%d punches committed, want 1", store.count())
		}
	})
}

func TestStatusLine(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	r := testRoster(t)
	for _, c := range []struct {
		mode   kiosk.Mode
		net    kiosk.Net
		camera punch.NoPhoto
		want   string
	}{
		{kiosk.Ready, kiosk.Net{Online: true, LastSync: now}, punch.PhotoTaken, "online, 0 waiting"},
		{kiosk.Ready, kiosk.Net{Waiting: 12, LastSync: now.Add(-2*time.Hour - 28*time.Minute)}, punch.PhotoTaken, "offline, 12 waiting, last sync 07:02"},
		{kiosk.Ready, kiosk.Net{Waiting: 3, LastSync: now.Add(-26 * time.Hour)}, punch.CameraError, "offline, 3 waiting, last sync 2026-11-21 07:30, camera failing"},
		{kiosk.Unprovisioned, kiosk.Net{}, punch.NoCamera, "not provisioned (enter the setup code or import a roster), offline, 0 waiting, never synced, no camera"},
		{kiosk.Disabled, kiosk.Net{Online: true, Waiting: 1}, punch.CameraPermission, "disabled by the back office, online, 1 waiting, camera: no permission"},
	} {
		s := kiosk.New(c.mode, r, nil, "", c.net, now)
		s.Camera = c.camera
		if got := statusLine(s, now); got != c.want {
			t.Errorf("statusLine = %q, want %q", got, c.want)
		}
	}
}
