package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/sqlitedb"
	"github.com/siteclock/siteclock/uplink"
)

// TestOfficeKilledMidUpload gives a kiosk a backlog (the queue and uplink
// of siteclockd, in this process) and SIGKILLs the real siteclock-server
// while the kiosk uploads it, several times, restarting it on the same
// data folder and address each time: when the upload has finished, the
// office holds every punch and photo exactly once and the kiosk has
// nothing waiting.
//
// go test -v -run TestOfficeKilledMidUpload ./cmd/siteclockd prints the
// figures for docs/RELIABILITY.md.
func TestOfficeKilledMidUpload(t *testing.T) {
	const (
		backlog = 3000
		photos  = 300
	)
	data, state := t.TempDir(), t.TempDir()
	code := seedOffice(t, data)
	office := &officeProc{t: t, data: data, addr: freeAddr(t)}
	office.start()
	defer func() {
		if office.cmd.ProcessState == nil {
			office.kill()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	q, err := queue.Open(state, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	up, err := uplink.New(uplink.Options{ServerURL: "http://" + office.addr, Queue: q, Version: "office-kill", Hardware: "Simulator", Nickname: "Kill trailer"})
	if err != nil {
		t.Fatal(err)
	}
	if p := up.Enroll(ctx, code); p != kiosk.EnrollOK {
		t.Fatalf("enrol: %v", p)
	}
	ro, err := q.Roster()
	if err != nil {
		t.Fatal(err)
	}
	var withPhoto, without []punch.Punch
	for _, e := range ro.Employees() {
		p := punch.Punch{EmployeeID: e.ID, EmployeeNumber: e.Number, EmployeeName: e.Name}
		if e.PhotoConsent {
			withPhoto = append(withPhoto, p)
		} else {
			p.NoPhoto = punch.RoleFaceFrontOff
			without = append(without, p)
		}
	}

	// The backlog: a week offline, say. Photos from the simulated camera,
	// a millisecond apart.
	rng := rand.New(rand.NewPCG(1, 2))
	clock := time.Now().Add(-time.Hour)
	cam := camera.NewSim(func() time.Time { return clock }, camera.WithSize(320, 240))
	for i := range backlog {
		clock = clock.Add(time.Millisecond)
		var p punch.Punch
		var jpg []byte
		if i%(backlog/photos) == 0 {
			p = withPhoto[rng.IntN(len(withPhoto))]
			if jpg, err = cam.Capture(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			p = without[rng.IntN(len(without))]
		}
		p.ID, p.At, p.BootID, p.BootTime = uuid.NewString(), clock, "boot-kill", time.Duration(i+1)*time.Second
		p.Direction = []punch.Direction{punch.In, punch.Out}[i%2]
		if _, err := q.Commit(ctx, []punch.Punch{p}, jpg); err != nil {
			t.Fatal(err)
		}
	}

	// What the office holds, read as another process would.
	odb, err := sql.Open("sqlite3", sqlitedb.ReadOnlyDSN(filepath.Join(data, "office.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	held := func() (punches, photos int) {
		odb.QueryRow(`SELECT count(*) FROM punches`).Scan(&punches)
		odb.QueryRow(`SELECT count(*) FROM photos`).Scan(&photos)
		return punches, photos
	}

	// Upload in the background, retrying at once, as Run would after its
	// backoff.
	type round struct{ err error }
	rounds := make(chan round)
	go func() {
		for ctx.Err() == nil {
			err := up.SyncOnce(ctx)
			select {
			case rounds <- round{err}:
			case <-ctx.Done():
			}
		}
		close(rounds)
	}()

	// The kills come as the upload passes these marks, so each one lands
	// while the kiosk is sending: three while punches go up (500 to a
	// batch), three while photos do.
	marks := []struct{ punches, photos int }{{1, 0}, {1000, 0}, {2000, 0}, {backlog, 1}, {backlog, photos / 3}, {backlog, photos * 2 / 3}}
	var (
		killedAt     []string
		refused, cut int // failed rounds: office down, or the connection broken mid-request
	)
	start := time.Now()
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case r := <-rounds:
			switch {
			case r.err == nil:
			case strings.Contains(r.err.Error(), "connection refused"):
				refused++
				time.Sleep(10 * time.Millisecond) // the office is starting
			default:
				cut++
			}
			st, err := q.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if r.err == nil && st.Waiting == 0 && st.PhotosWaiting == 0 {
				cancel()
				for range rounds {
				}
				if len(killedAt) != len(marks) {
					t.Fatalf("the upload finished after %d kills (at %v), want %d", len(killedAt), killedAt, len(marks))
				}
				goto done
			}
		case <-poll.C:
			if len(killedAt) == len(marks) {
				continue
			}
			p, ph := held()
			if m := marks[len(killedAt)]; p < m.punches || ph < m.photos {
				continue
			}
			office.kill()
			killedAt = append(killedAt, fmt.Sprintf("%d punches/%d photos", p, ph))
			office.start()
		case <-ctx.Done():
			st, _ := q.Stats()
			t.Fatalf("the backlog did not drain: %+v; kills at %v", st, killedAt)
		}
	}
done:
	wall := time.Since(start)
	office.stop()
	lost, doubled, nPhotos, total := compareWithOffice(t, state, data)
	if total != backlog || nPhotos != photos {
		t.Errorf("compared %d punches and %d photos, want %d and %d", total, nPhotos, backlog, photos)
	}
	t.Logf("office SIGKILLed %d times during the upload, when it held: %s", len(killedAt), strings.Join(killedAt, ", "))
	t.Logf("figures: | punches | photos | office SIGKILLs | rounds failed: office down | rounds failed: connection broken | lost | doubled | wall time |")
	t.Logf("figures: | %d | %d | %d | %d | %d | %d | %d | %v |", backlog, photos, len(killedAt), refused, cut, lost, doubled, wall.Round(100*time.Millisecond))
}
