package faultproxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/faultproxy"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/uplink"
)

var faultSeed = flag.Uint64("fault-seed", 20261122, "seed of TestExactlyOnce's faults and punches")

// faultRates are the faults of TestExactlyOnce: 30% of requests in all.
// Stalls are rarer than the rest because each costs the client's whole
// timeout in wall time; they are as dangerous as a reset after the server
// acted, which is common.
var faultRates = map[faultproxy.Kind]float64{
	faultproxy.Reset:     0.06,
	faultproxy.Status500: 0.055,
	faultproxy.Status503: 0.055,
	faultproxy.Stall:     0.02,
	faultproxy.Truncate:  0.055,
	faultproxy.Twice:     0.055,
}

// clientTimeout is the kiosk's HTTP timeout in the test: what a stall
// costs. A request that legitimately takes longer is simply retried.
const clientTimeout = 750 * time.Millisecond

// office is a real back office over HTTP.
type office struct {
	store   *backoffice.Store
	dir     string
	url     string
	foreman backoffice.Employee
	workers []backoffice.Employee // FaceFront, photo consent: punch with a photo
	clerks  []backoffice.Employee // office role: no photo
}

func newOffice(t *testing.T) *office {
	t.Helper()
	o := &office{dir: t.TempDir()}
	store, err := backoffice.Open(o.dir, backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	o.store = store
	if _, err := store.CreateCompany("Fault Framing", time.Now()); err != nil {
		t.Fatal(err)
	}
	emp := func(n int, role string, consent bool) backoffice.Employee {
		e, err := store.CreateEmployee(backoffice.Employee{Number: fmt.Sprint(2000 + n), Name: fmt.Sprintf("Person %d", n),
			RoleID: role, Active: true, PhotoConsent: consent}, fmt.Sprintf("%04d", 5000+n))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	o.foreman = emp(0, "foreman", true)
	for i := 1; i <= 12; i++ {
		o.workers = append(o.workers, emp(i, "worker", true))
	}
	for i := 13; i <= 16; i++ {
		o.clerks = append(o.clerks, emp(i, "office", false))
	}
	// Enrolment goes through the faults too: a lost answer is tried
	// again, and the rate limit must not mistake that for guessing.
	srv := httptest.NewServer(backoffice.NewServer(store, backoffice.ServerOptions{
		EnrollPerAddress: backoffice.Rate{PerMinute: 6000, Burst: 1000},
		EnrollTotal:      backoffice.Rate{PerMinute: 6000, Burst: 1000},
	}).Handler())
	t.Cleanup(srv.Close)
	o.url = srv.URL
	return o
}

// photoJPEG is a small valid JPEG made unique by a comment segment naming
// the punch: the office keeps photos by content, and two punches never
// share a photo.
func photoJPEG(base []byte, id string) []byte {
	com := []byte("siteclock fault test photo of punch " + id)
	out := make([]byte, 0, len(base)+len(com)+4)
	out = append(out, base[:2]...) // SOI
	out = append(out, 0xFF, 0xFE, byte((len(com)+2)>>8), byte(len(com)+2))
	out = append(out, com...)
	return append(out, base[2:]...)
}

func baseJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 72))
	for y := range 72 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{uint8(x * 2), uint8(y * 3), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// kioskRig is a real kiosk queue and uplink talking through a proxy.
type kioskRig struct {
	q     *queue.DB
	up    *uplink.Client
	proxy *faultproxy.Proxy
}

func newKiosk(t *testing.T, o *office, seed uint64) *kioskRig {
	t.Helper()
	proxy, err := faultproxy.New(faultproxy.Config{Target: o.url, Seed: seed, Rates: faultRates, StallFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	up, err := uplink.New(uplink.Options{
		ServerURL: front.URL, Queue: q, HTTP: &http.Client{Timeout: clientTimeout},
		Version: "exactly-once", Hardware: "Simulator", Nickname: "Fault trailer",
		BootID:   func() string { return "boot-fault" },
		BootTime: func() time.Duration { return time.Hour },
		Camera:   func() punch.NoPhoto { return punch.PhotoTaken },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &kioskRig{q: q, up: up, proxy: proxy}
}

// enroll enrols the kiosk through the faults and syncs until it holds the
// roster.
func (k *kioskRig) enroll(t *testing.T, ctx context.Context, o *office) {
	t.Helper()
	code, err := o.store.SetupCode(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for tries := 1; ; tries++ {
		p := k.up.Enroll(ctx, code.Code)
		if p == kiosk.EnrollOK {
			break
		}
		if tries == 100 || ctx.Err() != nil {
			t.Fatalf("enrolment failed %d times, last %v", tries, p)
		}
	}
	for {
		if v, _ := k.q.RosterVersion(); v != "" {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("the kiosk never got the roster")
		}
		k.up.SyncOnce(ctx)
	}
}

// drain syncs until nothing waits on the kiosk once finished reports
// true, and returns the failed rounds: each is a retry of whatever was
// unanswered.
func (k *kioskRig) drain(t *testing.T, ctx context.Context, more <-chan struct{}, finished func() bool) int {
	t.Helper()
	failed := 0
	for {
		// Read before the round: when it says the commits are over,
		// the round saw every commit.
		last := finished()
		err := k.up.SyncOnce(ctx)
		if ctx.Err() != nil {
			st, _ := k.q.Stats()
			t.Fatalf("the queue did not drain in time: %+v, %d failed rounds, %v; proxy %v", st, failed, err, k.proxy.Stats())
		}
		if err != nil {
			failed++
			continue
		}
		st, err := k.q.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Waiting > 0 || st.PhotosWaiting > 0 {
			continue
		}
		if last {
			return failed
		}
		// Nothing waits: sleep until the next commit, as Run does
		// until its Kick.
		select {
		case <-more:
		case <-ctx.Done():
		}
	}
}

// committer makes punches on the kiosk the way the runner does: single
// punches with and without a photo, and Clock For crews in one commit.
type committer struct {
	t       *testing.T
	o       *office
	q       *queue.DB
	rng     *rand.Rand
	base    []byte
	roster  string
	boot    time.Duration
	punches int // committed
	photos  int
	crews   int
	// sums is the SHA-256 of each photo committed, by punch ID: the
	// kiosk removes a photo once the office has it.
	sums map[string][32]byte
}

func (c *committer) commit(ctx context.Context, ps []punch.Punch, photo []byte) {
	for i := range ps {
		c.boot += time.Second
		ps[i].ID = uuid.NewString()
		ps[i].At = time.Now().Truncate(time.Millisecond)
		ps[i].BootTime = c.boot
		ps[i].BootID = "boot-fault"
	}
	if photo != nil {
		photo = photoJPEG(c.base, ps[0].ID)
	}
	if _, err := c.q.Commit(ctx, ps, photo); err != nil {
		c.t.Errorf("commit: %v", err)
		return
	}
	c.punches += len(ps)
	if photo != nil {
		c.photos++
		c.sums[ps[0].ID] = sha256.Sum256(photo)
	}
}

func who(e backoffice.Employee) punch.Punch {
	return punch.Punch{EmployeeID: e.ID, EmployeeNumber: e.Number, EmployeeName: e.Name}
}

// next commits one of: a worker's punch with a photo (while photos are
// due), a clerk's punch without one, or a crew of 2 to 6 clocked by the
// foreman; the mix is set so the photos run out with the punches.
func (c *committer) next(ctx context.Context, punchesLeft, photosLeft int) {
	dir := punch.In
	if c.rng.IntN(2) == 0 {
		dir = punch.Out
	}
	switch x := c.rng.IntN(punchesLeft); {
	case x < photosLeft:
		p := who(c.o.workers[c.rng.IntN(len(c.o.workers))])
		p.Direction = dir
		c.commit(ctx, []punch.Punch{p}, []byte{})
	case punchesLeft-photosLeft >= 6 && c.rng.IntN(5) == 0:
		n := 2 + c.rng.IntN(5)
		crew := make([]punch.Punch, n)
		for i, w := range c.rng.Perm(len(c.o.workers))[:n] {
			crew[i] = who(c.o.workers[w])
			crew[i].Direction, crew[i].NoPhoto = dir, punch.ClockFor
			crew[i].ClockedBy, crew[i].RosterVersion = c.o.foreman.ID, c.roster
		}
		c.commit(ctx, crew, nil)
		c.crews++
	default:
		p := who(c.o.clerks[c.rng.IntN(len(c.o.clerks))])
		p.Direction, p.NoPhoto = dir, punch.RoleFaceFrontOff
		c.commit(ctx, []punch.Punch{p}, nil)
	}
}

// TestExactlyOnce pushes punches and photos from a real kiosk queue
// through the real uplink, a proxy breaking 30% of requests, into the real
// back office, while more are committed, then lets it drain: the office
// must hold exactly what the kiosk committed. Then the office disables the
// kiosk while it holds a backlog: the last transmission, through the same
// faults, must deliver all of it before the kiosk says goodbye.
//
// go test -v -run TestExactlyOnce ./faultproxy prints the figures for
// docs/RELIABILITY.md; -short runs a fifth of the size.
func TestExactlyOnce(t *testing.T) {
	size := struct{ punches, photos, backlog, backlogPhotos int }{5000, 1000, 600, 120}
	if testing.Short() {
		size.punches, size.photos, size.backlog, size.backlogPhotos = 1000, 200, 120, 24
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	seed := *faultSeed

	o := newOffice(t)
	k := newKiosk(t, o, seed)
	k.enroll(t, ctx, o)
	roster, _ := k.q.RosterVersion()
	c := &committer{t: t, o: o, q: k.q, rng: rand.New(rand.NewPCG(seed, 2)), base: baseJPEG(t), roster: roster,
		sums: make(map[string][32]byte)}

	// Commit while the uplink syncs: the committer kicks the syncer after
	// each commit, as the runner kicks Run.
	more := make(chan struct{}, 1)
	var (
		done     sync.WaitGroup
		finished atomic.Bool
	)
	done.Add(1)
	go func() {
		defer done.Done()
		for c.punches < size.punches && ctx.Err() == nil {
			c.next(ctx, size.punches-c.punches, size.photos-c.photos)
			select {
			case more <- struct{}{}:
			default:
			}
		}
		finished.Store(true)
		close(more)
	}()
	retries := k.drain(t, ctx, more, finished.Load)
	done.Wait()
	if c.punches != size.punches || c.photos != size.photos {
		t.Fatalf("committed %d punches and %d photos, want %d and %d", c.punches, c.photos, size.punches, size.photos)
	}
	lost, doubled := compare(t, o, k.q, c.sums, "")
	mainStats := k.proxy.Stats()
	mainTime := time.Since(start)

	// The office disables the kiosk while it holds a backlog.
	c.punches, c.photos = 0, 0
	for c.punches < size.backlog {
		c.next(ctx, size.backlog-c.punches, size.backlogPhotos-c.photos)
	}
	if err := o.store.DisableDevice(k.up.DeviceID(), "Pat (office)", time.Now()); err != nil {
		t.Fatal(err)
	}
	lastRounds := 0
	for {
		if d, err := k.q.Device(); err != nil {
			t.Fatal(err)
		} else if d.Disabled {
			break
		}
		if ctx.Err() != nil {
			st, _ := k.q.Stats()
			t.Fatalf("the disabled kiosk never finished its last transmission: %+v, proxy %v", st, k.proxy.Stats())
		}
		if err := k.up.SyncOnce(ctx); err != nil {
			lastRounds++
		}
	}
	d, err := o.store.Device(k.up.DeviceID())
	if err != nil || d.GoodbyeAt.IsZero() {
		t.Errorf("the office has no goodbye from the kiosk: %+v, %v", d, err)
	}
	lostLast, doubledLast := compare(t, o, k.q, c.sums, "after the last transmission: ")
	total := k.proxy.Stats()

	t.Logf("figures (seed %d, %d%% faults, client timeout %v):", seed, 30, clientTimeout)
	t.Logf("| punches | photos | crews | requests | faults | reset | 500 | 503 | stall | truncate | twice | answer lost after the server acted | failed rounds retried | lost | doubled | wall time |")
	t.Logf("| %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %v |",
		size.punches, size.photos, c.crews, mainStats.Requests, mainStats.Total(),
		mainStats.Faults[faultproxy.Reset], mainStats.Faults[faultproxy.Status500], mainStats.Faults[faultproxy.Status503],
		mainStats.Faults[faultproxy.Stall], mainStats.Faults[faultproxy.Truncate], mainStats.Faults[faultproxy.Twice],
		mainStats.AfterServer, retries, lost, doubled, mainTime.Round(100*time.Millisecond))
	t.Logf("last transmission of a disabled kiosk: %d punches and %d photos of backlog, %d requests, %d faults, %d failed rounds; lost %d, doubled %d; goodbye said",
		size.backlog, size.backlogPhotos, total.Requests-mainStats.Requests, total.Total()-mainStats.Total(), lastRounds, lostLast, doubledLast)
	t.Logf("total wall time %v", time.Since(start).Round(100*time.Millisecond))
}

// compare checks that the office holds exactly the punches and photos the
// kiosk committed and that nothing waits on the kiosk; it returns the
// punches lost and doubled (both must be zero; the differences are
// reported as errors).
func compare(t *testing.T, o *office, q *queue.DB, sums map[string][32]byte, when string) (lost, doubled int) {
	t.Helper()
	st, err := q.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Waiting != 0 || st.PhotosWaiting != 0 || st.Rejected != 0 {
		t.Errorf("%sthe kiosk's queue is not empty: %+v", when, st)
	}
	mine, err := q.All(0)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := o.store.Punches(backoffice.PunchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := make(map[string]backoffice.Punch, len(theirs))
	for _, p := range theirs {
		if _, ok := byID[p.ID]; ok {
			doubled++
			t.Errorf("%spunch %s is on the office twice", when, p.ID)
		}
		byID[p.ID] = p
	}
	kioskIDs := make(map[string]bool, len(mine))
	photos := 0
	for _, p := range mine {
		kioskIDs[p.ID] = true
		sp, ok := byID[p.ID]
		if !ok {
			lost++
			if lost <= 10 {
				t.Errorf("%spunch %s (seq %d) is not on the office", when, p.ID, p.Seq)
			}
			continue
		}
		if sp.Seq != p.Seq || sp.EmployeeID != p.EmployeeID || sp.Direction != p.Direction || !sp.At.Equal(p.At) ||
			sp.ClockedBy != p.ClockedBy || sp.NoPhoto != p.NoPhoto || sp.BootTime != p.BootTime {
			t.Errorf("%spunch %s differs on the office: %+v, kiosk %+v", when, p.ID, sp, p)
		}
		sum, ok := sums[p.ID]
		if ok != (p.Photo != "") {
			t.Errorf("%spunch %s: committed with a photo %v, the kiosk names photo %q", when, p.ID, ok, p.Photo)
		}
		if !ok {
			if sp.PhotoSHA256 != "" {
				t.Errorf("%spunch %s has a photo on the office but none on the kiosk", when, p.ID)
			}
			continue
		}
		photos++
		if sp.PhotoSHA256 != hex.EncodeToString(sum[:]) || sp.PhotoReceivedAt.IsZero() {
			t.Errorf("%sphoto of punch %s: the office has %q (received %v), the kiosk committed %x", when, p.ID, sp.PhotoSHA256, sp.PhotoReceivedAt, sum)
			continue
		}
		if got, err := o.store.Photo(sp.PhotoSHA256); err != nil || sha256.Sum256(got) != sum {
			t.Errorf("%sphoto of punch %s on the office: %d bytes, %v; not the photo committed", when, p.ID, len(got), err)
		}
	}
	for id := range byID {
		if !kioskIDs[id] {
			doubled++
			t.Errorf("%sthe office has punch %s the kiosk never committed", when, id)
		}
	}
	// Photos are files named by hash: one per photo, none left over
	// from a request that failed half-way.
	files, err := os.ReadDir(filepath.Join(o.dir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".jpg") {
			n++
		} else {
			t.Errorf("%sstray file in the office's photos: %s", when, f.Name())
		}
	}
	if n != photos {
		t.Errorf("%sthe office holds %d photo files for the kiosk's %d photos", when, n, photos)
	}
	if rj, err := o.store.RejectedPunches(); err != nil || len(rj) != 0 {
		t.Errorf("%sthe office rejected %d punches (%v): %+v", when, len(rj), err, rj)
	}
	// The kiosk removes a photo once the office acknowledged it: a stolen
	// kiosk holds none that reached the office.
	if left, err := os.ReadDir(filepath.Join(q.Dir(), "photos")); err != nil || len(left) != 0 {
		t.Errorf("%sthe kiosk still holds %d photo files (%v) after every photo was acknowledged", when, len(left), err)
	}
	if lost > 0 {
		t.Errorf("%s%d of %d punches lost", when, lost, len(mine))
	}
	return lost, doubled
}
