package kiosk

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

func TestIdle(t *testing.T) {
	k := ready(t)
	run(t, k,
		screen(ScreenIdle, "Main St trailer", "7:02 AM", "Sunday, November 22", "Offline · 0 waiting · never synced", "Enter your PIN"),
		check(func(k *kt) {
			if want := start.Add(time.Minute); !k.s.Deadline().Equal(want) {
				t.Errorf("idle wakes at %v, want the next minute %v", k.s.Deadline(), want)
			}
		}),
		wait(time.Minute),
		screen(ScreenIdle, "7:03 AM"),
		event(NetChanged{Net{Online: true, Waiting: 12, LastSync: start.Add(time.Minute)}}),
		screen(ScreenIdle, "Online · 12 waiting · last sync 7:03 AM"),
		event(NetChanged{Net{Online: false, Waiting: 3, LastSync: start.Add(-24 * time.Hour)}}),
		screen(ScreenIdle, "Offline · 3 waiting · last sync Nov 21 7:02 AM"),
		event(CameraChanged{punch.CameraPermission}),
		screen(ScreenIdle, "camera: permission denied"),
	)
}

func TestWorkerPunch(t *testing.T) {
	tests := []struct {
		name string
		s    func(t *testing.T) State
		acts []act
	}{{
		name: "office worker types PIN, is greeted, presses # for IN and sees it saved",
		acts: []act{
			keys("3333"), screen(ScreenPIN, "••••"), noText("3333"),
			keys("#"), screen(ScreenGreet, "Hello, Carla Diaz", "No punches yet", "# IN", "o OUT"),
			keys("#"), screen(ScreenSaving, "Saving"), notEmitted(Capture{}),
			commitOK(), committed(punch.Punch{EmployeeID: "e1003", Direction: punch.In, NoPhoto: punch.RoleFaceFrontOff, At: start}),
			screen(ScreenSaved, "Carla Diaz", "Clocked IN 7:02 AM", "Saved"), emitted(Sound{SoundSaved}),
			wait(3 * time.Second), screen(ScreenIdle),
		},
	}, {
		name: "worker who is IN is offered OUT first",
		s: func(t *testing.T) State {
			return New(Ready, testRoster(t), statusIn("e1003", punch.In, start.Add(-time.Hour)), punch.PhotoTaken, Net{}, start)
		},
		acts: []act{
			keys("3333#"), screen(ScreenGreet, "IN since 6:02 AM", "# OUT", "i IN"),
			keys("#"), commitOK(), committed(punch.Punch{EmployeeID: "e1003", Direction: punch.Out, NoPhoto: punch.RoleFaceFrontOff}),
			screen(ScreenSaved, "Clocked OUT 7:02 AM"),
		},
	}, {
		name: "status from an earlier day shows its date",
		s: func(t *testing.T) State {
			return New(Ready, testRoster(t), statusIn("e1003", punch.Out, start.Add(-15*time.Hour)), punch.PhotoTaken, Net{}, start)
		},
		acts: []act{keys("3333#"), screen(ScreenGreet, "OUT since Nov 21 4:02 PM", "# IN")},
	}, {
		name: "punching IN while IN asks first; * goes back, # punches",
		s: func(t *testing.T) State {
			return New(Ready, testRoster(t), statusIn("e1003", punch.In, start.Add(-time.Hour)), punch.PhotoTaken, Net{}, start)
		},
		acts: []act{
			keys("3333#i"), screen(ScreenConfirm, "Already IN", "You are IN since 6:02 AM. Punch IN again?", "# Yes", "* No"), notEmitted(Commit{}),
			keys("*"), screen(ScreenGreet),
			keys("i#"), screen(ScreenSaving), commitOK(), committed(punch.Punch{EmployeeID: "e1003", Direction: punch.In, NoPhoto: punch.RoleFaceFrontOff}),
			screen(ScreenSaved, "Clocked IN"),
		},
	}, {
		name: "IN pressed before the PIN punches straight away",
		acts: []act{
			keys("i"), screen(ScreenPIN, "Clock IN: enter your PIN"),
			keys("3333#"), screen(ScreenSaving), commitOK(),
			committed(punch.Punch{EmployeeID: "e1003", Direction: punch.In, NoPhoto: punch.RoleFaceFrontOff}),
		},
	}, {
		name: "OUT pressed after the PIN punches OUT",
		acts: []act{keys("3333o"), screen(ScreenSaving), commitOK(), committed(punch.Punch{EmployeeID: "e1003", Direction: punch.Out, NoPhoto: punch.RoleFaceFrontOff})},
	}, {
		name: "* clears a digit, and on an empty PIN goes back to idle",
		acts: []act{
			keys("33"), screen(ScreenPIN, "••"), keys("*"), screen(ScreenPIN, "•"),
			keys("**"), screen(ScreenIdle), emitted(CameraOff{}),
		},
	}, {
		name: "a ninth digit is refused with an error beep",
		acts: []act{keys("12345678"), keys("9"), emitted(Sound{SoundError}), screen(ScreenPIN, "••••••••"), noText("•••••••••")},
	}, {
		name: "typing starts the camera and returning to idle stops it",
		acts: []act{keys("2"), emitted(CameraOn{}), keys("*"), keys("*"), emitted(CameraOff{})},
	}, {
		name: "the next worker can type over the saved screen, once it has been seen",
		acts: []act{
			keys("3333##"), commitOK(), screen(ScreenSaved),
			keys("2"), screen(ScreenSaved), // a key pressed while saving, or a bounce, must not hide "Saved"
			wait(SavedMinimum), keys("2"), screen(ScreenPIN, "•"), noText("••"),
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := ready(t)
			if tc.s != nil {
				k = newKT(t, tc.s(t))
			}
			run(t, k, tc.acts...)
		})
	}
}

