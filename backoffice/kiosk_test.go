package backoffice_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/protocol"
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

// jpegN is a real JPEG that differs for each n.
func jpegN(t *testing.T, n int) []byte {
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = byte(n*37 + i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Photos at rest, kiosk and server together: a photo taken before the
// kiosk knew the company's key is stored as taken, then sealed when the
// key comes with the enrolment's check-in; photos taken after are sealed
// as they are stored; all go up sealed, the office stores the JPEGs the
// camera took, and the kiosk forgets each one once acknowledged. A sealed
// photo altered on the SD card is refused with the reason, its punch
// still counts, and the kiosk keeps the photo for a person.
func TestKioskAndServerSealedPhotos(t *testing.T) {
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
	ben, err := store.CreateEmployee(backoffice.Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true, PhotoConsent: true}, "2222")
	if err != nil {
		t.Fatal(err)
	}
	// Count the photo uploads by kind on their way in.
	var mu sync.Mutex
	kinds := map[string]int{}
	api := backoffice.NewServer(store, backoffice.ServerOptions{}).Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			kinds[r.Header.Get("Content-Type")]++
			mu.Unlock()
		}
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()

	dir := t.TempDir()
	q, err := queue.Open(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	up, err := uplink.New(uplink.Options{
		ServerURL: srv.URL, Queue: q, Version: "e2e", Hardware: "Simulator", Nickname: "Gate 4",
		Events:   make(chan kiosk.Event, 100),
		BootID:   func() string { return "boot-e2e" },
		BootTime: func() time.Duration { return time.Hour },
		Camera:   func() punch.NoPhoto { return punch.PhotoTaken },
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(time.Second)
	commit := func(n int, photo []byte) punch.Punch {
		t.Helper()
		p := punch.Punch{ID: uuid.NewString(), EmployeeID: ben.ID, EmployeeNumber: ben.Number, EmployeeName: ben.Name,
			Direction: punch.In, At: at.Add(time.Duration(n) * time.Minute), BootTime: time.Hour, BootID: "boot-e2e"}
		out, err := q.Commit(ctx, []punch.Punch{p}, photo)
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	file := func(p punch.Punch) string { return filepath.Join(dir, "photos", p.Photo) }
	uploaded := func(p punch.Punch) backoffice.Punch {
		t.Helper()
		return waitFor(t, ctx, func() (backoffice.Punch, bool) {
			sp, err := store.Punch(p.ID)
			_, gone := os.Stat(file(p))
			return sp, err == nil && !sp.PhotoReceivedAt.IsZero() && errors.Is(gone, os.ErrNotExist)
		})
	}

	// Before enrolment: no key, stored as taken.
	shots := [][]byte{jpegN(t, 1), jpegN(t, 2), jpegN(t, 3)}
	early := commit(0, shots[0])
	if b, _ := os.ReadFile(file(early)); !bytes.Equal(b, shots[0]) {
		t.Fatal("a photo taken before the kiosk had a key is not stored as taken")
	}
	code, _ := store.SetupCode(time.Now())
	if p := up.Enroll(ctx, code.Code); p != kiosk.EnrollOK {
		t.Fatalf("enrol: %v", p)
	}
	if k, ok := q.PhotoKey(); !ok || k != store.PhotoKey() {
		t.Fatalf("the kiosk's photo key = %v, %v; want the office's", k, ok)
	}
	if text, err := os.ReadFile(filepath.Join(dir, "photo-key.pub")); err != nil || !strings.Contains(string(text), "siteclock-photo-public-key") {
		t.Errorf("photo-key.pub in the state folder: %q, %v", text, err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- up.Run(ctx) }()
	up.Kick()
	got := uploaded(early)
	if b, err := store.Photo(got.PhotoSHA256); err != nil || !bytes.Equal(b, shots[0]) {
		t.Errorf("the office holds %d bytes (%v), not the JPEG taken", len(b), err)
	}

	// After enrolment: sealed as stored, nothing of the picture on disk.
	late := commit(1, shots[1])
	stored, err := os.ReadFile(file(late))
	if err == nil && (!photoseal.IsSealed(stored) || bytes.HasPrefix(stored, []byte{0xFF, 0xD8}) || bytes.Contains(stored, shots[1][len(shots[1])-64:])) {
		t.Error("the photo on the kiosk's disk is not sealed")
	}
	up.Kick()
	got = uploaded(late)
	if got.PhotoSHA256 != sha256Hex(shots[1]) {
		t.Errorf("the punch names photo %s, want the hash of the JPEG taken", got.PhotoSHA256)
	}
	if b, err := store.Photo(got.PhotoSHA256); err != nil || !bytes.Equal(b, shots[1]) {
		t.Errorf("the office holds %d bytes (%v), not the JPEG taken", len(b), err)
	}

	// Altered on the SD card before it went up.
	cancelRun := func() {
		cancel()
		<-runDone
	}
	defer cancelRun()
	bad := func() punch.Punch {
		// Nothing goes up before the Kick below: the uplink sends after a
		// Kick, a failure or its sync interval (minutes).
		p := commit(2, shots[2])
		b, err := os.ReadFile(file(p))
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-30] ^= 0x01
		if err := os.WriteFile(file(p), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}()
	up.Kick()
	rej := waitFor(t, ctx, func() ([]queue.Rejection, bool) {
		r, err := q.Rejected()
		return r, err == nil && len(r) == 1
	})
	if rej[0].Punch.ID != bad.ID || !strings.Contains(rej[0].PhotoReason, "cannot be opened") {
		t.Errorf("kiosk's rejections = %+v, want the altered photo refused with the reason", rej)
	}
	if sp, err := store.Punch(bad.ID); err != nil || !sp.PhotoReceivedAt.IsZero() {
		t.Errorf("the altered photo's punch on the office: %+v, %v; want it stored without a photo", sp, err)
	}
	if _, err := os.Stat(file(bad)); err != nil {
		t.Errorf("the refused photo is not kept on the kiosk: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if kinds[protocol.ContentTypeSealedPhoto] < 3 || kinds[protocol.ContentTypeJPEG] != 0 {
		t.Errorf("photo uploads by type = %v; want all sealed", kinds)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
