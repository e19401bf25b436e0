package backoffice_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/uplink"
)

// The real kiosk side (queue and uplink) against the real server, in one
// process: enrol, sync the roster, upload punches and photos, then the
// office disables the kiosk and it sends its last transmission and says
// goodbye.
func TestKioskAndServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := backoffice.Open(t.TempDir(), backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CreateCompany("Acme Framing", time.Now()); err != nil {
		t.Fatal(err)
	}
	ana, err := store.CreateEmployee(backoffice.Employee{Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true, PhotoConsent: true}, "1111")
	if err != nil {
		t.Fatal(err)
	}
	ben, err := store.CreateEmployee(backoffice.Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true, PhotoConsent: true}, "2222")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(backoffice.NewServer(store, backoffice.ServerOptions{}).Handler())
	defer srv.Close()

	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	up, err := uplink.New(uplink.Options{
		ServerURL: srv.URL, Queue: q, Version: "e2e", Hardware: "Simulator", Nickname: "Gate 3",
		Events:   make(chan kiosk.Event, 100),
		BootID:   func() string { return "boot-e2e" },
		BootTime: func() time.Duration { return time.Hour },
		Camera:   func() punch.NoPhoto { return punch.PhotoTaken },
	})
	if err != nil {
		t.Fatal(err)
	}

	// Enrolment: a wrong code, an expired one, then the right one.
	if p := up.Enroll(ctx, "00000000"); p != kiosk.EnrollWrongCode {
		t.Errorf("wrong code: %v", p)
	}
	old, _ := store.SetupCode(time.Now())
	code, err := store.RotateSetupCode(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p := up.Enroll(ctx, old.Code); p != kiosk.EnrollExpired {
		t.Errorf("expired code: %v", p)
	}
	if p := up.Enroll(ctx, code.Code); p != kiosk.EnrollOK {
		t.Fatalf("enrol: %v", p)
	}
	devices, _ := store.Devices()
	if len(devices) != 1 || devices[0].Nickname != "Gate 3" || devices[0].ID != up.DeviceID() {
		t.Fatalf("devices = %+v", devices)
	}
	want, _ := store.RosterVersion()
	if held, _ := q.RosterVersion(); held != want {
		t.Errorf("kiosk holds roster %q, want %q", held, want)
	}

	runDone := make(chan error, 1)
	go func() { runDone <- up.Run(ctx) }()

	// A punch with a photo, and a crew punch by the foreman.
	photo := jpegBytes(t)
	at := time.Now().Truncate(time.Second)
	p1 := punch.Punch{ID: uuid.NewString(), EmployeeID: ben.ID, EmployeeNumber: ben.Number, EmployeeName: ben.Name,
		Direction: punch.In, At: at, BootTime: time.Hour, BootID: "boot-e2e"}
	if _, err := q.Commit(ctx, []punch.Punch{p1}, photo); err != nil {
		t.Fatal(err)
	}
	p2 := punch.Punch{ID: uuid.NewString(), EmployeeID: ben.ID, EmployeeNumber: ben.Number, EmployeeName: ben.Name,
		Direction: punch.Out, At: at.Add(time.Minute), BootTime: time.Hour + time.Minute, BootID: "boot-e2e",
		ClockedBy: ana.ID, NoPhoto: punch.ClockFor, RosterVersion: want}
	if _, err := q.Commit(ctx, []punch.Punch{p2}, nil); err != nil {
		t.Fatal(err)
	}
	up.Kick()
	got := waitFor(t, ctx, func() (backoffice.Punch, bool) {
		p, err := store.Punch(p1.ID)
		return p, err == nil && !p.PhotoReceivedAt.IsZero()
	})
	if !got.At.Equal(at) || got.DeviceID != up.DeviceID() || got.PhotoSHA256 == "" {
		t.Errorf("punch on the server = %+v", got)
	}
	if b, err := store.Photo(got.PhotoSHA256); err != nil || !bytes.Equal(b, photo) {
		t.Errorf("photo on the server: %d bytes, %v", len(b), err)
	}
	if cf, err := store.Punch(p2.ID); err != nil || cf.ClockedBy != ana.ID || cf.RosterVersion != want {
		t.Errorf("Clock For punch on the server = %+v, %v", cf, err)
	}

	// The office disables the kiosk while a punch waits on it: the kiosk
	// learns it at its next contact, sends the punch, says goodbye and
	// stops.
	p3 := punch.Punch{ID: uuid.NewString(), EmployeeID: ana.ID, EmployeeNumber: ana.Number, EmployeeName: ana.Name,
		Direction: punch.In, At: at.Add(2 * time.Minute), BootTime: 2 * time.Hour, BootID: "boot-e2e", NoPhoto: punch.CameraError}
	if err := store.DisableDevice(up.DeviceID(), "Pat (office)", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Commit(ctx, []punch.Punch{p3}, nil); err != nil {
		t.Fatal(err)
	}
	up.Kick()
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the disabled kiosk never stopped")
	}
	d, _ := store.Device(up.DeviceID())
	if d.GoodbyeAt.IsZero() || d.LastUsedBy != ana.ID {
		t.Errorf("device after goodbye = %+v", d)
	}
	if _, err := store.Punch(p3.ID); err != nil {
		t.Errorf("last transmission lost: %v", err)
	}
	if dev, _ := q.Device(); !dev.Disabled {
		t.Errorf("kiosk does not know it is disabled")
	}
}

func waitFor[T any](t *testing.T, ctx context.Context, f func() (T, bool)) T {
	t.Helper()
	for {
		v, ok := f()
		if ok {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatal("timed out")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func jpegBytes(t *testing.T) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 32, 32)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