func TestWrongPIN(t *testing.T) {
	t.Run("unknown and inactive PINs look the same", func(t *testing.T) {
		unknown := ready(t)
		run(t, unknown, keys("9999#"), screen(ScreenMessage, "PIN not recognized", "Try again."), emitted(Sound{SoundError}))
		inactive := ready(t)
		run(t, inactive, keys("5555#"))
		if a, b := unknown.s.Screen(start), inactive.s.Screen(start); !a.Equal(b) {
			t.Errorf("inactive employee's PIN shows\n%s\nunknown PIN shows\n%s", dump(b), dump(a))
		}
		run(t, unknown, noText("Ana", "Ben", "Carla", "Dan", "Eva", "Luis"))
	})
	t.Run("too short a PIN is just not recognized", func(t *testing.T) {
		run(t, ready(t), keys("12#"), screen(ScreenMessage, "PIN not recognized"))
	})
	t.Run("after the message the worker types again", func(t *testing.T) {
		run(t, ready(t), keys("9999#"), wait(3*time.Second), screen(ScreenPIN), keys("3333#"), screen(ScreenGreet, "Carla"))
	})
	t.Run("a digit dismisses the message and counts", func(t *testing.T) {
		run(t, ready(t), keys("9999#3"), screen(ScreenPIN, "•"), keys("333#"), screen(ScreenGreet, "Carla"))
	})
	t.Run("wrong PINs long ago do not count towards a lockout", func(t *testing.T) {
		k := ready(t)
		run(t, k, keys(strings.Repeat("9999#", 4)), wait(WrongPINMemory+time.Minute),
			keys("9999#"), screen(ScreenMessage, "PIN not recognized"),
			keys(strings.Repeat("9999#", 3)), screen(ScreenMessage), keys("9999#"), screen(ScreenLocked))
	})
	t.Run("five wrong PINs lock the keypad with a countdown that doubles", func(t *testing.T) {
		k := ready(t)
		wrong := strings.Repeat("9999#", 5)
		run(t, k,
			keys(strings.Repeat("9999#", 4)), screen(ScreenMessage, "PIN not recognized"),
			keys("9999#"), screen(ScreenLocked, "Keypad locked", "0:30"), emitted(CameraOff{}),
			keys("3333#"), screen(ScreenLocked, "0:30"), notEmitted(Commit{}),
			wait(10*time.Second), screen(ScreenLocked, "0:20"),
			wait(20*time.Second), screen(ScreenIdle),
			// The right PIN works again at once…
			keys(wrong[:20]), keys("3333#"), screen(ScreenGreet), keys("*"),
		)
		// …and resets the doubling: five wrong lock for 30 s again.
		run(t, k, keys(wrong), screen(ScreenLocked, "0:30"), wait(30*time.Second))
		for _, want := range []string{"1:00", "2:00", "4:00", "8:00", "15:00", "15:00"} {
			run(t, k, keys(wrong), screen(ScreenLocked, want))
			run(t, k, check(func(k *kt) {
				if d := k.s.LockedFor(k.now); d.String() != map[string]string{"1:00": "1m0s", "2:00": "2m0s", "4:00": "4m0s", "8:00": "8m0s", "15:00": "15m0s"}[want] {
					t.Errorf("locked for %v, screen says %s", d, want)
				}
			}), wait(15*time.Minute), screen(ScreenIdle))
		}
	})
}

