package kiosk

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

// The test roster: one of each kind of employee the stories need.
//
//	1001 Ana Ruiz    PIN 1111  foreman: FaceFront on, Clock For on
//	1002 Ben Cole    PIN 2222  worker:  FaceFront on
//	1003 Carla Diaz  PIN 3333  office:  FaceFront off
//	1004 Dan Eng     PIN 4444  worker, no photo consent
//	1005 Eva Fox     PIN 5555  inactive
//	1006 Luis Mora   PIN 6666  worker, prefers Spanish
func testRoster(t testing.TB) *roster.Roster {
	t.Helper()
	kdf := roster.KDF{Salt: []byte("test-salt-123456"), Iterations: roster.MinIterations}
	roles := []roster.Role{
		{ID: "foreman", Name: "Foreman", FaceFront: true, ClockFor: true},
		{ID: "worker", Name: "Worker", FaceFront: true},
		{ID: "office", Name: "Office"},
	}
	emp := func(num, name, role, pin string, consent, active bool, lang roster.Lang) roster.Employee {
		return roster.Employee{ID: "e" + num, Number: num, Name: name, RoleID: role, Active: active,
			PhotoConsent: consent, Language: lang, PINHash: roster.HashPIN(kdf, pin)}
	}
	r, err := roster.New("test-1", kdf, roster.Settings{Nickname: "Main St trailer", Timezone: "America/Chicago"}, roles, []roster.Employee{
		emp("1001", "Ana Ruiz", "foreman", "1111", true, true, ""),
		emp("1002", "Ben Cole", "worker", "2222", true, true, ""),
		emp("1003", "Carla Diaz", "office", "3333", true, true, ""),
		emp("1004", "Dan Eng", "worker", "4444", false, true, ""),
		emp("1005", "Eva Fox", "worker", "5555", true, false, ""),
		emp("1006", "Luis Mora", "worker", "6666", true, true, roster.Spanish),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var chicago, _ = time.LoadLocation("America/Chicago")

// start is 7:02:00 AM on a Sunday in Chicago.
var start = time.Date(2026, 11, 22, 7, 2, 0, 0, chicago)

// kt drives the machine the way the runner does and records what it did.
type kt struct {
	t           *testing.T
	s           State
	now         time.Time
	fx          []Effect // effects of the last step
	all         []Effect // every effect so far
	jpeg        []byte
	seq         int64
	commits     []Commit // every commit the runner answered with success
	lastCommit  *Commit
	lastCapture *Capture
}

func newKT(t *testing.T, s State) *kt {
	return &kt{t: t, s: s, now: start, jpeg: []byte("\xff\xd8 fake jpeg \xff\xd9")}
}

func ready(t *testing.T) *kt {
	return newKT(t, New(Ready, testRoster(t), nil, punch.PhotoTaken, Net{}, start))
}

func (k *kt) ev(e Event) {
	k.t.Helper()
	k.s, k.fx = Step(k.s, e, k.now)
	k.all = append(k.all, k.fx...)
	for _, f := range k.fx {
		switch f := f.(type) {
		case Commit:
			k.lastCommit = &f
		case Capture:
			k.lastCapture = &f
		}
	}
}

// act is one step of a story.
type act func(k *kt)

func run(t *testing.T, k *kt, acts ...act) {
	t.Helper()
	for _, a := range acts {
		a(k)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// keys presses each key of s in turn.
func keys(s string) act {
	return func(k *kt) {
		k.t.Helper()
		k.all = k.all[:0]
		for _, c := range s {
			key, ok := ParseKey(c)
			if !ok {
				k.t.Fatalf("bad key %q in script", c)
			}
			k.ev(KeyPress{key})
		}
	}
}

// wait lets d pass, ticking at every deadline the machine asks for.
func wait(d time.Duration) act {
	return func(k *kt) {
		k.t.Helper()
		end := k.now.Add(d)
		k.all = k.all[:0]
		for i := 0; ; i++ {
			dl := k.s.Deadline()
			if dl.IsZero() || dl.After(end) {
				break
			}
			if dl.After(k.now) {
				k.now = dl
			}
			k.ev(Tick{})
			if i > 100000 {
				k.t.Fatal("deadline never moves forward")
			}
		}
		k.now = end
	}
}

func event(e Event) act { return func(k *kt) { k.t.Helper(); k.all = k.all[:0]; k.ev(e) } }

// screen checks the screen's name and that each text appears on it.
func screen(name string, texts ...string) act {
	return func(k *kt) {
		k.t.Helper()
		sc := k.s.Screen(k.now)
		if sc.Name != name {
			k.t.Errorf("screen = %s, want %s\n%s", sc.Name, name, dump(sc))
			return
		}
		all := dump(sc)
		for _, txt := range texts {
			if !strings.Contains(all, txt) {
				k.t.Errorf("screen %s lacks %q:\n%s", name, txt, all)
			}
		}
	}
}

// noText checks that no text on the screen contains any of texts.
func noText(texts ...string) act {
	return func(k *kt) {
		k.t.Helper()
		all := dump(k.s.Screen(k.now))
		for _, txt := range texts {
			if strings.Contains(all, txt) {
				k.t.Errorf("screen shows %q:\n%s", txt, all)
			}
		}
	}
}

func dump(sc Screen) string {
	return fmt.Sprintf("[%s] title=%q big=%q lines=%q icon=%q hints=%q status=%q photo=%d",
		sc.Name, sc.Title, sc.Big, sc.Lines, sc.Icon, sc.Hints, sc.Status, len(sc.Photo))
}

// emitted checks that the last act emitted an effect of each given type.
func emitted(want ...Effect) act {
	return func(k *kt) {
		k.t.Helper()
		for _, w := range want {
			found := false
			for _, e := range k.all {
				if reflect.TypeOf(e) == reflect.TypeOf(w) {
					found = true
				}
			}
			if !found {
				k.t.Errorf("no %T among effects %#v", w, k.all)
			}
		}
	}
}

// notEmitted checks that the last act emitted no effect of the given types.
func notEmitted(not ...Effect) act {
	return func(k *kt) {
		k.t.Helper()
		for _, n := range not {
			for _, e := range k.all {
				if reflect.TypeOf(e) == reflect.TypeOf(n) {
					k.t.Errorf("unexpected %#v", e)
				}
			}
		}
	}
}

func lastOf[T Effect](k *kt) (T, bool) {
	var zero T
	for i := len(k.all) - 1; i >= 0; i-- {
		if e, ok := k.all[i].(T); ok {
			return e, true
		}
	}
	return zero, false
}

// photo answers the last Capture with a photo.
func photo() act {
	return func(k *kt) {
		k.t.Helper()
		c := k.lastCapture
		if c == nil {
			k.t.Fatalf("no Capture effect to answer")
		}
		k.all = k.all[:0]
		k.ev(PhotoTaken{Ref: c.Ref, JPEG: k.jpeg})
	}
}

func photoFails(reason punch.NoPhoto) act {
	return func(k *kt) {
		k.t.Helper()
		c := k.lastCapture
		if c == nil {
			k.t.Fatalf("no Capture effect to answer")
		}
		k.all = k.all[:0]
		k.ev(PhotoFailed{Ref: c.Ref, Reason: reason})
	}
}

// pendingCommit finds the Commit effect of the last act.
func (k *kt) pendingCommit() Commit {
	k.t.Helper()
	if k.lastCommit == nil {
		k.t.Fatalf("no Commit effect so far")
	}
	return *k.lastCommit
}

// commitOK stores the last Commit the way the queue does and answers.
func commitOK() act {
	return func(k *kt) {
		k.t.Helper()
		c := k.pendingCommit()
		out := make([]punch.Punch, len(c.Punches))
		for i, p := range c.Punches {
			k.seq++
			p.Seq = k.seq
			p.ID = fmt.Sprintf("id-%d", k.seq)
			out[i] = p
		}
		k.commits = append(k.commits, c)
		k.all = k.all[:0]
		k.ev(Committed{Ref: c.Ref, Punches: out})
	}
}

func commitFails(diskFull bool) act {
	return func(k *kt) {
		k.t.Helper()
		c := k.pendingCommit()
		k.all = k.all[:0]
		k.ev(CommitFailed{Ref: c.Ref, DiskFull: diskFull})
	}
}

// enrolled answers the last Enroll effect.
func enrolled(p EnrollProblem) act {
	return func(k *kt) {
		k.t.Helper()
		e, ok := lastOf[Enroll](k)
		if !ok {
			k.t.Fatalf("no Enroll effect to answer; effects %#v", k.all)
		}
		k.all = k.all[:0]
		k.ev(Enrolled{Ref: e.Ref, Problem: p})
	}
}

// check runs an arbitrary assertion.
func check(f func(k *kt)) act { return f }

// committed checks the punches of the last successful commit.
func committed(want ...punch.Punch) act {
	return func(k *kt) {
		k.t.Helper()
		if len(k.commits) == 0 {
			k.t.Fatal("nothing committed")
		}
		got := k.commits[len(k.commits)-1].Punches
		if len(got) != len(want) {
			k.t.Fatalf("committed %d punches, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.EmployeeID != w.EmployeeID || g.Direction != w.Direction || g.NoPhoto != w.NoPhoto || g.ClockedBy != w.ClockedBy {
				k.t.Errorf("punch %d = %+v, want employee %s %s noPhoto=%q clockedBy=%q", i, g, w.EmployeeID, w.Direction, w.NoPhoto, w.ClockedBy)
			}
			if !w.At.IsZero() && !g.At.Equal(w.At) {
				k.t.Errorf("punch %d at %v, want %v", i, g.At, w.At)
			}
			// Every punch names the roster it was made under, for the
			// office to judge Clock For by.
			if k.s.Roster != nil && g.RosterVersion != k.s.Roster.Version {
				k.t.Errorf("punch %d roster version %q, want the kiosk's %q", i, g.RosterVersion, k.s.Roster.Version)
			}
		}
	}
}

func statusIn(id string, d punch.Direction, at time.Time) map[string]LastPunch {
	return map[string]LastPunch{id: {Direction: d, At: at}}
}
