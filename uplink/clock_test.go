package uplink

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// Every check-in records the server's time against this boot's clock in
// the queue, so punches of the boot that follow are anchored; punches go up
// with their chain fields and clock flags exactly as the queue hashed them.
func TestPunchesGoUpChainedAndAnchored(t *testing.T) {
	srv := newFakeServer(t)
	r := newRig(t, srv, false, nil)
	r.commit(0, 1, "e1", 0) // before any contact in this boot
	r.enroll()              // its first sync checks in
	a, ok, err := r.q.LatestAnchor()
	if err != nil || !ok || a.BootID != "boot-1" || a.BootTime != 42*time.Second || a.ServerTime.IsZero() || a.DeviceTime.IsZero() {
		t.Fatalf("anchor after the first check-in = %+v, %v, %v", a, ok, err)
	}
	r.commit(1, 3, "e1", 2) // after it; punch 2 with a photo
	if err := r.c.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}

	all, err := r.q.All(0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.lock()()
	for i, p := range all {
		got, ok := srv.punches[p.ID]
		if !ok {
			t.Fatalf("punch %s never reached the server", p.ID)
		}
		if anchored := i > 0; got.ClockAnchored != anchored || p.Clock.Anchored != anchored {
			t.Errorf("punch %d: anchored on the wire %v, in the queue %v; want %v", i, got.ClockAnchored, p.Clock.Anchored, anchored)
		}
		if got.ChainID == "" || got.ChainID != p.ChainID {
			t.Errorf("punch %d: chain %q on the wire, %q in the queue", i, got.ChainID, p.ChainID)
		}
		if i > 0 && !bytes.Equal(got.PrevHash, all[i-1].Hash) {
			t.Errorf("punch %d: previous hash %x on the wire, want punch %d's %x", i, got.PrevHash, i-1, all[i-1].Hash)
		}
		// What the server received hashes to what the kiosk hashed: every
		// signed field made the trip unchanged (the photo's hash too).
		if h := punch.HashMessage(got.Punch().Message()); !bytes.Equal(h, p.Hash) {
			t.Errorf("punch %d: the wire punch hashes to %x, the queue's to %x", i, h, p.Hash)
		}
	}
	if len(all) != 3 || all[2].PhotoSHA256 == "" || srv.punches[all[2].ID].PhotoSHA256 != all[2].PhotoSHA256 {
		t.Errorf("the photo punch went up naming %q, the queue recorded %q", srv.punches[all[2].ID].PhotoSHA256, all[2].PhotoSHA256)
	}
}
