package uplink

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/protocol"
)

// The tests of Run's schedule run in synctest bubbles: fake time, which
// passes only when every goroutine waits, so hours of backoff cost none.

// checkInLog records the time of every check-in attempt and fails those
// the plan says to fail (by attempt number, from 0).
type checkInLog struct {
	at   []time.Time
	fail func(n int) bool
}

func (l *checkInLog) fault(r *http.Request) fault {
	if r.URL.Path != protocol.PathCheckIn {
		return noFault
	}
	n := len(l.at)
	l.at = append(l.at, time.Now())
	if l.fail != nil && l.fail(n) {
		return fail503
	}
	return noFault
}

func (l *checkInLog) gaps() []time.Duration {
	var out []time.Duration
	for i := 1; i < len(l.at); i++ {
		out = append(out, l.at[i].Sub(l.at[i-1]))
	}
	return out
}

func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		r := newRig(t, srv, false, func(o *Options) {
			o.Rand = func(n int64) int64 { return n - 1 } // the top of each jitter range
		})
		r.enroll()
		log := &checkInLog{fail: func(n int) bool { return n < 15 || n == 16 || n == 17 }}
		srv.mu.Lock()
		srv.fault = log.fault
		srv.mu.Unlock()

		stop, _ := r.run(t.Context())
		time.Sleep(time.Hour)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		s := time.Second
		want := []time.Duration{
			2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, // doubling
			300 * s, 300 * s, 300 * s, 300 * s, 300 * s, 300 * s, // capped at 5 min
			300 * s, // attempt 15 succeeds...
			60 * s,  // ...so the next is at the server's SyncEvery; it fails
			2 * s,   // and the backoff starts over
			4 * s,   // attempt 18 succeeds
			60 * s,
		}
		got := log.gaps()
		if len(got) < len(want) {
			t.Fatalf("check-in gaps %v, want at least %v", got, want)
		}
		for i, w := range want {
			if got[i] != w {
				t.Errorf("gap before attempt %d = %v, want %v (all: %v)", i+1, got[i], w, got[:len(want)])
			}
		}
	})
}

func TestBackoffJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		r := newRig(t, srv, false, nil) // real randomness
		r.enroll()
		log := &checkInLog{fail: func(int) bool { return true }}
		srv.mu.Lock()
		srv.fault = log.fault
		srv.mu.Unlock()
		stop, _ := r.run(t.Context())
		time.Sleep(2 * time.Hour)
		stop()
		srv.mu.Lock()
		defer srv.mu.Unlock()
		gaps := log.gaps()
		if len(gaps) < 20 {
			t.Fatalf("only %d retries in 2 hours: %v", len(gaps), gaps)
		}
		atCeiling := 0
		for i, g := range gaps {
			ceiling := RetryMax
			if i < 20 {
				ceiling = min(RetryMin<<i, RetryMax)
			}
			if g < MinGap || g > ceiling {
				t.Errorf("retry %d after %v, want within [%v, %v]", i+1, g, MinGap, ceiling)
			}
			if g == ceiling {
				atCeiling++
			}
		}
		if atCeiling == len(gaps) {
			t.Errorf("no jitter: %v", gaps)
		}
	})
}

func TestKickUploadsPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		srv.syncEvery = time.Hour
		r := newRig(t, srv, false, nil)
		r.enroll()
		stop, _ := r.run(t.Context())
		defer stop()
		synctest.Wait() // the first round is done; the next is an hour away
		time.Sleep(time.Minute)

		r.commit(0, 1, "e1", 1)
		start := time.Now()
		r.c.Kick()
		synctest.Wait()
		if n := srv.stored(); n != 1 || time.Since(start) != 0 {
			t.Fatalf("after a Kick: %d punches on the server after %v; want 1 at once", n, time.Since(start))
		}
		if srv.count("PUT "+protocol.PathPhotos) != 1 {
			t.Errorf("photo not uploaded with its punch")
		}

		// A second punch right after: at most one attempt per MinGap.
		r.commit(1, 2, "e1", 0)
		r.c.Kick()
		synctest.Wait()
		if n := srv.stored(); n != 1 {
			t.Errorf("second upload came %v after the first, before MinGap", time.Since(start))
		}
		time.Sleep(MinGap)
		synctest.Wait()
		if n := srv.stored(); n != 2 {
			t.Errorf("second punch not uploaded %v after its Kick", MinGap)
		}
		var net *kiosk.NetChanged
		for _, ev := range r.drain() {
			if n, ok := ev.(kiosk.NetChanged); ok {
				net = &n
			}
		}
		if net == nil || !net.Net.Online || net.Net.LastSync.IsZero() {
			t.Errorf("last NetChanged = %+v, want online with a last sync", net)
		}
	})
}

func TestKickDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		r := newRig(t, srv, false, func(o *Options) {
			o.Rand = func(n int64) int64 { return n - 1 }
		})
		r.enroll()
		down := true
		log := &checkInLog{fail: func(int) bool { return down }}
		srv.mu.Lock()
		srv.fault = log.fault
		srv.mu.Unlock()
		stop, _ := r.run(t.Context())
		defer stop()
		time.Sleep(10 * time.Minute) // deep in backoff: the next try is minutes away

		// Punches on a dead link: kicks try again, but not more than once
		// a second.
		srv.mu.Lock()
		before := len(log.at)
		srv.mu.Unlock()
		for range 30 {
			r.c.Kick()
			time.Sleep(100 * time.Millisecond)
		}
		srv.mu.Lock()
		tries := len(log.at) - before
		srv.mu.Unlock()
		if tries < 1 || tries > 4 {
			t.Errorf("%d attempts during 3 s of kicks, want 1 to 4 (at most one a second)", tries)
		}

		// The link is back: a punch goes up at the next kick, not at the
		// end of the backoff.
		srv.mu.Lock()
		down = false
		srv.mu.Unlock()
		time.Sleep(MinGap)
		r.commit(0, 1, "e1", 0)
		start := time.Now()
		r.c.Kick()
		synctest.Wait()
		if n := srv.stored(); n != 1 || time.Since(start) != 0 {
			t.Errorf("after a Kick with the link back: %d punches after %v; want 1 at once", n, time.Since(start))
		}
	})
}

func TestRunWaitsForEnrolment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		r := newRig(t, srv, false, nil)
		r.commit(0, 3, "e1", 0) // punched offline from a roster file, say
		stop, _ := r.run(t.Context())
		defer stop()
		time.Sleep(time.Hour)
		if n := srv.count("POST " + protocol.PathCheckIn); n != 0 {
			t.Errorf("%d check-ins before enrolment", n)
		}
		r.enroll()
		synctest.Wait()
		r.checkAllUp()
		if n := srv.count("POST " + protocol.PathCheckIn); n < 1 {
			t.Error("no check-in after enrolment")
		}
	})
}

func TestUnauthorizedDoesNotSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		r := newRig(t, srv, false, nil)
		r.enroll()
		srv.forget() // the office lost the device
		r.drain()
		stop, _ := r.run(t.Context())
		defer stop()
		for range 30 {
			r.c.Kick()
			time.Sleep(time.Minute)
		}
		if n := srv.count("POST " + protocol.PathCheckIn); n != 2 { // one at enrolment, one refused
			t.Errorf("%d check-ins in 30 minutes after the token was refused, want 2", n)
		}
		var online []bool
		for _, ev := range r.drain() {
			if n, ok := ev.(kiosk.NetChanged); ok {
				online = append(online, n.Net.Online)
			}
		}
		if len(online) != 1 || online[0] {
			t.Errorf("NetChanged online flags %v, want one offline", online)
		}
		if !strings.Contains(r.logs.String(), "enrol the kiosk again") {
			t.Errorf("log does not say to enrol again:\n%s", r.logs)
		}
		time.Sleep(UnauthorizedRetry)
		if n := srv.count("POST " + protocol.PathCheckIn); n != 3 {
			t.Errorf("%d check-ins after an hour more, want 3 (one retry)", n)
		}

		// Enrolled again: back to work at once.
		r.commit(0, 2, "e1", 0)
		r.enroll()
		synctest.Wait()
		r.checkAllUp()
	})
}

