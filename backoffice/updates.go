package backoffice

import (
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/siteclock/siteclock/protocol"
)

// Update targets: which version the kiosks should run. An admin sets one
// for every device, and may set another for chosen devices, which
// overrides it for them. A kiosk is offered a release at check-in when its
// target differs from the version it reports and a release of the target
// version exists for its architecture.
//
// Check-ins must stay fast (checkins.go), so what an offer needs is kept
// in memory: the targets and, per version and architecture, the offer
// itself (the signed manifest and the download path). It is read again
// after every change this process makes (AddRelease, SetUpdateTarget,
// ClearUpdateTarget), before they return, and every reloadEvery with the
// devices, for what another process changed (`siteclock-server release
// add` while the server runs). The latest update report of each device is
// kept in memory as well (read once, then kept by the check-ins), so that
// a kiosk that rolled a release back or refused it is not offered it
// again until an admin sets the target again.

// UpdateTarget is the version an admin chose for every device (DeviceID
// "") or for one device.
type UpdateTarget struct {
	DeviceID string
	Version  string
	SetBy    string
	SetAt    time.Time
}

// UpdateTargets are the targets set: every device's and the overrides.
type UpdateTargets struct {
	All     *UpdateTarget           // nil: none for every device
	Devices map[string]UpdateTarget // by device ID
}

// For returns the target that applies to a device: its own, else every
// device's; ok false when there is none.
func (t UpdateTargets) For(deviceID string) (UpdateTarget, bool) {
	if d, ok := t.Devices[deviceID]; ok {
		return d, true
	}
	if t.All != nil {
		return *t.All, true
	}
	return UpdateTarget{}, false
}

// UpdateStatus is a device's latest update report.
type UpdateStatus struct {
	Version  string
	State    string // a protocol.Update* state; "" when the device never reported one
	Progress int    // percent, while downloading
	Detail   string
	At       time.Time // by the kiosk's clock
	Received time.Time // by the server's
}

// maxDetailLen bounds an update report's detail: an error message, longer
// than the other free-text fields.
const maxDetailLen = 1000

// updateStates are the states a kiosk may report.
var updateStates = map[string]bool{
	protocol.UpdateDownloading: true, protocol.UpdateReady: true, protocol.UpdateInstalling: true,
	protocol.UpdateInstalled: true, protocol.UpdateRolledBack: true, protocol.UpdateRefused: true, protocol.UpdateFailed: true,
}

// validateUpdate checks what a kiosk reports of an update and its
// architecture.
func validateUpdate(c protocol.CheckIn) error {
	if err := validText("arch", c.Arch, false); err != nil {
		return err
	}
	u := c.Update
	if u == nil {
		return nil
	}
	if err := validText("update.version", u.Version, true); err != nil {
		return err
	}
	switch {
	case !updateStates[u.State]:
		return invalid("update.state %q is not one of downloading, ready, installing, installed, rolled_back, refused, failed", u.State)
	case u.Progress < 0 || u.Progress > 100:
		return invalid("update.progress %d is not a percentage (0 to 100)", u.Progress)
	case len(u.Detail) > maxDetailLen:
		return invalid("update.detail is longer than %d bytes; shorten it", maxDetailLen)
	case !utf8.ValidString(u.Detail):
		return invalid("update.detail is not UTF-8")
	case strings.IndexFunc(u.Detail, unicode.IsControl) >= 0:
		return invalid("update.detail has control characters; send it as one line")
	case !u.At.IsZero() && !inRange(u.At):
		return invalid("update.at is out of range")
	}
	return nil
}

// updates is what the store keeps in memory for update offers.
type updates struct {
	loadMu sync.Mutex // one load at a time, so the last to finish is the newest
	view   atomic.Pointer[updateView]

	outMu    sync.Mutex
	outcomes map[string]updateOutcome // by device ID; nil until read
}

// updateView is the targets and offers as the database had them.
type updateView struct {
	targets UpdateTargets
	offers  map[releaseKey]*protocol.UpdateOffer
}

type releaseKey struct{ version, arch string }

