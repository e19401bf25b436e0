package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
)

// shiftedClock is the real clock moved to start at base: the kiosk's
// screen timings run as usual while the wall clock reads what the test
// wants (a Pi that booted in 1970, say).
func shiftedClock(base time.Time) func() time.Time {
	start := time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

// A kiosk that ran with the right time, then boots without network or RTC
// at 1970: its punches keep the clock's reading, flagged as behind, with
// whether the kernel said the clock was synchronised; once the clock is
// right again they are not flagged.
func TestPunchesRecordTheClock(t *testing.T) {
	db := openQueue(t)
	r := testRoster(t)
	if err := db.ReplaceRoster(r); err != nil {
		t.Fatal(err)
	}
	right := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	run := func(now func() time.Time, synced bool, keys string) []punch.Punch {
		t.Helper()
		before, _ := db.Stats()
		k := &Kiosk{
			State:       kiosk.New(kiosk.Ready, r, nil, "", kiosk.Net{}, now()),
			Keys:        script(keys),
			Display:     newScreens(),
			Store:       db,
			BootID:      "test-boot",
			Now:         now,
			ClockSynced: func() bool { return synced },
			Scripted:    true,
		}
		runKiosk(t, k)
		ps, err := db.All(0)
		if err != nil {
			t.Fatal(err)
		}
		return ps[before.Total:]
	}

	// The first boot: synchronised, right. Its start notes the time.
	first := run(shiftedClock(right), true, "3333##")
	if len(first) != 1 || !first[0].Clock.Synced || first[0].Clock.Behind {
		t.Fatalf("punch with a synchronised clock = %+v", first)
	}
	// Power cut; the next boot starts at 1970 and nothing sets the clock.
	epoch := time.Unix(600, 0)
	second := run(shiftedClock(epoch), false, "3333##")
	if len(second) != 1 || second[0].Clock.Synced || !second[0].Clock.Behind {
		t.Fatalf("punch with the clock at 1970 = %+v", second)
	}
	if at := second[0].At; at.Before(epoch) || at.After(epoch.Add(time.Hour)) {
		t.Errorf("the punch's time is %v, not the clock's reading", at)
	}
	if second[0].Seq != first[0].Seq+1 {
		t.Errorf("seq %d after %d: the order is kept by sequence number", second[0].Seq, first[0].Seq)
	}
	// The clock is set again.
	third := run(shiftedClock(right.Add(time.Hour)), true, "3333##")
	if len(third) != 1 || third[0].Clock.Behind {
		t.Errorf("punch once the clock is right again = %+v", third)
	}
}

// notingStore records what the kiosk tells it of the wall clock.
type notingStore struct {
	*queue.DB
	noted chan time.Time
}

func (n *notingStore) NoteTime(t time.Time) error {
	n.noted <- t
	return n.DB.NoteTime(t)
}

// An idle kiosk tells the store the time at start and then every
// NoteTimeEvery.
func TestIdleKioskNotesTheTime(t *testing.T) {
	db := openQueue(t)
	r := testRoster(t)
	if err := db.ReplaceRoster(r); err != nil {
		t.Fatal(err)
	}
	store := &notingStore{DB: db, noted: make(chan time.Time)}
	base := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	k := &Kiosk{
		State:         kiosk.New(kiosk.Ready, r, nil, "", kiosk.Net{}, base),
		Display:       newScreens(),
		Store:         store,
		BootID:        "test-boot",
		Now:           shiftedClock(base),
		NoteTimeEvery: time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	var last time.Time
	for i := range 3 {
		select {
		case at := <-store.noted:
			if at.Before(base) || !at.After(last) && i > 0 {
				t.Errorf("noted %v after %v", at, last)
			}
			last = at
		case err := <-done:
			t.Fatalf("Run returned %v before noting the time", err)
		}
	}
	cancel()
	// Run may be sending one more; take it so that it can return.
	for {
		select {
		case <-store.noted:
			continue
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		}
		break
	}
	if m, err := db.WallMark(); err != nil || m.Before(last) {
		t.Errorf("wall mark %v (%v), want at least %v", m, err, last)
	}
}
