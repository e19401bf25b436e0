package kiosk

import (
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
)

var msgID = regexp.MustCompile(`^[a-z_]+\.[a-z_.]+$`)

// TestRandomKeys presses tens of thousands of random keys, interleaved with
// time passing, camera and network changes and answers (good, bad and
// stale) to the machine's effects. The kiosk must never panic, never show
// "saved" except right after a commit succeeded, never show a raw message
// ID, and must always come back to idle once the keys stop.
func TestRandomKeys(t *testing.T) {
	n := 50000
	if testing.Short() {
		n = 5000
	}
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7))
		k := ready(t)
		if seed == 4 {
			// A new kiosk: setup codes, enrolment, then a roster.
			k = newKT(t, New(Unprovisioned, nil, nil, punch.PhotoTaken, Net{}, start))
		}
		list := testRoster(t)
		const keyset = "0123456789#*iofl1111222233334444"
		var capture, commit, enroll []Event
		for i := 0; i < n; i++ {
			var ev Event
			switch r := rng.IntN(100); {
			case r < 70:
				ev = KeyPress{Key(keyset[rng.IntN(len(keyset))])}
			case r < 82:
				k.now = k.now.Add(time.Duration(rng.IntN(8000)) * time.Millisecond)
				ev = Tick{}
			case r < 88 && len(capture) > 0:
				ev, capture = capture[0], capture[1:]
			case r < 94 && len(commit) > 0:
				ev, commit = commit[0], commit[1:]
			case r < 95:
				ev = CameraChanged{[]punch.NoPhoto{punch.PhotoTaken, punch.NoCamera, punch.CameraError, punch.CameraPermission}[rng.IntN(4)]}
			case r < 96:
				ev = Badge{[]string{"1001", "1002", "1003", "1005", "777", ""}[rng.IntN(6)]}
			case r < 97:
				ev = NetChanged{Net{Online: rng.IntN(2) == 0, Waiting: rng.IntN(100), LastSync: k.now.Add(-time.Hour)}}
			case r < 98 && len(enroll) > 0:
				ev, enroll = enroll[0], enroll[1:]
			case r < 98:
				ev = RosterLoaded{Roster: list, Status: k.s.Status}
			case seed == 3 && i == n/2:
				ev = DeviceDisabled{} // the second half on a disabled kiosk
			default:
				k.now = k.now.Add(time.Duration(rng.IntN(20)) * time.Minute)
				ev = Tick{}
			}
			before := k.s.Screen(k.now).Name
			k.ev(ev)
			sc := k.s.Screen(k.now)
			if sc.Name == "" {
				t.Fatalf("seed %d step %d: screen without a name after %#v", seed, i, ev)
			}
			for _, txt := range append(append([]string{sc.Title, sc.Big}, sc.Lines...), sc.Hints...) {
				if msgID.MatchString(txt) {
					t.Fatalf("seed %d step %d: screen shows message ID %q", seed, i, txt)
				}
			}
			if sc.Name == ScreenSaved && before != ScreenSaved {
				switch ev.(type) {
				case Committed, Tick:
				default:
					t.Fatalf("seed %d step %d: saved screen after %#v", seed, i, ev)
				}
			}
			for _, f := range k.fx {
				switch f := f.(type) {
				case Capture:
					if rng.IntN(3) == 0 {
						capture = append(capture, PhotoFailed{Ref: f.Ref, Reason: punch.CameraError})
					} else {
						capture = append(capture, PhotoTaken{Ref: f.Ref, JPEG: k.jpeg})
					}
				case Enroll:
					p := []EnrollProblem{EnrollOK, EnrollWrongCode, EnrollExpired, EnrollUnreachable}[rng.IntN(4)]
					enroll = append(enroll, Enrolled{Ref: f.Ref, Problem: p})
				case Commit:
					if len(f.Punches) == 0 {
						t.Fatalf("seed %d step %d: empty commit", seed, i)
					}
					if rng.IntN(4) == 0 {
						commit = append(commit, CommitFailed{Ref: f.Ref, DiskFull: rng.IntN(2) == 0})
					} else {
						commit = append(commit, Committed{Ref: f.Ref, Punches: f.Punches})
					}
				}
			}
		}
		// Keys stop. Answer what is pending (a failed commit is given up
		// with * as a worker would), then let time pass.
		for _, ev := range append(append(capture, commit...), enroll...) {
			k.ev(ev)
		}
		for i := 0; i < 10; i++ {
			if c := k.lastCommit; c != nil && k.s.phase == phSaving {
				k.ev(Committed{Ref: c.Ref, Punches: c.Punches})
			}
			if c := k.lastCapture; c != nil && k.s.phase == phCapturing {
				k.ev(PhotoTaken{Ref: c.Ref, JPEG: k.jpeg})
			}
			if k.s.phase == phNotSaved {
				k.ev(KeyPress{KeyClear})
			}
			run(t, k, wait(20*time.Minute))
		}
		want := ScreenIdle
		switch k.s.Mode {
		case Disabled:
			want = ScreenDisabled
		case Unprovisioned:
			want = ScreenSetupCode
		}
		if sc := k.s.Screen(k.now); sc.Name != want || !k.s.AtRest() {
			t.Errorf("seed %d: not back at idle once the keys stopped: %s", seed, dump(sc))
		}
	}
}