func TestFaceFront(t *testing.T) {
	t.Run("photo: look at the camera, countdown, capture, preview, then saved", func(t *testing.T) {
		k := ready(t)
		run(t, k,
			keys("2222#"), screen(ScreenGreet, "Hello, Ben Cole"),
			keys("#"), screen(ScreenCamera, "Look at the camera", "3"), notEmitted(Capture{}, Commit{}),
			wait(time.Second), screen(ScreenCamera, "2"),
			wait(time.Second), screen(ScreenCamera, "1"),
			wait(time.Second), emitted(Capture{}), screen(ScreenCamera, "Taking photo"),
			photo(), screen(ScreenPreview, "Saving"), emitted(Commit{}),
			check(func(k *kt) {
				sc := k.s.Screen(k.now)
				if !bytes.Equal(sc.Photo, k.jpeg) {
					t.Errorf("preview shows %q, want the captured photo", sc.Photo)
				}
				c := k.pendingCommit()
				if !bytes.Equal(c.Photo, k.jpeg) || len(c.Punches) != 1 || c.Punches[0].NoPhoto != punch.PhotoTaken {
					t.Errorf("commit = %+v, want one punch with the photo", c)
				}
			}),
			// Saved means saved: however long the commit takes, no "saved".
			wait(10*time.Second), screen(ScreenPreview), noText("Clocked"),
			commitOK(), screen(ScreenSaved, "Clocked IN 7:02 AM", "Saved", "Photo saved"),
			committed(punch.Punch{EmployeeID: "e1002", Direction: punch.In, NoPhoto: punch.PhotoTaken, At: start}),
		)
	})
	t.Run("a fast commit still shows the photo for a moment", func(t *testing.T) {
		run(t, ready(t), keys("2222##"), wait(3*time.Second), photo(), commitOK(),
			screen(ScreenPreview), wait(1500*time.Millisecond), screen(ScreenSaved, "Photo saved"))
	})
	// Each reason a punch has no photo: the prompt is skipped (or the
	// punch goes on) and the punch records why.
	for _, tc := range []struct {
		name   string
		pin    string
		camera punch.NoPhoto
		fail   punch.NoPhoto // capture fails with this; "" = no capture expected
		hang   bool          // the camera never answers
		want   punch.NoPhoto
		line   string
	}{
		{name: "role has FaceFront off", pin: "3333", want: punch.RoleFaceFrontOff},
		{name: "no photo consent", pin: "4444", want: punch.NoConsent},
		{name: "no camera", pin: "2222", camera: punch.NoCamera, want: punch.NoCamera, line: "No photo: camera not available"},
		{name: "camera permission denied", pin: "2222", camera: punch.CameraPermission, want: punch.CameraPermission, line: "No photo: camera access denied"},
		{name: "camera in error", pin: "2222", camera: punch.CameraError, want: punch.CameraError, line: "No photo: the camera failed"},
		{name: "capture fails", pin: "2222", fail: punch.CameraError, want: punch.CameraError, line: "No photo: the camera failed"},
		{name: "camera unplugged during capture", pin: "2222", fail: punch.NoCamera, want: punch.NoCamera},
		{name: "capture never answers", pin: "2222", hang: true, want: punch.CameraError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKT(t, New(Ready, testRoster(t), nil, tc.camera, Net{}, start))
			run(t, k, keys(tc.pin+"##"))
			if tc.fail != "" || tc.hang {
				run(t, k, screen(ScreenCamera), wait(3*time.Second), emitted(Capture{}))
				if tc.hang {
					run(t, k, wait(CaptureTimeout))
				} else {
					run(t, k, photoFails(tc.fail))
				}
			} else {
				run(t, k, notEmitted(Capture{}))
			}
			run(t, k, screen(ScreenSaving), commitOK(),
				committed(punch.Punch{EmployeeID: k.s.emp.ID, Direction: punch.In, NoPhoto: tc.want, At: start}),
				screen(ScreenSaved, "Clocked IN", tc.line), noText("Photo saved"))
			if got := k.commits[0].Photo; got != nil {
				t.Errorf("commit carries a photo: %q", got)
			}
		})
	}
	t.Run("a late photo after the timeout is ignored", func(t *testing.T) {
		k := ready(t)
		run(t, k, keys("2222##"), wait(3*time.Second))
		c, _ := lastOf[Capture](k)
		run(t, k, wait(CaptureTimeout), screen(ScreenSaving), event(PhotoTaken{Ref: c.Ref, JPEG: k.jpeg}), screen(ScreenSaving), notEmitted(Commit{}))
	})
}

