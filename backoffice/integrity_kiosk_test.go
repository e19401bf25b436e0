package backoffice_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/sqlitedb"
	"github.com/siteclock/siteclock/uplink"
)

// bootClock is the time (the server's clock: the truth) and a simulated
// kiosk's kernel: its boot, boot clock and wall clock, which the test
// moves (a reboot, a clock that starts at 1970).
type bootClock struct {
	mu         sync.Mutex
	truth      time.Time
	boot       string
	up         time.Duration
	wallOffset time.Duration // wall - truth
}

func (c *bootClock) serverNow() time.Time    { c.mu.Lock(); defer c.mu.Unlock(); return c.truth }
func (c *bootClock) bootID() string          { c.mu.Lock(); defer c.mu.Unlock(); return c.boot }
func (c *bootClock) bootTime() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.up }
func (c *bootClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.truth.Add(c.wallOffset)
}

// reboot starts a new boot whose wall clock reads wall.
func (c *bootClock) reboot(boot string, wall time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.boot, c.up, c.wallOffset = boot, 30*time.Second, wall.Sub(c.truth)
}

func (c *bootClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up += d
	c.truth = c.truth.Add(d)
}

// The kiosk side (queue with the device key, uplink) and the real server in
// one process, through a kiosk's life without an RTC: punches of an online
// boot get the server's time; a reboot to 1970 without network is caught
// on the kiosk and shown as unverified at the office, in sequence; punches
// changed or removed on the SD card before upload are flagged, not trusted,
// and the kiosk is never stuck on them.
func TestKioskAndServerTimeAndChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := backoffice.Open(t.TempDir(), backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CreateCompany("Acme Framing", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	ben, err := store.CreateEmployee(backoffice.Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true}, "2222")
	if err != nil {
		t.Fatal(err)
	}
	clock := &bootClock{truth: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)}
	clock.reboot("boot-a", clock.serverNow())
	hs := httptest.NewServer(backoffice.NewServer(store, backoffice.ServerOptions{Now: clock.serverNow}).Handler())
	defer hs.Close()
	srv := hs.URL

	state := t.TempDir()
	key, err := uplink.DeviceKey(state)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(state, queue.Options{Key: key, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	up, err := uplink.New(uplink.Options{
		ServerURL: srv, Queue: q, Version: "e2e", Hardware: "Simulator", Nickname: "Gate 3",
		Events: make(chan kiosk.Event, 100), Now: clock.now, BootID: clock.bootID, BootTime: clock.bootTime,
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := store.SetupCode(clock.serverNow())
	if err != nil {
		t.Fatal(err)
	}
	if p := up.Enroll(ctx, code.Code); p != kiosk.EnrollOK {
		t.Fatalf("enrol: %v", p)
	}
	dev := up.DeviceID()

	n := 0
	commit := func(d punch.Direction) punch.Punch {
		t.Helper()
		n++
		clock.advance(time.Hour)
		p := punch.Punch{ID: uuid.NewString(), EmployeeID: ben.ID, EmployeeNumber: ben.Number, EmployeeName: ben.Name,
			Direction: d, At: clock.now(), BootTime: clock.bootTime(), BootID: clock.bootID(), NoPhoto: punch.NoConsent}
		out, err := q.Commit(ctx, []punch.Punch{p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	upload := func() {
		t.Helper()
		if err := up.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if st, _ := q.Stats(); st.Waiting != 0 {
			t.Fatalf("%d punches still waiting after a sync: the kiosk is stuck", st.Waiting)
		}
	}
	office := func(p punch.Punch) backoffice.Punch {
		t.Helper()
		// Check-ins may be written a moment after they are answered; a
		// punch that came first gets its trusted time when they are.
		// Reading the anchors writes them.
		if _, err := store.ClockAnchors(dev); err != nil {
			t.Fatal(err)
		}
		got, err := store.Punch(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// Boot A, online: anchored at enrolment.
	a1 := commit(punch.In)
	if !a1.Clock.Anchored || a1.Clock.Behind || !a1.Verify(key.Public().(ed25519.PublicKey)) {
		t.Errorf("a punch of an online boot: %+v", a1.Clock)
	}
	upload()
	o := office(a1)
	if !o.TimeVerified() || o.Integrity.Status != backoffice.IntegrityVerified {
		t.Errorf("office: verified time %v, integrity %q", o.TimeVerified(), o.Integrity.Status)
	}
	if !o.TrustedAt.Equal(a1.At) {
		t.Errorf("trusted time %v, the kiosk's right clock said %v", o.TrustedAt, a1.At)
	}

	// Power cut; boot B starts at 1970 with no network.
	clock.reboot("boot-b", time.Unix(0, 0))
	if err := q.NoteTime(clock.now()); err != nil {
		t.Fatal(err)
	}
	b1, b2 := commit(punch.Out), commit(punch.In)
	for _, p := range []punch.Punch{b1, b2} {
		if p.Clock.Anchored || !p.Clock.Behind || p.At.Year() != 1970 {
			t.Errorf("a punch of an offline boot at 1970: at %v, clock %+v", p.At, p.Clock)
		}
	}
	// Boot C: online again, the punches of boot B go up.
	clock.advance(3 * time.Hour)
	clock.reboot("boot-c", clock.serverNow())
	upload()
	for i, p := range []punch.Punch{b1, b2} {
		o := office(p)
		if o.TimeVerified() || !o.Clock.Behind || o.Integrity.Status != backoffice.IntegrityVerified || o.Seq != a1.Seq+int64(i)+1 {
			t.Errorf("boot B punch %d at the office: verified %v, behind %v, integrity %q, seq %d",
				i, o.TimeVerified(), o.Clock.Behind, o.Integrity.Status, o.Seq)
		}
	}

	// Someone edits a waiting punch on the SD card, and removes another.
	c1, c2, c3 := commit(punch.Out), commit(punch.In), commit(punch.Out)
	raw, err := sql.Open("sqlite3", sqlitedb.DSN(filepath.Join(state, "kiosk.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE punches SET at_ns = at_ns - 7200000000000 WHERE id = ?`, c1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM punches WHERE id = ?`, c2.ID); err != nil {
		t.Fatal(err)
	}
	upload()
	if o := office(c1); o.Integrity.Status != backoffice.IntegrityBadSignature {
		t.Errorf("the edited punch: integrity %q", o.Integrity.Status)
	}
	if o := office(c3); o.Integrity.Status != backoffice.IntegrityGap || o.Integrity.MissingFrom != c2.Seq || o.Integrity.MissingTo != c2.Seq {
		t.Errorf("the punch after the removed one: %+v", o.Integrity)
	}
	r, err := store.ChainReport(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 2 || r.Problems[0].Kind != backoffice.IntegrityBadSignature || r.Problems[1].Kind != backoffice.IntegrityGap {
		t.Errorf("chain report: %+v", r)
	}
}