// updateOutcome is what a device last reported of an update.
type updateOutcome struct {
	version, state string
	received       int64 // server time, Unix ns
}

// loadUpdates reads the targets and the releases into memory. On failure
// the previous view stays (releases are never removed; a change of target
// shows at the next load).
func (s *Store) loadUpdates() {
	s.up.loadMu.Lock()
	defer s.up.loadMu.Unlock()
	v := &updateView{offers: map[releaseKey]*protocol.UpdateOffer{}}
	var err error
	v.targets, err = s.UpdateTargets()
	if err == nil {
		err = func() error {
			rows, err := s.r.Query(`SELECT id, version, arch, manifest FROM releases`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, version, arch string
				var manifest []byte
				if err := rows.Scan(&id, &version, &arch, &manifest); err != nil {
					return err
				}
				v.offers[releaseKey{version, arch}] = &protocol.UpdateOffer{Manifest: manifest, Path: protocol.PathRelease + id}
			}
			return rows.Err()
		}()
	}
	if err != nil {
		s.log.Warn("reading the update targets and releases failed; offering what was read before", "err", err)
		return
	}
	s.up.view.Store(v)
}

// updateView returns the view, reading it first if it never was.
func (s *Store) updateView() *updateView {
	if v := s.up.view.Load(); v != nil {
		return v
	}
	s.loadUpdates()
	return s.up.view.Load()
}

// outcome returns a device's latest update report as kept in memory,
// reading every device's from the database the first time.
func (s *Store) outcome(deviceID string) (updateOutcome, bool) {
	s.up.outMu.Lock()
	defer s.up.outMu.Unlock()
	s.readOutcomes()
	o, ok := s.up.outcomes[deviceID]
	return o, ok
}

// noteOutcome keeps a device's new update report in memory.
func (s *Store) noteOutcome(deviceID string, u *protocol.UpdateReport, received int64) {
	s.up.outMu.Lock()
	defer s.up.outMu.Unlock()
	s.readOutcomes()
	if s.up.outcomes == nil {
		s.up.outcomes = map[string]updateOutcome{}
	}
	s.up.outcomes[deviceID] = updateOutcome{version: u.Version, state: u.State, received: received}
}

