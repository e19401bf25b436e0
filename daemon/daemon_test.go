package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/display"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/roster"
)

func testRoster(t *testing.T) *roster.Roster {
	t.Helper()
	kdf := roster.KDF{Salt: []byte("daemon-test-salt"), Iterations: roster.MinIterations}
	r, err := roster.New("t1", kdf, roster.Settings{
		Nickname: "Test trailer", PhotoCountdown: 50 * time.Millisecond, PhotoPreview: 20 * time.Millisecond,
		SavedScreen: 20 * time.Millisecond, MessageScreen: 20 * time.Millisecond, ScreenTimeout: time.Second,
	}, []roster.Role{
		{ID: "foreman", FaceFront: true, ClockFor: true},
		{ID: "worker", FaceFront: true},
	}, []roster.Employee{
		{Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true, PhotoConsent: true, PINHash: roster.HashPIN(kdf, "1111")},
		{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true, PhotoConsent: true, PINHash: roster.HashPIN(kdf, "2222")},
		{Number: "1003", Name: "Carla Diaz", RoleID: "worker", Active: true, PINHash: roster.HashPIN(kdf, "3333")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// screens is a display that keeps what it was shown.
type screens struct {
	mu  sync.Mutex
	buf bytes.Buffer
	h   *display.Headless
	all []kiosk.Screen
}

func newScreens() *screens {
	s := &screens{}
	s.h = display.NewHeadless(&s.buf)
	return s
}

func (s *screens) Show(sc kiosk.Screen) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, sc)
	return s.h.Show(sc)
}

func (s *screens) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sc := range s.all {
		if len(out) == 0 || out[len(out)-1] != sc.Name {
			out = append(out, sc.Name)
		}
	}
	return out
}

// script feeds keys and closes the channel, as headless input does.
func script(keys string) <-chan kiosk.Key {
	ch := make(chan kiosk.Key)
	go func() {
		defer close(ch)
		for _, c := range keys {
			k, _ := kiosk.ParseKey(c)
			ch <- k
		}
	}()
	return ch
}

func openQueue(t *testing.T) *queue.DB {
	t.Helper()
	db, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func runKiosk(t *testing.T, k *Kiosk) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the scripted kiosk never came back to rest")
	}
}

