package backoffice

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// quietFlusher makes the store's flusher write and reload only when asked
// (by a read, Close or a test), so that a test knows what is pending.
func quietFlusher(s *Store) {
	s.ci.flushEvery = time.Hour
	s.ci.reloadEvery = time.Hour
}

// enrollN enrolls n devices directly on the store and returns their IDs
// and tokens.
func enrollN(t *testing.T, s *Store, n int) (ids, tokens []string) {
	t.Helper()
	code, err := s.SetupCode(t0)
	if err != nil {
		t.Fatal(err)
	}
	ids, tokens = make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			var d Device
			d, tokens[i], errs[i] = s.Enroll(enrollRequest(code.Code, uuid.NewString()), t0)
			ids[i] = d.ID
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids, tokens
}

// storedCheckIn is the check-in time the database itself holds for a
// device, bypassing the store's flush.
func storedCheckIn(t *testing.T, s *Store, id string) sql.NullInt64 {
	t.Helper()
	var ns sql.NullInt64
	if err := s.r.QueryRow(`SELECT last_checkin_ns FROM devices WHERE id = ?`, id).Scan(&ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestCheckInIsVisibleToReadsAtOnce(t *testing.T) {
	s := openStore(t)
	quietFlusher(s)
	ids, _ := enrollN(t, s, 2)
	id, other := ids[0], ids[1]
	t1 := t0.Add(time.Minute)
	oldest := t0.Add(-time.Hour)
	c := protocol.CheckIn{Version: "1.4.0", RosterVersion: "r1", Waiting: 3, OldestWaiting: oldest,
		Camera: punch.CameraError, DeviceTime: t1.Add(-2 * time.Second), BootID: "boot-a", BootTimeNS: int64(time.Hour)}
	if _, err := s.CheckIn(id, c, t1); err != nil {
		t.Fatal(err)
	}
	// The check-in is in memory only: what the reads below show, they
	// show because they flushed first.
	if ns := storedCheckIn(t, s, id); ns.Valid || count(t, s, "clock_anchors") != 0 {
		t.Fatalf("the check-in was written before any read asked (last_checkin_ns %v)", ns)
	}
	d, err := s.Device(id)
	if err != nil {
		t.Fatal(err)
	}
	if !d.LastCheckIn.Equal(t1) || d.Version != "1.4.0" || d.RosterVersion != "r1" || d.Waiting != 3 ||
		!d.OldestWaiting.Equal(oldest) || d.Camera != punch.CameraError {
		t.Errorf("Device after check-in = %+v", d)
	}

	// A second check-in of the same boot, then one of another device;
	// Devices and ClockAnchors see them as well.
	t2 := t1.Add(time.Minute)
	c.Waiting, c.OldestWaiting, c.Camera, c.BootTimeNS, c.DeviceTime = 0, time.Time{}, "", c.BootTimeNS+int64(time.Minute), t2
	if _, err := s.CheckIn(id, c, t2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckIn(other, protocol.CheckIn{Version: "1.3.9", Waiting: 8}, t2); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Devices()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Device{}
	for _, d := range ds {
		got[d.ID] = d
	}
	if d := got[id]; !d.LastCheckIn.Equal(t2) || d.Waiting != 0 || !d.OldestWaiting.IsZero() || d.Camera != "" {
		t.Errorf("Devices: %+v", d)
	}
	if d := got[other]; !d.LastCheckIn.Equal(t2) || d.Version != "1.3.9" || d.Waiting != 8 {
		t.Errorf("Devices, the other device: %+v", d)
	}
	// The anchor keeps the boot's first check-in (t1, written by the
	// flush before Device) and the latest pairing (t2).
	t3 := t2.Add(time.Minute)
	c.BootTimeNS += int64(time.Minute)
	if _, err := s.CheckIn(id, c, t3); err != nil {
		t.Fatal(err)
	}
	// Two check-ins of a new boot, both pending at the read: the first
	// one's time is the boot's first.
	c.BootID, c.BootTimeNS, c.DeviceTime = "boot-b", int64(time.Second), time.Time{}
	if _, err := s.CheckIn(id, c, t3.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.BootTimeNS += int64(time.Second)
	if _, err := s.CheckIn(id, c, t3.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	as, err := s.ClockAnchors(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 {
		t.Fatalf("anchors = %+v, want boot-b and boot-a", as)
	}
	if a := as[1]; a.BootID != "boot-a" || !a.FirstSeen.Equal(t1) || !a.ServerTime.Equal(t3) ||
		a.BootTime != time.Hour+2*time.Minute || !a.DeviceTime.Equal(t2) {
		t.Errorf("boot-a anchor = %+v", a)
	}
	if a := as[0]; a.BootID != "boot-b" || !a.FirstSeen.Equal(t3.Add(time.Second)) || !a.ServerTime.Equal(t3.Add(2*time.Second)) ||
		a.BootTime != 2*time.Second || !a.DeviceTime.IsZero() {
		t.Errorf("boot-b anchor = %+v", a)
	}
}

func TestCheckInAnswerFollowsAdminChanges(t *testing.T) {
	s := openStore(t)
	quietFlusher(s)
	ids, tokens := enrollN(t, s, 2)
	id, token := ids[0], tokens[0]
	// Authentication and check-ins below are answered from memory.
	s.loadDevices()
	if _, ok := s.viewedByID(id); !ok {
		t.Fatal("the loaded devices miss an enrolled one")
	}

	resp, err := s.CheckIn(id, protocol.CheckIn{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Disabled || resp.RosterVersion != "r1" || resp.SyncEvery != protocol.Duration(DefaultSyncEvery) {
		t.Fatalf("first answer %+v", resp)
	}
	// A new roster and a new sync interval are in the next answer.
	if _, err := s.CreateEmployee(Employee{Number: "7", Name: "Dee", RoleID: "worker", Active: true}, "7777"); err != nil {
		t.Fatal(err)
	}
	co, err := s.Company()
	if err != nil {
		t.Fatal(err)
	}
	cs := CompanySettings{Name: co.Name, SyncEvery: 2 * time.Minute, PhotoRetentionDays: co.PhotoRetentionDays, SetupCodePeriod: co.SetupCodePeriod}
	if _, err := s.UpdateCompany(cs); err != nil {
		t.Fatal(err)
	}
	resp, err = s.CheckIn(id, protocol.CheckIn{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RosterVersion != "r2" || resp.SyncEvery != protocol.Duration(2*time.Minute) {
		t.Errorf("answer after the changes %+v, want r2 every 2m", resp)
	}

	// Disabled after a check-in: the next check-in hears it, and the
	// device still authenticates (it may send what it holds).
	if err := s.DisableDevice(id, "ada", t0); err != nil {
		t.Fatal(err)
	}
	if resp, err := s.CheckIn(id, protocol.CheckIn{}, t0); err != nil || !resp.Disabled {
		t.Errorf("check-in after DisableDevice: %+v, %v; want disabled", resp, err)
	}
	if a, err := s.authenticate(token); err != nil || a.ID != id || !a.Disabled || a.Gone {
		t.Errorf("authenticate after DisableDevice: %+v, %v", a, err)
	}
	// Goodbye: the token is refused from then on, the check-in too.
	if err := s.Goodbye(id, t0); err != nil {
		t.Fatal(err)
	}
	if a, err := s.authenticate(token); err != nil || !a.Gone {
		t.Errorf("authenticate after Goodbye: %+v, %v; want gone", a, err)
	}
	if _, err := s.CheckIn(id, protocol.CheckIn{}, t0); !errors.Is(err, ErrDisabled) {
		t.Errorf("check-in after Goodbye: %v, want ErrDisabled", err)
	}

	// Another process disabling the other device is seen once the devices
	// are reloaded (every reloadEvery).
	s2, err := Open(s.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.DisableDevice(ids[1], "bob", t0); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s.loadDevices()
	if resp, err := s.CheckIn(ids[1], protocol.CheckIn{}, t0); err != nil || !resp.Disabled {
		t.Errorf("check-in after another process disabled it: %+v, %v; want disabled", resp, err)
	}

	// Unknown devices and tokens are refused.
	if _, err := s.CheckIn("no-such-device", protocol.CheckIn{}, t0); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unknown device: %v", err)
	}
	if _, err := s.authenticate("no-such-token"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unknown token: %v", err)
	}
}

func TestReenrolmentReplacesTokenInMemory(t *testing.T) {
	s := openStore(t)
	quietFlusher(s)
	code, err := s.SetupCode(t0)
	if err != nil {
		t.Fatal(err)
	}
	req := enrollRequest(code.Code, uuid.NewString())
	d, oldToken, err := s.Enroll(req, t0)
	if err != nil {
		t.Fatal(err)
	}
	s.loadDevices()
	// A check-in still pending when the kiosk enrolls again must not
	// overwrite the version the enrolment reports.
	if _, err := s.CheckIn(d.ID, protocol.CheckIn{Version: "1.0.0"}, t0); err != nil {
		t.Fatal(err)
	}
	req.Version = "2.0.0"
	d2, newToken, err := s.Enroll(req, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d2.ID != d.ID || d2.Version != "2.0.0" {
		t.Errorf("re-enrolled device %+v, want the same device at version 2.0.0", d2)
	}
	if _, err := s.authenticate(oldToken); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("old token after re-enrolment: %v, want ErrUnauthorized", err)
	}
	if a, err := s.authenticate(newToken); err != nil || a.ID != d.ID {
		t.Errorf("new token: %+v, %v", a, err)
	}
	if _, ok := s.viewedByToken(sha256.Sum256([]byte(newToken))); !ok {
		t.Error("the new token is not in memory")
	}
	if d3, _ := s.Device(d.ID); d3.Version != "2.0.0" {
		t.Errorf("version after re-enrolment and a read: %s, want 2.0.0", d3.Version)
	}
}

func TestCheckInsPendingAtCloseAreWritten(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	quietFlusher(s)
	if _, err := s.CreateCompany("Acme Framing", t0); err != nil {
		t.Fatal(err)
	}
	ids, _ := enrollN(t, s, 1)
	at := t0.Add(time.Minute)
	c := protocol.CheckIn{Version: "1.5.0", Waiting: 4, BootID: "boot-z", BootTimeNS: 42}
	if _, err := s.CheckIn(ids[0], c, at); err != nil {
		t.Fatal(err)
	}
	if ns := storedCheckIn(t, s, ids[0]); ns.Valid {
		t.Fatal("the check-in was written before Close")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckIn(ids[0], c, at); !errors.Is(err, ErrClosed) {
		t.Errorf("check-in after Close: %v, want ErrClosed", err)
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Device(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !d.LastCheckIn.Equal(at) || d.Version != "1.5.0" || d.Waiting != 4 {
		t.Errorf("after reopening: %+v", d)
	}
	if as, err := s.ClockAnchors(ids[0]); err != nil || len(as) != 1 || as[0].BootTime != 42 || !as[0].FirstSeen.Equal(at) {
		t.Errorf("anchors after reopening: %+v, %v", as, err)
	}
}

func TestConcurrentCheckInsAllLand(t *testing.T) {
	const devices, rounds = 200, 5
	s := openStore(t)
	ids, _ := enrollN(t, s, devices)
	// Flush as often as the writer allows, so that flushes run between
	// and during the check-ins, and reload the devices meanwhile.
	s.ci.flushEvery = time.Millisecond
	s.ci.reloadEvery = 3 * time.Millisecond
	errs := make(chan error, devices*rounds)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			for r := range rounds {
				c := protocol.CheckIn{Version: fmt.Sprintf("v%d", i), Waiting: r, BootID: fmt.Sprintf("boot-%d", r%2),
					BootTimeNS: int64(i*1000 + r)}
				if _, err := s.CheckIn(id, c, t0.Add(time.Duration(r)*time.Second)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ds, err := s.Devices()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Device{}
	for _, d := range ds {
		byID[d.ID] = d
	}
	for i, id := range ids {
		d := byID[id]
		if d.Version != fmt.Sprintf("v%d", i) || d.Waiting != rounds-1 || !d.LastCheckIn.Equal(t0.Add((rounds-1)*time.Second)) {
			t.Errorf("device %d: version %s, waiting %d, last check-in %v; want its last check-in", i, d.Version, d.Waiting, d.LastCheckIn)
		}
		as, err := s.ClockAnchors(id)
		if err != nil {
			t.Fatal(err)
		}
		// Rounds 0, 2, 4 on boot-0; 1, 3 on boot-1.
		if len(as) != 2 || as[0].BootID != "boot-0" || as[0].BootTime != time.Duration(i*1000+4) || !as[0].FirstSeen.Equal(t0) ||
			as[1].BootTime != time.Duration(i*1000+3) || !as[1].FirstSeen.Equal(t0.Add(time.Second)) {
			t.Errorf("device %d anchors: %+v", i, as)
		}
	}
}
