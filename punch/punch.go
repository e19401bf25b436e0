// Package punch defines a time-clock punch: who punched, in or out, when by
// every clock the kiosk has, how far that clock could be trusted, who
// recorded it, and whether a photo was taken (and if not, why not); and the
// signed hash chain that makes a kiosk's punches tamper-evident (chain.go).
package punch

import "time"

// Direction is the kind of punch.
type Direction string

const (
	In  Direction = "in"
	Out Direction = "out"
)

// Valid reports whether d is In or Out.
func (d Direction) Valid() bool { return d == In || d == Out }

// Opposite returns the other direction.
func (d Direction) Opposite() Direction {
	if d == In {
		return Out
	}
	return In
}

// NoPhoto records why a punch has no photo. The empty value means a photo
// was taken.
type NoPhoto string

const (
	PhotoTaken       NoPhoto = ""
	RoleFaceFrontOff NoPhoto = "role_facefront_off" // the employee's role has FaceFront off
	NoConsent        NoPhoto = "no_consent"         // no photo consent recorded for the employee
	NoCamera         NoPhoto = "no_camera"          // no camera attached or configured
	CameraPermission NoPhoto = "camera_permission"  // the camera exists but the daemon may not open it
	CameraError      NoPhoto = "camera_error"       // the camera failed while taking the photo
	ClockFor         NoPhoto = "clock_for"          // a foreman punched for the employee
)

// Valid reports whether n is one of the known reasons (or PhotoTaken).
func (n NoPhoto) Valid() bool {
	switch n {
	case PhotoTaken, RoleFaceFrontOff, NoConsent, NoCamera, CameraPermission, CameraError, ClockFor:
		return true
	}
	return false
}

// Punch is one punch as the kiosk recorded it.
type Punch struct {
	// ID is a random UUID made when the punch is captured; it stays the
	// punch's identity (and idempotency key) all the way to the back office.
	ID string
	// Seq is the device's sequence number, assigned when the punch is
	// committed; it orders punches even when the wall clock jumps.
	Seq int64

	EmployeeID     string
	EmployeeNumber string
	EmployeeName   string
	Direction      Direction

	// At is the wall-clock time of the punch (when the worker chose IN or
	// OUT), as the device's clock told it.
	At time.Time
	// BootTime is CLOCK_BOOTTIME at the punch and BootID the kernel's boot
	// id: together they place the punch on this boot's monotonic timeline
	// whatever the wall clock said.
	BootTime time.Duration
	BootID   string

	// ClockedBy is the employee ID of the foreman who recorded this punch
	// with Clock For; empty when the employee punched for themself.
	ClockedBy string
	// RosterVersion is the version of the roster the kiosk held when the
	// punch was made: the back office judges the foreman's Clock For right
	// by the roles as that roster had them, not as they are when the punch
	// arrives days later.
	RosterVersion string

	// Photo is the photo's file name in the queue's photo folder, empty
	// when none was taken; NoPhoto then says why. PhotoSHA256 is the hex
	// SHA-256 of the JPEG, recorded when the punch is committed: the
	// protocol names the photo by it, and the signature covers it.
	Photo       string
	PhotoSHA256 string
	NoPhoto     NoPhoto

	// Clock says how far At could be trusted when the punch was made.
	Clock Clock

	// The signed chain (see chain.go), filled in by the queue at commit:
	// the chain (one per kiosk database), the hash of the punch before
	// this one in it (empty for the first), this punch's hash and the
	// device key's signature. A punch committed before punches were
	// chained has none of them.
	ChainID   string
	PrevHash  []byte
	Hash      []byte
	Signature []byte
}

// Clock is what the kiosk knew of its wall clock at a punch. A Raspberry Pi
// has no battery-backed clock: after a reboot without network its time may
// be hours or decades off, so the back office trusts At only as far as
// these say, and places the punch by the boot clock and its own time where
// it can (see docs/protocol.md, "Time").
type Clock struct {
	// Synced: the kernel said the system clock was synchronised (NTP) at
	// the punch.
	Synced bool
	// Anchored: during this boot the kiosk had heard the server's time at
	// a check-in, so the server can place the punch by the boot clock.
	Anchored bool
	// Behind: the wall clock read earlier than the latest wall time the
	// kiosk had recorded before, so it went backwards (a reboot without
	// network and RTC). At is still the clock's reading.
	Behind bool
}