func TestScriptedPunches(t *testing.T) {
	db := openQueue(t)
	r := testRoster(t)
	if err := db.ReplaceRoster(r); err != nil {
		t.Fatal(err)
	}
	disp := newScreens()
	k := &Kiosk{
		State:    kiosk.New(kiosk.Ready, r, nil, "", kiosk.Net{}, time.Now()),
		Keys:     script("2222##" + "3333#" + "#" + "1111f1002#1003#o#" + "9999#"),
		Display:  disp,
		Camera:   camera.NewSim(time.Now),
		Store:    db,
		BootID:   "test-boot",
		Scripted: true,
	}
	runKiosk(t, k)

	ps, err := db.Unsent(0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, fmt.Sprintf("%s %s by=%q photo=%v reason=%q", p.EmployeeNumber, p.Direction, p.ClockedBy, p.Photo != "", p.NoPhoto))
		if len(p.ID) != 36 || p.BootID != "test-boot" || p.BootTime <= 0 || p.At.IsZero() || p.Seq == 0 {
			t.Errorf("punch not stamped: %+v", p)
		}
		if p.BootTime > BootTime() {
			t.Errorf("punch boot time %v is in the future of %v", p.BootTime, BootTime())
		}
	}
	want := []string{
		`1002 in by="" photo=true reason=""`,
		`1003 in by="" photo=false reason="no_consent"`,
		`1002 out by="1001" photo=false reason="clock_for"`,
		`1003 out by="1001" photo=false reason="clock_for"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("committed punches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	photo, err := db.ReadPhoto(ps[0].Photo)
	if err != nil || !bytes.HasPrefix(photo, []byte{0xff, 0xd8}) {
		t.Errorf("photo of the first punch: %d bytes, %v; want a JPEG", len(photo), err)
	}
	names := strings.Join(disp.names(), " ")
	for _, want := range []string{"idle pin greet camera preview saved idle pin", "crew crew-confirm saving saved", "pin message"} {
		if !strings.Contains(names, want) {
			t.Errorf("screens %q lack the sequence %q", names, want)
		}
	}
	out := disp.buf.String()
	for _, want := range []string{"Clocked IN", "[photo: ", "2 clocked OUT", "PIN not recognized", "1 waiting", "4 waiting"} {
		if !strings.Contains(out, want) {
			t.Errorf("screens lack %q", want)
		}
	}
	if strings.Contains(out, "2222") || strings.Contains(out, "1111") {
		t.Error("a PIN was shown on screen")
	}
}

// fullStore is a queue whose disk is full.
type fullStore struct{ *queue.DB }

func (fullStore) Commit(context.Context, []punch.Punch, []byte) ([]punch.Punch, error) {
	return nil, fmt.Errorf("queue: write photo: %w", queue.ErrDiskFull)
}

// flakyStore is a queue whose first commit reaches the disk but reports an
// I/O error, as a failing fsync after the WAL write can.
type flakyStore struct {
	*queue.DB
	failed bool
}

func (f *flakyStore) Commit(ctx context.Context, ps []punch.Punch, photo []byte) ([]punch.Punch, error) {
	out, err := f.DB.Commit(ctx, ps, photo)
	if err == nil && !f.failed {
		f.failed = true
		return nil, errors.New("queue: commit: disk I/O error; the punches may or may not be saved")
	}
	return out, err
}

func TestRetryAfterUncertainCommitSavesOnce(t *testing.T) {
	db := openQueue(t)
	disp := newScreens()
	k := &Kiosk{
		State:    kiosk.New(kiosk.Ready, testRoster(t), nil, "", kiosk.Net{}, time.Now()),
		Keys:     script("3333##" + "#"), // punch; NOT saved; # to try again
		Display:  disp,
		Store:    &flakyStore{DB: db},
		Scripted: true,
	}
	runKiosk(t, k)
	out := disp.buf.String()
	if !strings.Contains(out, "Punch NOT saved") || !strings.Contains(out, "Clocked IN") {
		t.Errorf("screens:\n%s\nwant NOT saved, then saved after the retry", out)
	}
	if st, _ := db.Stats(); st.Total != 1 {
		t.Errorf("%d punches stored, want exactly 1", st.Total)
	}
}

func TestCommitFailureShowsNotSaved(t *testing.T) {
	db := openQueue(t)
	disp := newScreens()
	k := &Kiosk{
		State:    kiosk.New(kiosk.Ready, testRoster(t), nil, "", kiosk.Net{}, time.Now()),
		Keys:     script("3333##"),
		Display:  disp,
		Store:    fullStore{db},
		Scripted: true,
	}
	runKiosk(t, k)
	out := disp.buf.String()
	if !strings.Contains(out, "Punch NOT saved") || !strings.Contains(out, "storage is full") || strings.Contains(out, "Clocked") {
		t.Errorf("screens:\n%s\nwant NOT saved with the full-storage advice and no saved screen", out)
	}
	if st, _ := db.Stats(); st.Total != 0 {
		t.Errorf("%d punches stored", st.Total)
	}
}

func TestCameraRecovers(t *testing.T) {
	db := openQueue(t)
	cam := camera.NewSim(time.Now)
	cam.SetFault(camera.ErrPermission)
	disp := newScreens()
	keys := make(chan kiosk.Key)
	k := &Kiosk{
		State:            kiosk.New(kiosk.Ready, testRoster(t), nil, "", kiosk.Net{}, time.Now()),
		Keys:             keys,
		Display:          disp,
		Camera:           cam,
		Store:            db,
		CameraCheckEvery: 10 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- k.Run(ctx) }()
	waitFor := func(what string, f func(string) bool) {
		t.Helper()
		for i := 0; i < 500; i++ {
			disp.mu.Lock()
			s := disp.buf.String()
			disp.mu.Unlock()
			if f(s) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("never saw %s", what)
	}
	waitFor("permission problem", func(s string) bool { return strings.Contains(s, "camera: permission denied") })
	cam.SetFault(nil)
	waitFor("camera back", func(s string) bool {
		i := strings.LastIndex(s, "--- idle ---")
		return i > 0 && !strings.Contains(s[i:], "camera:")
	})
	// And a punch now gets a photo.
	for _, c := range "2222##" {
		key, _ := kiosk.ParseKey(c)
		keys <- key
	}
	waitFor("saved", func(s string) bool { return strings.Contains(s, "Photo saved") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// cancellingStore is a queue that sees the daemon being stopped in the
// middle of a commit.
type cancellingStore struct {
	*queue.DB
	cancel context.CancelFunc
}

func (c *cancellingStore) Commit(ctx context.Context, ps []punch.Punch, photo []byte) ([]punch.Punch, error) {
	c.cancel()
	return c.DB.Commit(ctx, ps, photo)
}

func TestStopFinishesTheCommitInProgress(t *testing.T) {
	db := openQueue(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	disp := newScreens()
	k := &Kiosk{
		State:   kiosk.New(kiosk.Ready, testRoster(t), nil, "", kiosk.Net{}, time.Now()),
		Keys:    script("3333##"),
		Display: disp,
		Store:   &cancellingStore{DB: db, cancel: cancel},
	}
	if err := k.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := db.Stats(); st.Total != 1 {
		t.Errorf("%d punches stored after a stop during the commit, want 1", st.Total)
	}
	if out := disp.buf.String(); strings.Contains(out, "NOT saved") || !strings.Contains(out, "Clocked IN") {
		t.Errorf("screens:\n%s\nwant the punch saved", out)
	}
}

// reclaimingStore is a queue whose disk is full until uploaded photos are
// removed.
type reclaimingStore struct {
	*queue.DB
	failed, freed bool
}

func (r *reclaimingStore) Commit(ctx context.Context, ps []punch.Punch, photo []byte) ([]punch.Punch, error) {
	if !r.freed {
		r.failed = true
		return nil, fmt.Errorf("queue: write photo: %w", queue.ErrDiskFull)
	}
	return r.DB.Commit(ctx, ps, photo)
}

func (r *reclaimingStore) Reclaim() (int, error) {
	if r.failed && !r.freed {
		r.freed = true
		return 3, nil
	}
	return 0, nil
}

func TestFullDiskReclaimsAndRetries(t *testing.T) {
	db := openQueue(t)
	disp := newScreens()
	store := &reclaimingStore{DB: db}
	k := &Kiosk{
		State:    kiosk.New(kiosk.Ready, testRoster(t), nil, "", kiosk.Net{}, time.Now()),
		Keys:     script("3333##"),
		Display:  disp,
		Store:    store,
		Scripted: true,
	}
	runKiosk(t, k)
	if !store.failed || !store.freed {
		t.Errorf("store failed=%v freed=%v; want a full disk, then room made", store.failed, store.freed)
	}
	if out := disp.buf.String(); strings.Contains(out, "NOT saved") || !strings.Contains(out, "Clocked IN") {
		t.Errorf("screens:\n%s\nwant the punch saved after reclaiming space", out)
	}
	if st, _ := db.Stats(); st.Total != 1 {
		t.Errorf("%d punches stored, want 1", st.Total)
	}
}