func TestNotSaved(t *testing.T) {
	t.Run("full disk: NOT saved, what to do, and a retry that saves", func(t *testing.T) {
		k := ready(t)
		run(t, k, keys("2222##"), wait(3*time.Second), photo())
		first := k.pendingCommit()
		run(t, k, commitFails(true),
			screen(ScreenNotSaved, "Punch NOT saved", "storage is full", "Write down your time", "# Try again"),
			emitted(Sound{SoundError}), noText("Clocked"),
			keys("#"), screen(ScreenSaving),
			check(func(k *kt) {
				again := k.pendingCommit()
				if again.Ref == first.Ref || !bytes.Equal(again.Photo, first.Photo) || !again.Punches[0].At.Equal(first.Punches[0].At) {
					t.Errorf("retry = %+v, want the same punch and photo as %+v under a new ref", again, first)
				}
			}),
			commitOK(), screen(ScreenSaved, "Clocked IN 7:02 AM"))
	})
	t.Run("other failure says try again; * gives up; timeout too", func(t *testing.T) {
		run(t, ready(t), keys("3333##"), commitFails(false), screen(ScreenNotSaved, "could not save it"), keys("*"), screen(ScreenIdle))
		run(t, ready(t), keys("3333##"), commitFails(false), wait(20*time.Second), screen(ScreenIdle))
	})
	t.Run("a retry resends the punches as the runner stamped them", func(t *testing.T) {
		k := ready(t)
		run(t, k, keys("3333##"))
		c := k.pendingCommit()
		stamped := append([]punch.Punch(nil), c.Punches...)
		stamped[0].ID, stamped[0].BootID = "uuid-1", "boot-1"
		run(t, k, event(CommitFailed{Ref: c.Ref, Punches: stamped}), keys("#"), check(func(k *kt) {
			if p := k.pendingCommit().Punches[0]; p.ID != "uuid-1" || p.BootID != "boot-1" {
				t.Errorf("retry sends %+v, want the stamped punch", p)
			}
		}))
	})
	t.Run("a stale answer to an old commit is ignored", func(t *testing.T) {
		k := ready(t)
		run(t, k, keys("3333##"))
		old := k.pendingCommit()
		run(t, k, commitFails(false), keys("#"), event(Committed{Ref: old.Ref}), screen(ScreenSaving))
	})
}

