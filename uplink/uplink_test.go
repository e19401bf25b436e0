package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/daemon"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/roster"
)

var _ daemon.Enroller = (*Client)(nil)

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig is a kiosk's queue and uplink client talking to a fake back office.
type rig struct {
	t      testing.TB
	srv    *fakeServer
	q      *queue.DB
	c      *Client
	dir    string
	events chan kiosk.Event
	logs   *syncBuffer
	taken  map[string][]byte // punch ID → the JPEG the camera gave (r.commit)
}

// newRig wires a client to srv: over a real loopback socket when network,
// else in the process (for synctest bubbles).
func newRig(t testing.TB, srv *fakeServer, network bool, mod func(*Options)) *rig {
	t.Helper()
	r := &rig{t: t, srv: srv, dir: t.TempDir(), events: make(chan kiosk.Event, 10000), logs: &syncBuffer{}, taken: map[string][]byte{}}
	q, err := queue.Open(r.dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	r.q = q
	if srv.roster == nil {
		srv.roster = testRoster(t, "v1")
	}
	opts := Options{
		Queue:    q,
		Logger:   slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:  "1.2.3",
		Nickname: "Main St trailer",
		Events:   r.events,
		BootID:   func() string { return "boot-1" },
		BootTime: func() time.Duration { return 42 * time.Second },
		Camera:   func() punch.NoPhoto { return punch.PhotoTaken },
	}
	if network {
		opts.ServerURL = srv.start().URL
	} else {
		opts.ServerURL = "http://127.0.0.1:9" // never dialled: handlerDoer
		opts.HTTP = handlerDoer{srv}
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	return r
}

func (r *rig) enroll() {
	r.t.Helper()
	if p := r.c.Enroll(context.Background(), r.srv.code); p != kiosk.EnrollOK {
		r.t.Fatalf("Enroll = %q, want OK; log:\n%s", p, r.logs)
	}
}

// events returns the events sent so far, without waiting.
func (r *rig) drain() []kiosk.Event {
	var out []kiosk.Event
	for {
		select {
		case ev := <-r.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// run starts Run and returns a function that stops it and returns its
// error, and a channel closed when Run returns by itself.
func (r *rig) run(ctx context.Context) (stop func() error, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{})
	var err error
	go func() { err = r.c.Run(ctx); close(ch) }()
	return func() error { cancel(); <-ch; return err }, ch
}

var testKDF = roster.KDF{Salt: []byte("fake-office-salt"), Iterations: roster.MinIterations}

// testRoster has employees e1..e3 and a foreman.
func testRoster(t testing.TB, version string) *roster.Roster {
	t.Helper()
	var emps []roster.Employee
	for i, pin := range []string{"1111", "2222", "3333", "4444"} {
		emps = append(emps, roster.Employee{
			ID: fmt.Sprintf("e%d", i+1), Number: fmt.Sprintf("10%d", i+1), Name: fmt.Sprintf("Worker %d", i+1),
			RoleID: "crew", Active: true, PhotoConsent: true, PINHash: roster.HashPIN(testKDF, pin),
		})
	}
	r, err := roster.New(version, testKDF, roster.Settings{Nickname: "Main St"},
		[]roster.Role{{ID: "crew", Name: "Crew", FaceFront: true}}, emps)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var day0 = time.Date(2026, 11, 20, 7, 0, 0, 0, time.FixedZone("CST", -6*3600))

// punchID is the ID of test punch i: a UUID, as the kiosk makes them and
// the server insists on.
func punchID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func mkPunch(i int, emp string) punch.Punch {
	d := punch.In
	if i%2 == 1 {
		d = punch.Out
	}
	return punch.Punch{
		ID: punchID(i), EmployeeID: emp, EmployeeNumber: "10" + strings.TrimPrefix(emp, "e"),
		EmployeeName: "Worker", Direction: d, At: day0.Add(time.Duration(i) * time.Minute),
		BootTime: time.Duration(i) * time.Second, BootID: "boot-1", NoPhoto: punch.NoConsent,
	}
}

// jpeg is a photo's bytes: a JPEG start marker and something unique.
func jpeg(i int) []byte {
	return append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte(fmt.Sprintf("photo %d ", i)), 200)...)
}

// commit stores punches from..to-1 for emp, one commit each; every
// photoEvery-th (if > 0) with a photo. It returns the punches with photos.
func (r *rig) commit(from, to int, emp string, photoEvery int) (withPhoto []punch.Punch) {
	r.t.Helper()
	for i := from; i < to; i++ {
		p := mkPunch(i, emp)
		var photo []byte
		if photoEvery > 0 && i%photoEvery == 0 {
			p.NoPhoto, photo = punch.PhotoTaken, jpeg(i)
		}
		out, err := r.q.Commit(context.Background(), []punch.Punch{p}, photo)
		if err != nil {
			r.t.Fatal(err)
		}
		if photo != nil {
			withPhoto = append(withPhoto, out[0])
			r.taken[p.ID] = photo
		}
	}
	return withPhoto
}

// checkAllUp fails unless every punch in the queue reached the server
// exactly once, with its photo linked by hash, and the queue waits for
// nothing.
func (r *rig) checkAllUp() {
	r.t.Helper()
	all, err := r.q.All(0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer r.srv.lock()()
	if len(r.srv.punches) != len(all) || len(r.srv.order) != len(all) {
		r.t.Errorf("server holds %d punches (%d stored), want %d", len(r.srv.punches), len(r.srv.order), len(all))
	}
	for i, p := range all {
		got, ok := r.srv.punches[p.ID]
		if !ok {
			r.t.Errorf("punch %s never reached the server", p.ID)
			continue
		}
		if i < len(r.srv.order) && r.srv.order[i] != p.ID {
			r.t.Errorf("server stored %s at position %d, want %s (oldest first)", r.srv.order[i], i, p.ID)
		}
		if got.Seq != p.Seq || got.EmployeeID != p.EmployeeID || got.Direction != p.Direction || !got.At.Equal(p.At) ||
			got.BootTimeNS != int64(p.BootTime) || got.BootID != p.BootID || got.NoPhoto != p.NoPhoto {
			r.t.Errorf("punch %s on the server = %+v, kiosk has %+v", p.ID, got, p)
		}
		if p.Photo == "" {
			if got.PhotoSHA256 != "" {
				r.t.Errorf("punch %s without photo sent photo hash %s", p.ID, got.PhotoSHA256)
			}
			continue
		}
		b := r.taken[p.ID]
		if got.PhotoSHA256 != hexSHA256(b) {
			r.t.Errorf("punch %s names photo %s, want the hash of the JPEG taken %s", p.ID, got.PhotoSHA256, hexSHA256(b))
		}
		ph, ok := r.srv.photos[got.PhotoSHA256]
		if !ok || ph.punchID != p.ID || !bytes.Equal(ph.data, b) {
			r.t.Errorf("photo of punch %s on the server: present %v, for punch %q", p.ID, ok, ph.punchID)
		}
		// Acknowledged, so gone from the kiosk.
		if _, err := r.q.ReadPhoto(p.Photo); !errors.Is(err, queue.ErrNotFound) {
			r.t.Errorf("photo of punch %s still on the kiosk after the server acknowledged it: %v", p.ID, err)
		}
	}
	st, err := r.q.Stats()
	if err != nil {
		r.t.Fatal(err)
	}
	if st.Waiting != 0 || st.PhotosWaiting != 0 || st.LastSync.IsZero() {
		r.t.Errorf("queue after upload: %+v, want nothing waiting and a last sync", st)
	}
}

func TestNewChecksServerURL(t *testing.T) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for u, ok := range map[string]bool{
		"https://office.example.com":       true,
		"https://office.example.com:8443/": true,
		"http://127.0.0.1:8080":            true,
		"http://localhost:8080":            true,
		"http://[::1]:8080":                true,
		"":                                 true, // no back office: Enroll says so
		"http://office.example.com":        false,
		"ftp://office.example.com":         false,
		"office.example.com":               false,
		"https://user:pw@office.example":   false,
	} {
		_, err := New(Options{Queue: q, ServerURL: u})
		if (err == nil) != ok {
			t.Errorf("New(ServerURL %q) = %v, want ok %v", u, err, ok)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a queue succeeded")
	}
}

func TestEnroll(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	if r.c.Enrolled() {
		t.Fatal("a new kiosk says it is enrolled")
	}
	r.enroll()

	// The identity files, private.
	for _, name := range []string{deviceFile, keyFile, installationFile} {
		fi, err := os.Stat(filepath.Join(r.dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	var id identity
	b, _ := os.ReadFile(filepath.Join(r.dir, deviceFile))
	if err := json.Unmarshal(b, &id); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	dev := srv.devices[id.Token]
	req := srv.enrolls[0]
	srv.mu.Unlock()
	if dev == nil || id.DeviceID != dev.id || r.c.DeviceID() != dev.id || id.ServerURL != r.c.serverURL {
		t.Errorf("device.json = %+v, server knows %+v", id, dev)
	}
	key, err := deviceKey(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := os.ReadFile(filepath.Join(r.dir, installationFile))
	if !bytes.Equal(req.PublicKey, key.Public().(ed25519.PublicKey)) || req.InstallationID != strings.TrimSpace(string(inst)) ||
		req.Nickname != "Main St trailer" || req.Version != "1.2.3" || req.Hardware == "" || req.SetupCode != srv.code {
		t.Errorf("enrol request = %+v", req)
	}

	// It synced at once: checked in, fetched the roster, told the kiosk.
	if v, _ := r.q.RosterVersion(); v != "v1" {
		t.Errorf("roster held after enrolment = %q, want v1", v)
	}
	var loaded, online bool
	for _, ev := range r.drain() {
		switch ev := ev.(type) {
		case kiosk.RosterLoaded:
			loaded = ev.Roster != nil && ev.Roster.Version == "v1" && len(ev.Roster.Employees()) == 4
		case kiosk.NetChanged:
			online = ev.Net.Online
		}
	}
	if !loaded || !online {
		t.Errorf("events after enrolment: roster loaded %v, online %v; want both", loaded, online)
	}
	if d, _ := r.q.Device(); !d.Provisioned || d.LastSync.IsZero() {
		t.Errorf("device state = %+v, want provisioned and synced", d)
	}
	srv.mu.Lock()
	ci := srv.checkins[0]
	srv.mu.Unlock()
	if ci.Version != "1.2.3" || ci.RosterVersion != "" || ci.BootID != "boot-1" || ci.BootTimeNS != int64(42*time.Second) || ci.DeviceTime.IsZero() {
		t.Errorf("first check-in = %+v", ci)
	}

	// A restart finds the identity again.
	c2, err := New(Options{Queue: r.q, ServerURL: r.c.serverURL})
	if err != nil || !c2.Enrolled() || c2.DeviceID() != dev.id {
		t.Errorf("New after enrolment: %v, enrolled %v as %q; want %q", err, c2 != nil && c2.Enrolled(), c2.DeviceID(), dev.id)
	}

	// Enrolling again (a new company, a re-provisioned kiosk) keeps the
	// installation and its key.
	r.enroll()
	srv.mu.Lock()
	again := srv.enrolls[1]
	srv.mu.Unlock()
	if again.InstallationID != req.InstallationID || !bytes.Equal(again.PublicKey, req.PublicKey) {
		t.Error("a second enrolment changed the installation ID or the key")
	}
	if r.c.DeviceID() == dev.id {
		t.Error("a second enrolment kept the old device ID")
	}
}

func TestEnrollProblems(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	ctx := context.Background()
	if p := r.c.Enroll(ctx, "999999"); p != kiosk.EnrollWrongCode {
		t.Errorf("wrong code: %q", p)
	}
	if p := r.c.Enroll(ctx, "111111"); p != kiosk.EnrollExpired {
		t.Errorf("expired code: %q", p)
	}
	srv.mu.Lock()
	srv.rateLimited = true
	srv.mu.Unlock()
	if p := r.c.Enroll(ctx, srv.code); p != kiosk.EnrollRateLimited {
		t.Errorf("rate limited: %q", p)
	}
	srv.mu.Lock()
	srv.rateLimited = false
	srv.fault = func(*http.Request) fault { return fail503 }
	srv.mu.Unlock()
	if p := r.c.Enroll(ctx, srv.code); p != kiosk.EnrollUnreachable {
		t.Errorf("server failing: %q", p)
	}
	srv.mu.Lock()
	srv.fault = func(*http.Request) fault { return resetBefore }
	srv.mu.Unlock()
	if p := r.c.Enroll(ctx, srv.code); p != kiosk.EnrollUnreachable {
		t.Errorf("connection dropped: %q", p)
	}
	if _, err := os.Stat(filepath.Join(r.dir, deviceFile)); !os.IsNotExist(err) || r.c.Enrolled() {
		t.Errorf("failed enrolments left an identity: %v", err)
	}

	// Nobody listening.
	dead := newFakeServer(t).start()
	dead.Close()
	c, err := New(Options{Queue: r.q, ServerURL: dead.URL})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Enroll(ctx, "482913"); p != kiosk.EnrollUnreachable {
		t.Errorf("no server listening: %q", p)
	}
	// No server configured.
	c, err = New(Options{Queue: r.q})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Enroll(ctx, "482913"); p != kiosk.EnrollNoServer {
		t.Errorf("no server configured: %q", p)
	}
	if strings.Contains(r.logs.String(), srv.code) {
		t.Error("the setup code was logged")
	}
}

func TestDamagedDeviceFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	q, err := queue.Open(dir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	os.WriteFile(filepath.Join(dir, deviceFile), []byte(`{"device_id": "d1"`), 0o600)
	_, err = New(Options{Queue: q})
	if err == nil || !strings.Contains(err.Error(), "enrol the kiosk again") {
		t.Errorf("New with a damaged device.json = %v, want a refusal that says what to do", err)
	}
}

func TestUploadInBatches(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	r.enroll()
	// 1,100 punches without photos (in crews, to be quick), then some with.
	var crew []punch.Punch
	for i := range 1100 {
		crew = append(crew, mkPunch(i, "e1"))
		if len(crew) == 100 {
			if _, err := r.q.Commit(context.Background(), crew, nil); err != nil {
				t.Fatal(err)
			}
			crew = nil
		}
	}
	if got := r.commit(1100, 1106, "e2", 2); len(got) != 3 {
		t.Fatalf("%d punches with photos, want 3", len(got))
	}
	if err := r.c.sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
	r.checkAllUp()
	srv.mu.Lock()
	batches, dupes := srv.batches, srv.dupes
	srv.mu.Unlock()
	if fmt.Sprint(batches) != "[500 500 106]" || dupes != 0 {
		t.Errorf("batches %v with %d duplicates, want [500 500 106] and none", batches, dupes)
	}
	if n := srv.count("PUT " + protocol.PathPhotos); n != 3 {
		t.Errorf("%d photo uploads, want 3", n)
	}
	srv.mu.Lock()
	last := srv.checkins[len(srv.checkins)-1]
	srv.mu.Unlock()
	if last.Waiting != 1106 || !last.OldestWaiting.Equal(day0) || last.LastUsedBy != "e2" || last.Camera != punch.PhotoTaken {
		t.Errorf("check-in before the upload = %+v", last)
	}
}

// A server that fails half the time, before or after doing the work, still
// ends up with every punch and photo exactly once.
func TestUploadSurvivesAFlakyServer(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	r.enroll()
	r.commit(0, 40, "e1", 4)
	r.commit(40, 60, "e3", 5)
	rng := rand.New(rand.NewPCG(1, 2))
	faults := []fault{fail503, fail503After, resetBefore, resetAfter}
	srv.mu.Lock()
	srv.fault = func(*http.Request) fault {
		if rng.IntN(2) == 0 {
			return noFault
		}
		return faults[rng.IntN(len(faults))]
	}
	srv.mu.Unlock()
	ctx := context.Background()
	rounds := 0
	for ; rounds < 500; rounds++ {
		if err := r.c.sync(ctx); err == nil {
			break
		}
		// Punches keep coming while the link is bad.
		if rounds < 20 {
			r.commit(100+rounds, 101+rounds, "e2", 2)
		}
	}
	srv.mu.Lock()
	srv.fault = nil
	srv.mu.Unlock()
	if rounds == 500 {
		t.Fatal("no round succeeded in 500")
	}
	r.checkAllUp()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	photoDupes := 0
	for _, n := range srv.photoPuts {
		photoDupes += n - 1
	}
	t.Logf("%d rounds; %d punches sent again after being stored, %d photos", rounds+1, srv.dupes, photoDupes)
	if srv.dupes == 0 || photoDupes == 0 {
		t.Error("the faults never lost an answer after the work was done; the test proves nothing about duplicates")
	}
}

func TestRejectedPunchesAreKeptNotRetried(t *testing.T) {
	srv := newFakeServer(t)
	srv.reject["ghost"] = "unknown employee ghost"
	r := newRig(t, srv, true, nil)
	r.enroll()
	r.commit(0, 3, "e1", 0)
	ghost := r.commit(3, 4, "ghost", 1)[0] // with a photo
	r.commit(4, 6, "e1", 0)
	for range 3 {
		if err := r.c.sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	rej, err := r.q.Rejected()
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 1 || rej[0].Punch.ID != ghost.ID || rej[0].Reason != "unknown employee ghost" || rej[0].At.IsZero() {
		t.Fatalf("Rejected = %+v, want the ghost's punch with the server's reason", rej)
	}
	srv.mu.Lock()
	sent, stored, photos := srv.received[ghost.ID], len(srv.punches), len(srv.photos)
	srv.mu.Unlock()
	if sent != 1 {
		t.Errorf("the refused punch was sent %d times, want once", sent)
	}
	if stored != 5 || photos != 0 {
		t.Errorf("server holds %d punches and %d photos, want 5 and none (a refused punch's photo stays on the kiosk)", stored, photos)
	}
	st, _ := r.q.Stats()
	if st.Waiting != 0 || st.PhotosWaiting != 0 || st.Rejected != 1 {
		t.Errorf("Stats = %+v, want nothing waiting and 1 rejected", st)
	}
	if _, err := r.q.ReadPhoto(ghost.Photo); err != nil {
		t.Errorf("the refused punch's photo is gone: %v", err)
	}
}

func TestRosterSync(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	r.enroll()
	r.drain()
	ctx := context.Background()
	const get = "GET " + protocol.PathRoster
	if n := srv.count(get); n != 1 {
		t.Errorf("roster fetched %d times at enrolment, want 1", n)
	}
	// Same version: no fetch.
	for range 3 {
		if err := r.c.sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.count(get); n != 1 {
		t.Errorf("roster fetched %d times with no change, want still 1", n)
	}
	for _, ev := range r.drain() {
		if _, ok := ev.(kiosk.RosterLoaded); ok {
			t.Error("RosterLoaded sent with no change")
		}
	}

	// A new version: fetched, stored, told with each employee's status.
	r.commit(0, 1, "e2", 0)
	srv.mu.Lock()
	srv.roster = testRoster(t, "v2")
	srv.mu.Unlock()
	if err := r.c.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.count(get); n != 2 {
		t.Errorf("roster fetched %d times, want 2", n)
	}
	if got, err := r.q.Roster(); err != nil || got.Version != "v2" {
		t.Errorf("stored roster = %v, %v; want v2", got, err)
	}
	var ev *kiosk.RosterLoaded
	for _, e := range r.drain() {
		if rl, ok := e.(kiosk.RosterLoaded); ok {
			ev = &rl
		}
	}
	if ev == nil || ev.Roster.Version != "v2" || ev.Status["e2"].Direction != punch.In || !ev.Status["e2"].At.Equal(day0) {
		t.Errorf("RosterLoaded = %+v, want v2 with e2 in since %v", ev, day0)
	}

	// The check-in announces another version but the roster is the same
	// (the ETag matches): 304, nothing applied.
	srv.mu.Lock()
	srv.checkinVersion = "v2-announced"
	srv.mu.Unlock()
	if err := r.c.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.count(get); n != 3 {
		t.Errorf("roster fetched %d times, want 3", n)
	}
	if v, _ := r.q.RosterVersion(); v != "v2" {
		t.Errorf("roster after 304 = %q, want v2", v)
	}
	for _, e := range r.drain() {
		if _, ok := e.(kiosk.RosterLoaded); ok {
			t.Error("RosterLoaded sent after a 304")
		}
	}
}

// A roster the kiosk cannot use does not hold up the punches.
func TestBadRosterDoesNotStopUploads(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	r.enroll()
	r.commit(0, 5, "e1", 2)
	srv.mu.Lock()
	srv.checkinVersion = "v9" // announced, but the roster served is broken
	srv.fault = func(req *http.Request) fault {
		if req.URL.Path == protocol.PathRoster {
			return fail503
		}
		return noFault
	}
	srv.mu.Unlock()
	if err := r.c.sync(context.Background()); err == nil {
		t.Error("sync with an unfetchable roster succeeded; want it retried")
	}
	r.checkAllUp()
	if v, _ := r.q.RosterVersion(); v != "v1" {
		t.Errorf("roster = %q, want v1 kept", v)
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	r.enroll()
	r.commit(0, 4, "e1", 2)
	if err := r.c.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.fault = func(*http.Request) fault { return unauthorized }
	srv.mu.Unlock()
	r.c.sync(context.Background())
	id := r.c.identity()
	logs := r.logs.String()
	for what, secret := range map[string]string{"token": id.Token, "setup code": srv.code} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s is in the log:\n%s", what, logs)
		}
	}
	if b := r.taken[punchID(0)]; len(b) == 0 || strings.Contains(logs, string(b[4:40])) {
		t.Error("photo bytes in the log (or no photo to check)")
	}
}

// Photos at rest: with the office's key from the check-in, photos are
// sealed on the kiosk (those taken before enrolment too, when the key
// comes), go up sealed, and leave the kiosk once acknowledged.
func TestPhotosSealedThenRemoved(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	before := r.commit(0, 1, "e1", 1)[0] // no key yet: stored as taken
	file := filepath.Join(r.dir, "photos", before.Photo)
	if b, _ := os.ReadFile(file); !bytes.Equal(b, jpeg(0)) {
		t.Fatal("before enrolment the photo is not stored as taken")
	}
	// Enrolment syncs at once, which fails on nothing here; stop the
	// server acknowledging photos to look at the kiosk's files first.
	srv.mu.Lock()
	srv.fault = func(req *http.Request) fault {
		if strings.HasPrefix(req.URL.Path, protocol.PathPhotos) {
			return fail503
		}
		return noFault
	}
	srv.mu.Unlock()
	r.enroll()
	if k, ok := r.q.PhotoKey(); !ok || k != srv.photoKey.Public() {
		t.Fatalf("the kiosk's photo key = %v, %v; want the server's", k, ok)
	}
	after := r.commit(1, 2, "e1", 1)[0]
	for i, p := range []punch.Punch{before, after} {
		b, err := os.ReadFile(filepath.Join(r.dir, "photos", p.Photo))
		if err != nil {
			t.Fatal(err)
		}
		if !photoseal.IsSealed(b) || bytes.Contains(b, jpeg(i)[:40]) {
			t.Errorf("photo %d on the kiosk is not sealed", i)
		}
		if got, err := srv.photoKey.Open(b); err != nil || !bytes.Equal(got, jpeg(i)) {
			t.Errorf("photo %d does not open to what the camera took: %v", i, err)
		}
	}
	srv.mu.Lock()
	srv.fault = nil
	srv.mu.Unlock()
	if err := r.c.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.checkAllUp()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.sealedPuts != 2 || srv.plainPuts != 0 {
		t.Errorf("photo uploads: %d sealed, %d plain; want 2 sealed", srv.sealedPuts, srv.plainPuts)
	}
}

// A server from before photo keys sends none: photos are stored and sent
// as JPEGs, as before.
func TestOlderServerTakesPlainPhotos(t *testing.T) {
	srv := newFakeServer(t)
	srv.photoKey = nil
	r := newRig(t, srv, true, nil)
	r.enroll()
	r.commit(0, 4, "e1", 2)
	if err := r.c.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.q.PhotoKey(); ok {
		t.Error("the kiosk has a photo key the server never sent")
	}
	r.checkAllUp()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.plainPuts != 2 || srv.sealedPuts != 0 {
		t.Errorf("photo uploads: %d plain, %d sealed; want 2 plain", srv.plainPuts, srv.sealedPuts)
	}
}

// A sealed photo altered on the SD card: the server cannot open it and
// refuses it; the punch still counts, and the photo is kept on the kiosk
// for a person with the server's reason.
func TestTamperedPhotoRefused(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, true, nil)
	r.enroll()
	p := r.commit(0, 1, "e1", 1)[0]
	file := filepath.Join(r.dir, "photos", p.Photo)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 0x20
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.c.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	_, stored := srv.punches[p.ID]
	photos := len(srv.photos)
	srv.mu.Unlock()
	if !stored || photos != 0 {
		t.Errorf("server: punch stored %v, %d photos; want the punch and no photo", stored, photos)
	}
	rej, err := r.q.Rejected()
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 1 || rej[0].Punch.ID != p.ID || !strings.Contains(rej[0].PhotoReason, "cannot be opened") {
		t.Fatalf("Rejected = %+v, want the photo refused with the server's reason", rej)
	}
	if kept, err := os.ReadFile(file); err != nil || !bytes.Equal(kept, b) {
		t.Errorf("the refused photo is not kept as it was: %v", err)
	}
	if st, _ := r.q.Stats(); st.Waiting != 0 || st.PhotosWaiting != 0 {
		t.Errorf("Stats = %+v, want nothing waiting", st)
	}
}
