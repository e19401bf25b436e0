package kiosk

import (
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// A badge reader types the employee number a badge holds; the kiosk takes
// it as the employee's identity where a PIN could be typed, and as a crew
// member on the Clock For screen.
func TestBadge(t *testing.T) {
	tests := []struct {
		name string
		acts []act
	}{{
		name: "a badge at idle greets its employee and starts the camera, like a right PIN",
		acts: []act{
			event(Badge{"1002"}), emitted(CameraOn{}, Sound{SoundKey}), screen(ScreenGreet, "Hello, Ben Cole", "# IN"),
			keys("#"), wait(3 * time.Second), photo(), commitOK(),
			committed(punch.Punch{EmployeeID: "e1002", Direction: punch.In}),
			wait(2 * time.Second), screen(ScreenSaved, "Ben Cole", "Clocked IN 7:02 AM"),
		},
	}, {
		name: "OUT pressed first, then the badge: the punch is OUT at once",
		acts: []act{
			keys("o"), screen(ScreenPIN, "Clock OUT: enter your PIN"),
			event(Badge{"1003"}), screen(ScreenSaving), commitOK(),
			committed(punch.Punch{EmployeeID: "e1003", Direction: punch.Out, NoPhoto: punch.RoleFaceFrontOff}),
		},
	}, {
		name: "a badge on the PIN screen drops the digits typed so far",
		acts: []act{
			keys("99"), screen(ScreenPIN, "••"),
			event(Badge{"1003"}), screen(ScreenGreet, "Hello, Carla Diaz"), noText("••"),
		},
	}, {
		name: "an unknown badge says so, and does not count towards the lockout",
		acts: []act{
			event(Badge{"777"}), screen(ScreenMessage, "Badge not recognized", "Use your PIN"), emitted(Sound{SoundError}), notEmitted(CameraOn{}),
			wait(5 * time.Second), screen(ScreenIdle),
			event(Badge{"777"}), event(Badge{"777"}), event(Badge{"777"}), event(Badge{"777"}), event(Badge{"777"}),
			wait(5 * time.Second), screen(ScreenIdle),
			keys("3333#"), screen(ScreenGreet, "Hello, Carla Diaz"),
		},
	}, {
		name: "an inactive employee's badge is not recognized",
		acts: []act{
			event(Badge{"1005"}), screen(ScreenMessage, "Badge not recognized"),
		},
	}, {
		name: "badges add crew members on the Clock For screen",
		acts: []act{
			keys("1111f"), screen(ScreenCrew, "Crew: 0"),
			event(Badge{"1002"}), screen(ScreenCrew, "Crew: 1", "+ Ben Cole"),
			event(Badge{"1002"}), screen(ScreenCrew, "Ben Cole is already in the crew"),
			event(Badge{"1001"}), screen(ScreenCrew, "Crew: 1"),
			event(Badge{"4321"}), screen(ScreenCrew, "Crew: 1"),
			keys("i#"), commitOK(),
			committed(punch.Punch{EmployeeID: "e1002", Direction: punch.In, NoPhoto: punch.ClockFor, ClockedBy: "e1001"}),
		},
	}, {
		name: "a badge during a punch in progress is ignored",
		acts: []act{
			keys("2222#"), keys("#"), screen(ScreenCamera),
			event(Badge{"1003"}), screen(ScreenCamera), notEmitted(Sound{SoundKey}),
			wait(3 * time.Second), photo(), commitOK(),
			committed(punch.Punch{EmployeeID: "e1002", Direction: punch.In}),
		},
	}, {
		name: "a badge while the keypad is locked is ignored",
		acts: []act{
			keys(strings.Repeat("9999#", 4)), screen(ScreenMessage), keys("9999#"), screen(ScreenLocked),
			event(Badge{"1003"}), screen(ScreenLocked),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, ready(t), tt.acts...)
		})
	}
}

// A disabled or unprovisioned kiosk takes no badges.
func TestBadgeNotReady(t *testing.T) {
	k := ready(t)
	run(t, k,
		event(DeviceDisabled{}), screen(ScreenDisabled),
		event(Badge{"1002"}), screen(ScreenDisabled), notEmitted(CameraOn{}),
	)
	u := newKT(t, New(Unprovisioned, nil, nil, punch.PhotoTaken, Net{}, start))
	run(t, u,
		screen(ScreenSetupCode),
		event(Badge{"1002"}), screen(ScreenSetupCode),
	)
}