func TestClockFor(t *testing.T) {
	crewIn := func(by string, ids ...string) []punch.Punch {
		var ps []punch.Punch
		for _, id := range ids {
			ps = append(ps, punch.Punch{EmployeeID: id, Direction: punch.In, NoPhoto: punch.ClockFor, ClockedBy: by})
		}
		return ps
	}
	tests := []struct {
		name string
		acts []act
	}{{
		name: "foreman clocks in two crew members: names as added, confirmation, one commit, no photos",
		acts: []act{
			keys("1111f"), screen(ScreenCrew, "Clock For: add crew", "Employee number", "Crew: 0"), emitted(CameraOff{}),
			keys("1002#"), screen(ScreenCrew, "Crew: 1", "Ben Cole", "+ Ben Cole"),
			keys("1003#"), screen(ScreenCrew, "Crew: 2", "Carla Diaz"),
			keys("i"), screen(ScreenCrewConfirm, "Clock IN 2 people?", "Ben Cole", "Carla Diaz", "# Confirm"), notEmitted(Commit{}),
			keys("#"), screen(ScreenSaving), notEmitted(Capture{}),
			check(func(k *kt) {
				if c := k.pendingCommit(); c.Photo != nil || len(c.Punches) != 2 {
					t.Errorf("crew commit = %+v, want 2 punches in one commit and no photo", c)
				}
			}),
			commitOK(), committed(crewIn("e1001", "e1002", "e1003")...),
			screen(ScreenSaved, "2 clocked IN 7:02 AM", "Ben Cole", "Carla Diaz", "Recorded by Ana Ruiz"),
		},
	}, {
		name: "unknown, inactive, duplicate and own numbers are rejected",
		acts: []act{
			keys("1111f9999#"), screen(ScreenCrew, "No employee number 9999", "Crew: 0"), emitted(Sound{SoundError}),
			keys("1005#"), screen(ScreenCrew, "No employee number 1005"),
			keys("1002#1002#"), screen(ScreenCrew, "Ben Cole is already in the crew", "Crew: 1"),
			keys("1001#"), screen(ScreenCrew, "That is you", "Crew: 1"),
		},
	}, {
		name: "IN with no crew is refused",
		acts: []act{keys("1111fi"), screen(ScreenCrew, "Add at least one crew member first"), notEmitted(Commit{})},
	}, {
		name: "a typed number followed by OUT is added and chosen",
		acts: []act{keys("1111f1002o"), screen(ScreenCrewConfirm, "Clock OUT 1 people?", "Ben Cole")},
	}, {
		name: "* removes digits, then crew members, then leaves",
		acts: []act{
			keys("1111f1002#1003#10"), keys("**"), screen(ScreenCrew, "Crew: 2"),
			keys("*"), screen(ScreenCrew, "Crew: 1"), noText("Carla"),
			keys("**"), screen(ScreenIdle),
		},
	}, {
		name: "from the confirmation * goes back to the crew",
		acts: []act{keys("1111f1002#i*"), screen(ScreenCrew, "Crew: 1"), keys("o#"), commitOK(), screen(ScreenSaved, "clocked OUT")},
	}, {
		name: "Clock For chosen at idle before the PIN",
		acts: []act{keys("f"), screen(ScreenPIN, "Clock For: enter your PIN"), keys("1111#"), screen(ScreenCrew)},
	}, {
		name: "Clock For chosen from the greeting",
		acts: []act{keys("1111#"), screen(ScreenGreet, "f Clock For"), keys("f"), screen(ScreenCrew)},
	}, {
		name: "a worker without Clock For is not allowed",
		acts: []act{
			keys("2222#"), noText("Clock For"), keys("f"), screen(ScreenMessage, "Not allowed", "cannot Clock For"), emitted(Sound{SoundError}),
			wait(3 * time.Second), screen(ScreenIdle),
			keys("2222f"), screen(ScreenMessage, "Not allowed"),
			// IN pressed on the message does what it says.
			keys("i"), screen(ScreenPIN, "Clock IN: enter your PIN"),
		},
	}, {
		name: "crew members already IN are marked on the confirmation",
		acts: []act{
			keys("1111f1002#i#"), commitOK(), wait(3 * time.Second),
			keys("1111f1002#1003#i"), screen(ScreenCrewConfirm, "Ben Cole (already IN)", "Carla Diaz"), noText("Carla Diaz (already"),
		},
	}, {
		name: "a failed crew commit saves none and can be retried",
		acts: []act{
			keys("1111f1002#1003#i#"), commitFails(false), screen(ScreenNotSaved, "Punch NOT saved"),
			keys("#"), check(func(k *kt) {
				if c := k.pendingCommit(); len(c.Punches) != 2 {
					t.Errorf("retry carries %d punches, want the whole crew", len(c.Punches))
				}
			}),
			commitOK(), screen(ScreenSaved, "2 clocked IN"),
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { run(t, ready(t), tc.acts...) })
	}
	t.Run("crew full", func(t *testing.T) {
		k := ready(t)
		run(t, k, keys("1111f"))
		for i := 0; i < MaxCrew; i++ {
			k.s.crew = append(k.s.crew, roster.Employee{ID: fmt.Sprint("x", i), Name: fmt.Sprint("X", i)})
		}
		run(t, k, keys("1002#"), screen(ScreenCrew, fmt.Sprintf("A crew has at most %d people", MaxCrew), fmt.Sprintf("Crew: %d", MaxCrew), "… and"))
	})
}

func TestProvisioning(t *testing.T) {
	k := newKT(t, New(Unprovisioned, nil, nil, punch.PhotoTaken, Net{}, start))
	run(t, k,
		screen(ScreenSetupCode, "Enter setup code", "Devices page"),
		keys("12"), screen(ScreenSetupCode, "12"), keys("#"), screen(ScreenMessage, "at least 4 digits"),
		wait(3*time.Second), screen(ScreenSetupCode), noText("12"),
		keys("482913#"), screen(ScreenEnrolling, "Checking setup code"),
		check(func(k *kt) {
			if e, ok := lastOf[Enroll](k); !ok || e.Code != "482913" {
				t.Errorf("Enroll effect = %+v, want code 482913", e)
			}
		}),
		enrolled(EnrollWrongCode), screen(ScreenMessage, "Setup code not accepted"),
		wait(3*time.Second), screen(ScreenSetupCode),
		keys("482913#"), enrolled(EnrollExpired), screen(ScreenMessage, "expired"),
		keys("*"), keys("482913#"), enrolled(EnrollUnreachable), screen(ScreenMessage, "Cannot reach the office"),
		keys("*"), keys("5555#"), enrolled(EnrollOK), screen(ScreenIdle, "Waiting for the employee list"),
		keys("1"), screen(ScreenMessage, "No employee list"), wait(3*time.Second),
		event(RosterLoaded{Roster: testRoster(t)}), screen(ScreenIdle, "Main St trailer"), noText("Waiting for"),
		keys("3333#"), screen(ScreenGreet, "Carla"),
	)
	t.Run("an office that never answers", func(t *testing.T) {
		k := newKT(t, New(Unprovisioned, nil, nil, punch.PhotoTaken, Net{}, start))
		var ref int
		run(t, k, keys("4567#"), check(func(k *kt) { e, _ := lastOf[Enroll](k); ref = e.Ref }),
			wait(EnrollTimeout), screen(ScreenMessage, "Cannot reach the office"),
			wait(3*time.Second), screen(ScreenSetupCode))
		run(t, k, event(Enrolled{Ref: ref}), screen(ScreenSetupCode)) // too late: ignored
	})
	t.Run("a half-typed code is cleared after the timeout", func(t *testing.T) {
		k := newKT(t, New(Unprovisioned, nil, nil, punch.PhotoTaken, Net{}, start))
		run(t, k, keys("123"), wait(20*time.Second), keys("4567#"), check(func(k *kt) {
			if e, _ := lastOf[Enroll](k); e.Code != "4567" {
				t.Errorf("code = %q, want 4567", e.Code)
			}
		}))
	})
	t.Run("an imported roster provisions the kiosk", func(t *testing.T) {
		k := newKT(t, New(Unprovisioned, nil, nil, punch.PhotoTaken, Net{}, start))
		run(t, k, event(RosterLoaded{Roster: testRoster(t)}), screen(ScreenIdle, "Main St trailer"))
	})
}

func TestDisabled(t *testing.T) {
	k := newKT(t, New(Disabled, testRoster(t), nil, punch.PhotoTaken, Net{}, start))
	run(t, k, screen(ScreenDisabled, "This device is disabled", "Contact your office"))
	for _, c := range "3333#io f1l*" {
		if key, ok := ParseKey(c); ok {
			k.ev(KeyPress{key})
			if len(k.fx) != 0 {
				t.Errorf("key %c on a disabled kiosk emitted %#v", c, k.fx)
			}
		}
	}
	run(t, k, screen(ScreenDisabled))

	t.Run("disabled during a session", func(t *testing.T) {
		run(t, ready(t), keys("3333#"), event(DeviceDisabled{}), screen(ScreenDisabled), keys("#"), notEmitted(Commit{}))
	})
	t.Run("disabled on NOT saved: the punch made before may still be retried", func(t *testing.T) {
		run(t, ready(t), keys("3333##"), commitFails(true), event(DeviceDisabled{}), screen(ScreenNotSaved, "# Try again"),
			keys("#"), emitted(Commit{}), commitOK(), screen(ScreenSaved), wait(3*time.Second), screen(ScreenDisabled))
	})
	t.Run("disabled while a punch is saving: the worker still learns it was saved", func(t *testing.T) {
		run(t, ready(t), keys("3333##"), event(DeviceDisabled{}), screen(ScreenSaving),
			commitOK(), screen(ScreenSaved, "Clocked IN"), wait(3*time.Second), screen(ScreenDisabled))
	})
}

func TestTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		at     string
	}{
		{"half-typed PIN", "33", ScreenPIN},
		{"greeting", "3333#", ScreenGreet},
		{"crew entry", "1111f1002#10", ScreenCrew},
		{"crew confirmation", "1111f1002#i", ScreenCrewConfirm},
		{"PIN message", "9999#", ScreenMessage},
		{"greeting in Spanish", "3333#l", ScreenGreet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := ready(t)
			run(t, k, keys(tc.script), screen(tc.at))
			if tc.at == ScreenMessage {
				// The message gives way to the PIN screen, which times out.
				run(t, k, wait(3*time.Second), screen(ScreenPIN))
			}
			if tc.at == ScreenMessage {
				tc.at = ScreenPIN
			}
			run(t, k, wait(19*time.Second), screen(tc.at))
			run(t, k, wait(time.Second), screen(ScreenIdle), emitted(CameraOff{}))
			// The half-typed digits are gone: a fresh PIN works.
			run(t, k, keys("3333#"), screen(ScreenGreet, "Carla"))
		})
	}
	t.Run("same-status confirmation", func(t *testing.T) {
		k := newKT(t, New(Ready, testRoster(t), statusIn("e1003", punch.In, start), punch.PhotoTaken, Net{}, start))
		run(t, k, keys("3333#i"), screen(ScreenConfirm), wait(20*time.Second), screen(ScreenIdle))
	})
	t.Run("each key restarts the timeout", func(t *testing.T) {
		run(t, ready(t), keys("3"), wait(15*time.Second), keys("3"), wait(15*time.Second), keys("33#"), screen(ScreenGreet))
	})
	t.Run("timeout is configurable", func(t *testing.T) {
		r := testRoster(t)
		s := r.Settings
		s.ScreenTimeout = 5 * time.Second
		r2, err := roster.New(r.Version, r.KDF, s, r.Roles(), r.Employees())
		if err != nil {
			t.Fatal(err)
		}
		run(t, newKT(t, New(Ready, r2, nil, punch.PhotoTaken, Net{}, start)), keys("33"), wait(5*time.Second), screen(ScreenIdle))
	})
}