// readOutcomes fills the reports from the database once; outMu is held.
// What memory holds already is newer than the database and stays.
func (s *Store) readOutcomes() {
	if s.up.outcomes != nil {
		return
	}
	m := map[string]updateOutcome{}
	rows, err := s.r.Query(`SELECT id, update_version, update_state, coalesce(update_received_ns, 0) FROM devices WHERE update_state <> ''`)
	if err != nil {
		s.log.Warn("reading the devices' update reports failed; retrying at the next check-in", "err", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var o updateOutcome
		if err := rows.Scan(&id, &o.version, &o.state, &o.received); err != nil {
			s.log.Warn("reading the devices' update reports failed; retrying at the next check-in", "err", err)
			return
		}
		m[id] = o
	}
	if rows.Err() != nil {
		return
	}
	s.up.outcomes = m
}

// offerUpdate is the update offer for a device's check-in, or nil: none
// to a disabled device, to one that does not say its architecture, to one
// that runs its target version already, when no release of the target
// exists for its architecture, and when the device rolled the target back
// or refused it after the target was set.
func (s *Store) offerUpdate(deviceID string, disabled bool, c protocol.CheckIn, now int64) *protocol.UpdateOffer {
	if disabled || c.Arch == "" {
		return nil
	}
	v := s.updateView()
	if v == nil {
		return nil
	}
	t, ok := v.targets.For(deviceID)
	if !ok || sameVersion(t.Version, c.Version) {
		return nil
	}
	offer := v.offers[releaseKey{t.Version, c.Arch}]
	if offer == nil {
		return nil
	}
	var o updateOutcome
	if c.Update != nil {
		o = updateOutcome{version: c.Update.Version, state: c.Update.State, received: now}
	} else if o, ok = s.outcome(deviceID); !ok {
		return offer
	}
	if sameVersion(o.version, t.Version) && (o.state == protocol.UpdateRolledBack || o.state == protocol.UpdateRefused) &&
		o.received >= t.SetAt.UnixNano() {
		return nil
	}
	return offer
}

// UpdateTargets returns the targets set.
func (s *Store) UpdateTargets() (UpdateTargets, error) {
	rows, err := s.r.Query(`SELECT coalesce(device_id, ''), version, set_by, set_at_ns FROM update_targets`)
	if err != nil {
		return UpdateTargets{}, s.wrap("list update targets", err)
	}
	defer rows.Close()
	out := UpdateTargets{Devices: map[string]UpdateTarget{}}
	for rows.Next() {
		var t UpdateTarget
		var at int64
		if err := rows.Scan(&t.DeviceID, &t.Version, &t.SetBy, &at); err != nil {
			return UpdateTargets{}, s.wrap("list update targets", err)
		}
		t.SetAt = time.Unix(0, at)
		if t.DeviceID == "" {
			out.All = &t
		} else {
			out.Devices[t.DeviceID] = t
		}
	}
	if err := rows.Err(); err != nil {
		return UpdateTargets{}, s.wrap("list update targets", err)
	}
	return out, nil
}

// SetUpdateTarget makes version the target of a device (deviceID "": of
// every device without one of its own), on behalf of by. The version must
// have been uploaded (for any architecture): ErrNoRelease otherwise; an
// unknown device is ErrNotFound. Setting a target again, even the same
// version, offers it again to the devices that rolled it back or refused
// it. Kiosks hear of it at their next check-in.
func (s *Store) SetUpdateTarget(deviceID, version, by string, now time.Time) (UpdateTarget, error) {
	if err := validText("set by", by, true); err != nil {
		return UpdateTarget{}, err
	}
	t := UpdateTarget{DeviceID: deviceID, SetBy: by, SetAt: time.Unix(0, now.UnixNano())}
	err := s.write(func(tx *sql.Tx) error {
		if err := deviceExists(tx, deviceID); err != nil {
			return err
		}
		rows, err := tx.Query(`SELECT DISTINCT version FROM releases`)
		if err != nil {
			return err
		}
		t.Version = ""
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			if sameVersion(v, version) {
				t.Version = v
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if t.Version == "" {
			return errorf(ErrNoRelease, "backoffice: no release of version %q was uploaded; upload it first, or choose one of the releases", version)
		}
		_, err = tx.Exec(`INSERT INTO update_targets (device_id, version, set_by, set_at_ns) VALUES (nullif(?, ''), ?, ?, ?)
			ON CONFLICT (coalesce(device_id, '')) DO UPDATE SET version = excluded.version, set_by = excluded.set_by, set_at_ns = excluded.set_at_ns`,
			deviceID, t.Version, by, now.UnixNano())
		return err
	})
	if err != nil {
		return UpdateTarget{}, s.wrap("set the update target", err)
	}
	s.loadUpdates()
	s.log.Info("update target set", "device_id", scopeName(deviceID), "version", t.Version, "by", by)
	return t, nil
}

// ClearUpdateTarget removes a device's own target (it follows every
// device's target again) or, for deviceID "", every device's target
// (devices with their own keep it). Clearing what is not set changes
// nothing; an unknown device is ErrNotFound.
func (s *Store) ClearUpdateTarget(deviceID, by string) error {
	err := s.write(func(tx *sql.Tx) error {
		if err := deviceExists(tx, deviceID); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM update_targets WHERE coalesce(device_id, '') = ?`, deviceID)
		return err
	})
	if err != nil {
		return s.wrap("clear the update target", err)
	}
	s.loadUpdates()
	s.log.Info("update target cleared", "device_id", scopeName(deviceID), "by", by)
	return nil
}

func scopeName(deviceID string) string {
	if deviceID == "" {
		return "(all devices)"
	}
	return deviceID
}

// deviceExists is ErrNotFound for an unknown device; "" (every device)
// always exists.
func deviceExists(tx *sql.Tx, id string) error {
	if id == "" {
		return nil
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM devices WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return errorf(ErrNotFound, "backoffice: no device %s", id)
	}
	return nil
}