func TestDisable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		srv.reject["ghost"] = "unknown employee"
		r := newRig(t, srv, false, nil)
		r.enroll()
		r.commit(0, 12, "e1", 3)
		r.commit(12, 13, "ghost", 0)
		r.commit(13, 20, "e2", 3)
		srv.disableAll()
		// The last transmission fails part-way: a punch batch loses its
		// answer, then a photo upload fails.
		puts, posts := 0, 0
		srv.mu.Lock()
		srv.fault = func(req *http.Request) fault {
			switch {
			case req.Method == http.MethodPost && req.URL.Path == protocol.PathPunches:
				if posts++; posts == 1 {
					return resetAfter
				}
			case req.Method == http.MethodPut:
				if puts++; puts == 3 {
					return fail503
				}
			}
			return noFault
		}
		srv.mu.Unlock()
		r.drain()

		stop, done := r.run(t.Context())
		select {
		case <-done:
			if err := stop(); err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(time.Hour):
			stop()
			t.Fatalf("Run still going an hour after the kiosk was disabled; log:\n%s", r.logs)
		}

		srv.mu.Lock()
		goodbyeP, goodbyePh := srv.goodbyePunches, srv.goodbyePhotos
		srv.mu.Unlock()
		if goodbyeP != 19 || goodbyePh != 6 {
			t.Errorf("at goodbye the server held %d punches and %d photos, want 19 and 6 (everything but the refused one)", goodbyeP, goodbyePh)
		}
		if d, _ := r.q.Device(); !d.Disabled {
			t.Error("queue does not record the kiosk as disabled")
		}
		var disabled bool
		for _, ev := range r.drain() {
			if _, ok := ev.(kiosk.DeviceDisabled); ok {
				disabled = true
			}
		}
		if !disabled {
			t.Error("no DeviceDisabled event")
		}
		st, _ := r.q.Stats()
		if st.Waiting != 0 || st.PhotosWaiting != 0 || st.Rejected != 1 {
			t.Errorf("Stats = %+v, want nothing waiting and the refused punch kept", st)
		}
		// A disabled kiosk does not sync again.
		checkins := srv.count("POST " + protocol.PathCheckIn)
		if err := r.c.Run(t.Context()); err != nil {
			t.Errorf("Run of a disabled kiosk = %v", err)
		}
		if srv.count("POST "+protocol.PathCheckIn) != checkins {
			t.Error("a disabled kiosk checked in again")
		}
	})
}

// The kiosk said goodbye but crashed before recording it: the server
// refuses it as disabled, and the kiosk stops.
func TestGoneAfterGoodbye(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		r := newRig(t, srv, false, nil)
		r.enroll()
		srv.mu.Lock()
		for _, d := range srv.devices {
			d.disabled, d.goodbye = true, true
		}
		srv.mu.Unlock()
		stop, done := r.run(t.Context())
		select {
		case <-done:
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Hour):
			stop()
			t.Fatal("Run did not stop")
		}
		if d, _ := r.q.Device(); !d.Disabled {
			t.Error("not recorded as disabled")
		}
		var disabled bool
		for _, ev := range r.drain() {
			_, ok := ev.(kiosk.DeviceDisabled)
			disabled = disabled || ok
		}
		if !disabled {
			t.Error("no DeviceDisabled event")
		}
	})
}

// Events never block the uploader past its context when nobody reads.
func TestEventsDoNotBlockForever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newFakeServer(t)
		r := newRig(t, srv, false, func(o *Options) { o.Events = make(chan kiosk.Event) }) // nobody reads
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if p := r.c.Enroll(ctx, srv.code); p != kiosk.EnrollOK {
			t.Fatalf("Enroll = %q", p)
		}
		stop, done := r.run(ctx)
		defer stop()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			t.Fatal("Run blocked on an unread event after its context ended")
		}
	})
}