func TestLanguages(t *testing.T) {
	t.Run("the language key switches the session to Spanish and idle goes back", func(t *testing.T) {
		run(t, ready(t),
			keys("3l"), screen(ScreenPIN, "Ingrese su PIN", "# OK", "* Borrar"),
			keys("333#"), screen(ScreenGreet, "Hola, Carla Diaz", "Sin marcas todavía", "# ENTRADA", "o SALIDA"),
			keys("#"), commitOK(), screen(ScreenSaved, "ENTRADA 7:02 a. m.", "Guardado"),
			wait(3*time.Second), screen(ScreenIdle, "Sunday, November 22", "Offline · 0 waiting"),
		)
	})
	t.Run("language chosen at idle lapses if nobody punches", func(t *testing.T) {
		run(t, ready(t), keys("l"), screen(ScreenIdle, "domingo, 22 de noviembre", "Sin conexión"), wait(20*time.Second), screen(ScreenIdle, "Sunday"))
	})
	t.Run("a language chosen at idle and left does not stick to the next worker", func(t *testing.T) {
		run(t, ready(t), keys("l"), wait(25*time.Second), keys("6666#"), screen(ScreenGreet, "Hola, Luis Mora"))
	})
	t.Run("an employee who prefers Spanish is greeted in Spanish", func(t *testing.T) {
		run(t, ready(t), keys("6666#"), screen(ScreenGreet, "Hola, Luis Mora"), keys("l"), screen(ScreenGreet, "Hello, Luis Mora"))
	})
	t.Run("the worker's own choice beats the preference", func(t *testing.T) {
		run(t, ready(t), keys("l"), keys("l"), keys("6666#"), screen(ScreenGreet, "Hello, Luis Mora"))
	})
	t.Run("disabled and setup screens in Spanish", func(t *testing.T) {
		k := newKT(t, New(Unprovisioned, nil, nil, punch.PhotoTaken, Net{}, start))
		run(t, k, keys("l"), screen(ScreenSetupCode, "Ingrese el código de instalación"))
	})
}

