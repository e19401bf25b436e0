package kiosk

import (
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

// Event is something that happened: a key press, time passing, or the
// result of an effect the runner carried out.
type Event interface{ event() }

// KeyPress is a key or button press.
type KeyPress struct{ Key Key }

// Badge is a badge read by a badge reader: the employee number it holds.
// A badge identifies its employee as a PIN does (at idle and on the PIN
// screen) and adds a crew member on the Clock For screen.
type Badge struct{ Number string }

// Tick says time has passed; the runner sends one at State.Deadline.
type Tick struct{}

// PhotoTaken is the result of a Capture effect.
type PhotoTaken struct {
	Ref  int
	JPEG []byte
}

// PhotoFailed says a Capture effect produced no photo, and why
// (punch.NoCamera, punch.CameraPermission or punch.CameraError).
type PhotoFailed struct {
	Ref    int
	Reason punch.NoPhoto
}

// Committed says the punches of a Commit effect are durably stored. Punches
// carry the IDs and sequence numbers the store gave them.
type Committed struct {
	Ref     int
	Punches []punch.Punch
}

// CommitFailed says a Commit effect stored nothing. Punches are the punches
// as the runner stamped them (IDs, boot clock), so that a retry sends the
// very same punches and a store that did keep them can say so.
type CommitFailed struct {
	Ref      int
	Punches  []punch.Punch
	DiskFull bool // the storage is full: the worker must be told to write the time down
}

// CameraChanged reports whether the camera is usable: punch.PhotoTaken
// (the empty reason) when it is, otherwise why not.
type CameraChanged struct{ Status punch.NoPhoto }

// NetChanged reports the upload status for the status line.
type NetChanged struct{ Net Net }

// RosterLoaded gives the machine a new roster and each employee's last
// punch (by employee ID).
type RosterLoaded struct {
	Roster *roster.Roster
	Status map[string]LastPunch
}

// Enrolled is the result of the Enroll effect with the same Ref. Problem
// is empty on success.
type Enrolled struct {
	Ref     int
	Problem EnrollProblem
}

// DeviceDisabled says the back office disabled this device.
type DeviceDisabled struct{}

func (KeyPress) event()       {}
func (Badge) event()          {}
func (Tick) event()           {}
func (PhotoTaken) event()     {}
func (PhotoFailed) event()    {}
func (Committed) event()      {}
func (CommitFailed) event()   {}
func (CameraChanged) event()  {}
func (NetChanged) event()     {}
func (RosterLoaded) event()   {}
func (Enrolled) event()       {}
func (DeviceDisabled) event() {}
func (UpdateChanged) event()  {}
func (InstallFailed) event()  {}

// Update is a new version of the kiosk's software on its way: being
// downloaded (Percent), or verified and Ready to install. The zero Update
// is none.
type Update struct {
	Version string
	Percent int
	Ready   bool
}

// UpdateChanged tells the kiosk how an update is coming along.
type UpdateChanged struct{ Update Update }

// InstallFailed answers an InstallUpdate that could not be carried out:
// the kiosk goes back to work on the version it runs.
type InstallFailed struct{}

// EnrollProblem is why enrolment with a setup code failed.
type EnrollProblem string

const (
	EnrollOK          EnrollProblem = ""
	EnrollWrongCode   EnrollProblem = "wrong_code"
	EnrollExpired     EnrollProblem = "expired"
	EnrollRateLimited EnrollProblem = "rate_limited"
	EnrollUnreachable EnrollProblem = "unreachable"
	EnrollNoServer    EnrollProblem = "no_server" // no back office is configured
	EnrollDisabled    EnrollProblem = "disabled"  // the office disabled this installation
)

// Net is what the status line says about uploads.
type Net struct {
	Online   bool
	Waiting  int       // punches not yet acknowledged by the back office
	LastSync time.Time // zero: never
}

// LastPunch is an employee's most recent punch.
type LastPunch struct {
	Direction punch.Direction
	At        time.Time
}

// Effect is work for the runner; its result, if any, comes back as an Event.
type Effect interface{ effect() }

// CameraOn asks the runner to start the camera streaming, because someone
// began a session and may need a photo soon.
type CameraOn struct{}

// CameraOff lets the camera rest: the kiosk is back at idle.
type CameraOff struct{}

// Capture asks for a photo; answer with PhotoTaken or PhotoFailed with the
// same Ref.
type Capture struct{ Ref int }

// Commit asks the runner to store punches (all or none) and the photo, then
// answer Committed or CommitFailed with the same Ref. The runner gives each
// punch without an ID its ID and boot-clock reading; At is already set.
type Commit struct {
	Ref     int
	Punches []punch.Punch
	Photo   []byte
}

// Enroll asks the runner to enrol the device with a setup code; answer
// Enrolled with the same Ref.
type Enroll struct {
	Ref  int
	Code string
}

// Sound asks for a beep.
type Sound struct{ Kind SoundKind }

// SoundKind is a kind of beep.
type SoundKind string

const (
	SoundKey   SoundKind = "key"
	SoundError SoundKind = "error"
	SoundSaved SoundKind = "saved"
)

func (CameraOn) effect()      {}
func (CameraOff) effect()     {}
func (Capture) effect()       {}
func (Commit) effect()        {}
func (Enroll) effect()        {}
func (Sound) effect()         {}
func (InstallUpdate) effect() {}

// InstallUpdate asks the runner to switch to the update that is ready and
// restart into it; the kiosk shows that it is updating meanwhile. The
// runner answers InstallFailed if it cannot.
type InstallUpdate struct{ Version string }
