// Package protocol is the contract between a kiosk and the back office: the
// device API's paths, requests, responses and errors, as JSON. It is
// documented for people in docs/protocol.md; a change here is a change of
// the protocol and needs its version bumped.
package protocol

import (
	"fmt"
	"strconv"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// Version is the protocol version in the paths below.
const Version = "v1"

// Paths of the device API. Every path but Enroll needs the device token as
// "Authorization: Bearer TOKEN".
const (
	PathEnroll  = "/api/device/v1/enroll"
	PathCheckIn = "/api/device/v1/checkin"
	PathRoster  = "/api/device/v1/roster"
	PathPunches = "/api/device/v1/punches"
	PathPhotos  = "/api/device/v1/photos/" // + hex SHA-256 of the JPEG (inside the seal, for a sealed photo)
	PathGoodbye = "/api/device/v1/goodbye"
	// PathRelease + a release's ID: the binary of a release offered in a
	// check-in answer (UpdateOffer.Path). It honours Range requests, so a
	// cut download resumes where it stopped.
	PathRelease = "/api/device/v1/releases/"
)

// Headers and media types of the device API.
const (
	// HeaderPunchID names, on a photo upload, the punch the photo belongs to.
	HeaderPunchID = "X-Punch-ID"
	// ContentTypeJSON is the type of every request and response body but
	// a photo's.
	ContentTypeJSON = "application/json"
	// ContentTypeJPEG is the type of a photo upload as a plain JPEG.
	ContentTypeJPEG = "image/jpeg"
	// ContentTypeSealedPhoto is the type of a photo upload sealed to the
	// company's photo key (package photoseal): what a kiosk that has the
	// key sends.
	ContentTypeSealedPhoto = "application/vnd.siteclock.sealed-photo"
)

// RosterETag is the HTTP entity tag of a roster version: the version in
// double quotes. A kiosk sends it back as If-None-Match.
func RosterETag(version string) string { return `"` + version + `"` }

// Limits the server enforces.
const (
	MaxBodyBytes    = 1 << 20 // JSON bodies
	MaxPhotoBytes   = 4 << 20 // one JPEG (a sealed photo may be photoseal.Overhead bytes longer)
	MaxBatchPunches = 500     // punches in one upload
)

// EnrollRequest asks to join the company whose setup code is SetupCode.
type EnrollRequest struct {
	SetupCode      string `json:"setup_code"`
	Nickname       string `json:"nickname"`
	Hardware       string `json:"hardware"`        // /proc/device-tree/model on a Pi, "Simulator" otherwise
	Version        string `json:"version"`         // software version
	InstallationID string `json:"installation_id"` // random, made once per installation
	PublicKey      []byte `json:"public_key"`      // ed25519, 32 bytes (base64 in JSON)
}

// EnrollResponse gives the device its identity.
type EnrollResponse struct {
	DeviceID   string    `json:"device_id"`
	Token      string    `json:"token"` // secret: keep it in a file only the daemon can read
	ServerTime time.Time `json:"server_time"`
}

// CheckIn is what a kiosk reports at every contact.
type CheckIn struct {
	Version       string        `json:"version"`        // software version
	RosterVersion string        `json:"roster_version"` // the roster the kiosk holds ("" for none)
	Waiting       int           `json:"waiting"`        // punches not yet acknowledged
	OldestWaiting time.Time     `json:"oldest_waiting,omitzero"`
	Camera        punch.NoPhoto `json:"camera"`                 // "" when usable, else why not
	LastUsedBy    string        `json:"last_used_by,omitempty"` // employee ID of the last punch
	DeviceTime    time.Time     `json:"device_time"`
	BootID        string        `json:"boot_id"`
	BootTimeNS    int64         `json:"boot_time_ns"`
	// Arch is the kiosk's architecture as release manifests name it
	// ("arm64", "armv7", "amd64": firmware.Arch). Optional.
	Arch string `json:"arch,omitempty"`
	// Update is where the kiosk stands with the release it was offered,
	// or the outcome of the last one. Absent when nothing happened.
	Update *UpdateReport `json:"update,omitempty"`
}

// Update states a kiosk reports (UpdateReport.State).
const (
	UpdateDownloading = "downloading" // Progress says how far
	UpdateReady       = "ready"       // downloaded and verified; installs when no one is punching
	UpdateInstalling  = "installing"  // switched to the new version, which is on probation
	UpdateInstalled   = "installed"   // the new version came up healthy and is kept
	UpdateRolledBack  = "rolled_back" // the new version failed its health check; the previous one runs again
	UpdateRefused     = "refused"     // not installed: bad signature, bad checksum, not newer, wrong architecture (Detail says)
	UpdateFailed      = "failed"      // could not be downloaded or installed for now (Detail says); retried later
)

// UpdateReport is a kiosk's account of an update.
type UpdateReport struct {
	Version  string    `json:"version"`            // the release it concerns
	State    string    `json:"state"`              // one of the Update* states
	Progress int       `json:"progress,omitempty"` // percent downloaded, while downloading
	Detail   string    `json:"detail,omitempty"`   // for people: what happened
	At       time.Time `json:"at"`                 // when it reached this state, by the kiosk's clock
}

// CheckInResponse tells the kiosk what to do next.
type CheckInResponse struct {
	ServerTime    time.Time `json:"server_time"`
	RosterVersion string    `json:"roster_version"` // the current roster; fetch it if it differs
	// Disabled means the device was disabled: it may send what it holds
	// (punches, photos) in a last transmission, then says goodbye and
	// stops punching.
	Disabled bool `json:"disabled"`
	// SyncEvery is how often an online kiosk should check in.
	SyncEvery Duration `json:"sync_every"`
	// PhotoKey is the company's X25519 public photo key (32 bytes): the
	// kiosk seals every photo to it before storing it. Absent from older
	// servers; the kiosk then stores and sends photos unsealed.
	PhotoKey []byte `json:"photo_key,omitempty"`
	// Update offers the release the office assigned to this kiosk, when
	// it is not the version the kiosk reported running. Absent otherwise.
	Update *UpdateOffer `json:"update,omitempty"`
}

// UpdateOffer names a release for the kiosk to install.
type UpdateOffer struct {
	// Manifest is the signed manifest, as `siteclockd release sign` wrote
	// it (firmware.Signed as JSON). The office does not vouch for it: the
	// kiosk verifies its signature against the release keys it trusts.
	Manifest []byte `json:"manifest"`
	// Path is where the binary is: PathRelease + the release's ID.
	Path string `json:"path"`
}

// Punch is a punch on the wire.
type Punch struct {
	ID             string          `json:"id"` // UUID made at the kiosk: the idempotency key
	Seq            int64           `json:"seq"`
	EmployeeID     string          `json:"employee_id"`
	EmployeeNumber string          `json:"employee_number"`
	Direction      punch.Direction `json:"direction"`
	At             time.Time       `json:"at"`
	BootTimeNS     int64           `json:"boot_time_ns"`
	BootID         string          `json:"boot_id"`
	ClockedBy      string          `json:"clocked_by,omitempty"`
	PhotoSHA256    string          `json:"photo_sha256,omitempty"` // hex; the photo goes up separately
	NoPhoto        punch.NoPhoto   `json:"no_photo,omitempty"`
	// RosterVersion is the roster the kiosk held when the punch was made
	// ("r42"); the foreman's Clock For right is judged by it. Optional.
	RosterVersion string `json:"roster_version,omitempty"`

	// What the kiosk knew of its clock at the punch (punch.Clock): the
	// kernel had it synchronised; the kiosk had heard the server's time
	// during this boot; it read earlier than the latest time the kiosk
	// had recorded. Optional.
	ClockSynced   bool `json:"clock_synced,omitempty"`
	ClockAnchored bool `json:"clock_anchored,omitempty"`
	ClockBehind   bool `json:"clock_behind,omitempty"`

	// The signed chain (punch/chain.go, docs/protocol.md): the kiosk
	// database's chain, the hash of the punch before this one in it
	// (empty for the first), and the device key's ed25519 signature of
	// the punch's message. All three are left out by a punch made before
	// the kiosk chained its punches: it is shown as unsigned.
	ChainID   string `json:"chain_id,omitempty"`
	PrevHash  []byte `json:"prev_hash,omitempty"`
	Signature []byte `json:"signature,omitempty"`
}

// WirePunch is p as the protocol sends it. The photo is named by
// p.PhotoSHA256, the hash recorded at commit.
func WirePunch(p punch.Punch) Punch {
	return Punch{
		ID: p.ID, Seq: p.Seq, EmployeeID: p.EmployeeID, EmployeeNumber: p.EmployeeNumber,
		Direction: p.Direction, At: p.At, BootTimeNS: int64(p.BootTime), BootID: p.BootID,
		ClockedBy: p.ClockedBy, PhotoSHA256: p.PhotoSHA256, NoPhoto: p.NoPhoto, RosterVersion: p.RosterVersion,
		ClockSynced: p.Clock.Synced, ClockAnchored: p.Clock.Anchored, ClockBehind: p.Clock.Behind,
		ChainID: p.ChainID, PrevHash: p.PrevHash, Signature: p.Signature,
	}
}

// Punch returns the punch w describes, as the kiosk signed it: its
// Message is the one the signature covers. The employee's name and the
// local photo file are not on the wire.
func (w Punch) Punch() punch.Punch {
	return punch.Punch{
		ID: w.ID, Seq: w.Seq, EmployeeID: w.EmployeeID, EmployeeNumber: w.EmployeeNumber,
		Direction: w.Direction, At: w.At, BootTime: time.Duration(w.BootTimeNS), BootID: w.BootID,
		ClockedBy: w.ClockedBy, PhotoSHA256: w.PhotoSHA256, NoPhoto: w.NoPhoto, RosterVersion: w.RosterVersion,
		Clock:   punch.Clock{Synced: w.ClockSynced, Anchored: w.ClockAnchored, Behind: w.ClockBehind},
		ChainID: w.ChainID, PrevHash: w.PrevHash, Signature: w.Signature,
	}
}

// PunchBatch uploads punches, oldest first.
type PunchBatch struct {
	Punches []Punch `json:"punches"`
}

// Result of one punch in a batch.
const (
	Accepted  = "accepted"  // stored now
	Duplicate = "duplicate" // stored before: the kiosk may forget it too
	Rejected  = "rejected"  // refused for good (Reason says why): keep it for a person, do not retry
)

// PunchResult answers one punch of a batch.
type PunchResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// PunchBatchResponse answers a batch, one result per punch, in order.
type PunchBatchResponse struct {
	Results []PunchResult `json:"results"`
}

// PhotoResponse answers a photo upload.
type PhotoResponse struct {
	Status string `json:"status"` // Accepted or Duplicate
}

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Code    string `json:"error"`   // machine-readable, one of the Err* codes
	Message string `json:"message"` // for people: what went wrong and what to do
}

// Error codes.
const (
	ErrBadRequest   = "bad_request"  // malformed JSON, unknown fields, bad values
	ErrTooLarge     = "too_large"    // body over the limit
	ErrWrongCode    = "wrong_code"   // no such setup code
	ErrExpiredCode  = "expired_code" // the setup code was rotated
	ErrRateLimited  = "rate_limited" // too many attempts; Retry-After says when to try again
	ErrUnauthorized = "unauthorized" // no token, or a token the server does not know
	ErrDisabled     = "disabled"     // the device is disabled and has said goodbye
	ErrForbidden    = "forbidden"    // authenticated, but not allowed
	ErrConflict     = "conflict"     // contradicts what the server holds (a photo for a punch that names another)
	ErrNotFound     = "not_found"    // no such thing
	ErrInternal     = "internal"     // the server failed; retry later
)

// Duration is a time.Duration as whole seconds in JSON.
type Duration time.Duration

// MarshalJSON writes whole seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(time.Duration(d)/time.Second), 10), nil
}

// UnmarshalJSON reads whole seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("protocol: duration %s: want whole seconds", b)
	}
	*d = Duration(time.Duration(n) * time.Second)
	return nil
}