// TestCatalog checks that every message exists in every language with the
// same format verbs, and that every message ID used is in the catalog.
func TestCatalog(t *testing.T) {
	for id, texts := range catalog {
		en, ok := texts[roster.English]
		if !ok {
			t.Errorf("%s: no English text", id)
		}
		for _, l := range roster.Langs {
			s, ok := texts[l]
			if !ok || s == "" {
				t.Errorf("%s: no %s text", id, l)
				continue
			}
			if verbs(s) != verbs(en) {
				t.Errorf("%s: %s has verbs %q, English %q", id, l, verbs(s), verbs(en))
			}
		}
	}
	// Message IDs the machine builds at run time.
	var built []Msg
	for _, d := range []punch.Direction{punch.In, punch.Out} {
		built = append(built, Msg("dir."+d), Msg("confirm.again_"+d), Msg("greet."+d+"_since"))
	}
	for _, p := range []EnrollProblem{EnrollWrongCode, EnrollExpired, EnrollRateLimited, EnrollUnreachable, EnrollNoServer, EnrollDisabled} {
		built = append(built, Msg("enroll."+p))
	}
	for _, r := range []punch.NoPhoto{punch.NoCamera, punch.CameraPermission, punch.CameraError} {
		built = append(built, noPhotoLine(r))
	}
	for _, id := range built {
		if _, ok := catalog[id]; !ok {
			t.Errorf("message %s is used but not in the catalog", id)
		}
	}
	if got := T(roster.Spanish, "no.such.message"); got != "no.such.message" {
		t.Errorf("missing message shows %q", got)
	}
}

func verbs(s string) string {
	var out []string
	for i := 0; i < len(s)-1; i++ {
		if s[i] == '%' {
			out = append(out, s[i:i+2])
			i++
		}
	}
	return strings.Join(out, "")
}

func TestPreviewCarriesPhotoRotation(t *testing.T) {
	r := testRoster(t)
	s := r.Settings
	s.PhotoRotation = 270
	r2, err := roster.New(r.Version, r.KDF, s, r.Roles(), r.Employees())
	if err != nil {
		t.Fatal(err)
	}
	k := newKT(t, New(Ready, r2, nil, punch.PhotoTaken, Net{}, start))
	run(t, k, keys("2222##"), wait(3*time.Second), photo(), check(func(k *kt) {
		if sc := k.s.Screen(k.now); sc.Name != ScreenPreview || sc.PhotoRotation != 270 {
			t.Errorf("preview %s rotated %d, want 270 from the settings", sc.Name, sc.PhotoRotation)
		}
	}))
}

// TestUpdate: a software update shows its progress on the idle screen and
// installs only once no one has used the kiosk for UpdateQuiet; never in
// the middle of a punch.
func TestUpdate(t *testing.T) {
	down := event(UpdateChanged{Update{Version: "1.4.0", Percent: 42}})
	readyToInstall := event(UpdateChanged{Update{Version: "1.4.0", Percent: 100, Ready: true}})
	t.Run("progress and install when left alone", func(t *testing.T) {
		run(t, ready(t), down, screen(ScreenIdle, "Downloading update 1.4.0: 42%"), notEmitted(InstallUpdate{}),
			wait(UpdateQuiet), readyToInstall, screen(ScreenUpdating, "Updating…", "Installing version 1.4.0"), emitted(InstallUpdate{}))
	})
	t.Run("waits for quiet after the last key", func(t *testing.T) {
		run(t, ready(t), keys("3333#o"), emitted(Commit{}), commitOK(), wait(3*time.Second),
			readyToInstall, screen(ScreenIdle, "Update 1.4.0 installs when the kiosk is free"), notEmitted(InstallUpdate{}),
			wait(UpdateQuiet-5*time.Second), notEmitted(InstallUpdate{}), screen(ScreenIdle),
			wait(5*time.Second), emitted(InstallUpdate{}), screen(ScreenUpdating))
	})
	t.Run("never during a session", func(t *testing.T) {
		run(t, ready(t), wait(UpdateQuiet), keys("33"), readyToInstall, notEmitted(InstallUpdate{}), screen(ScreenPIN),
			wait(UpdateQuiet), notEmitted(InstallUpdate{}))
	})
	t.Run("the kiosk's own quiet time", func(t *testing.T) {
		k := ready(t)
		k.s.UpdateQuiet = 2 * time.Second
		run(t, k, readyToInstall, notEmitted(InstallUpdate{}), wait(2*time.Second), emitted(InstallUpdate{}))
	})
	t.Run("keys are ignored while updating; a failed install goes back to work", func(t *testing.T) {
		run(t, ready(t), wait(UpdateQuiet), readyToInstall, emitted(InstallUpdate{}), keys("3333#"), screen(ScreenUpdating),
			event(InstallFailed{}), screen(ScreenIdle), noText("Update 1.4.0"), keys("3333#o"), emitted(Commit{}))
	})
}

// TestLockoutOutlivesARestart: the lockout a runner kept is put back at
// start, so pulling the plug does not reset it; a clock that jumped since
// never makes it last longer than MaxLockout.
func TestLockoutOutlivesARestart(t *testing.T) {
	before := ready(t)
	run(t, before, keys(strings.Repeat("9999#", 5)), screen(ScreenLocked))
	kept := before.s.Lockout()
	if kept.Level != 1 || !kept.Until.After(start) {
		t.Fatalf("lockout kept: %+v", kept)
	}

	after := ready(t)
	after.s.RestoreLockout(kept, start)
	run(t, after, screen(ScreenLocked, "0:30"), keys("3333#"), screen(ScreenLocked),
		wait(FirstLockout), screen(ScreenIdle),
		// The next lockout is the doubled one: the level came back too.
		keys(strings.Repeat("9999#", 5)), screen(ScreenLocked, "1:00"))

	// The clock jumped back a day since the lock (no RTC): MaxLockout at most.
	jumped := ready(t)
	jumped.s.RestoreLockout(Lockout{Wrong: 2, LastWrong: start.Add(24 * time.Hour), Level: 3, Until: start.Add(24 * time.Hour)}, start)
	if d := jumped.s.LockedFor(start); d != MaxLockout {
		t.Errorf("locked for %s after a clock jump, want %s", d, MaxLockout)
	}
	if l := jumped.s.Lockout(); !l.LastWrong.Equal(start) {
		t.Errorf("a wrong PIN from the future counts at %s, want now", l.LastWrong)
	}
	// Nonsense kept is ignored.
	bad := ready(t)
	bad.s.RestoreLockout(Lockout{Wrong: -1, Until: start.Add(time.Hour)}, start)
	run(t, bad, screen(ScreenIdle))
}

// TestLockoutKeepsTheUpdate: a lockout does not make the kiosk forget an
// update that is ready; it installs once the kiosk is left alone after.
func TestLockoutKeepsTheUpdate(t *testing.T) {
	run(t, ready(t), event(UpdateChanged{Update{Version: "1.4.0", Percent: 100, Ready: true}}),
		keys(strings.Repeat("9999#", 5)), screen(ScreenLocked), wait(FirstLockout+UpdateQuiet+time.Second),
		emitted(InstallUpdate{}), screen(ScreenUpdating))
}
