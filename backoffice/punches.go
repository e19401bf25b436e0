package backoffice

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// Punch is a punch the back office accepted.
type Punch struct {
	ID             string // the kiosk's UUID
	DeviceID       string
	Seq            int64 // the device's sequence number
	EmployeeID     string
	EmployeeNumber string // as the kiosk sent it
	Direction      punch.Direction
	At             time.Time // the device's wall clock, in the device's zone offset
	BootTime       time.Duration
	BootID         string
	ClockedBy      string        // employee ID of the foreman for Clock For
	RosterVersion  string        // the roster the kiosk held at the punch; "" if it did not say
	PhotoSHA256    string        // hex; "" when no photo was taken
	NoPhoto        punch.NoPhoto // why not
	ReceivedAt     time.Time

	// The photo as the back office has it: zero until it arrives.
	PhotoReceivedAt time.Time
	PhotoDeletedAt  time.Time // removed under the retention rule

	// Clock is what the kiosk knew of its clock at the punch. TrustedAt
	// is the server's time for the punch, from its boot's clock anchor
	// and the boot clock (integrity.go); zero when the boot never had an
	// anchor: the punch's time is then the device's, unverified.
	Clock     punch.Clock
	TrustedAt time.Time

	// Integrity is what the office can tell of the punch's signature and
	// of its place in the kiosk's chain (integrity.go); ChainID and Hash
	// (nil for an unsigned punch) place it there.
	Integrity Integrity
	ChainID   string
	Hash      []byte
}

// Time is when the punch happened as far as the office can tell: the
// trusted time, shown in the device's zone offset, or the device's own
// time when there is none.
func (p Punch) Time() time.Time {
	if p.TrustedAt.IsZero() {
		return p.At
	}
	return p.TrustedAt.In(p.At.Location())
}

// TimeVerified reports whether the punch's time was checked against the
// server's (it has a trusted time).
func (p Punch) TimeVerified() bool { return !p.TrustedAt.IsZero() }

// insertPunchSQL stores one accepted punch unless its ID is stored already.
const insertPunchSQL = `INSERT INTO punches (id, device_id, seq, employee_id, employee_number, direction,
	at_ns, at_offset, boot_time_ns, boot_id, clocked_by, photo_sha256, no_photo, received_at_ns, roster_version,
	clock_synced, clock_anchored, clock_behind, trusted_at_ns, chain_id, hash, unsigned_late)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`

// Reasons a punch is rejected, for the kiosk's person and the office.
const (
	ReasonMissingID        = "missing id"
	ReasonBadID            = "id is not a lowercase UUID"
	ReasonUnknownEmployee  = "unknown employee"
	ReasonBadDirection     = "invalid direction (want in or out)"
	ReasonBadNoPhoto       = "invalid no_photo reason"
	ReasonPhotoAndNoPhoto  = "both a photo and a reason for no photo"
	ReasonBadPhotoHash     = "photo_sha256 is not 64 lowercase hex digits"
	ReasonMissingTime      = "missing time"
	ReasonTimeOutOfRange   = "time out of range"
	ReasonBadBootTime      = "negative boot_time_ns"
	ReasonBadText          = "a text field is too long or not plain text"
	ReasonUnknownClockedBy = "clocked_by is not a known employee"
	ReasonNotClockFor      = "clocked_by's role may not Clock For"
	ReasonBadSeq           = "seq must be 1 or more"
	ReasonOtherDevice      = "id already used by another device"
	ReasonAfterDisabled    = "made after the device was disabled"
	ReasonIDReused         = "id already used for a different punch"
	ReasonPhotoOtherDevice = "photo_sha256 names a photo sent by another device"
	ReasonBadRosterVersion = "roster_version is not a roster version (r and a number)"
)

// ValidPunchID reports whether id is a UUID in its canonical lowercase
// form, the only form of punch ID the back office takes (so that one punch
// cannot be stored twice under two spellings).
func ValidPunchID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// ValidSHA256 reports whether h is 64 lowercase hex digits.
func ValidSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkPunch returns why p must be rejected without looking at the
// database, or "".
func checkPunch(p protocol.Punch) string {
	switch {
	case p.ID == "":
		return ReasonMissingID
	case !ValidPunchID(p.ID):
		return ReasonBadID
	case p.EmployeeID == "":
		return ReasonUnknownEmployee
	case !p.Direction.Valid():
		return ReasonBadDirection
	case !p.NoPhoto.Valid():
		return ReasonBadNoPhoto
	case p.PhotoSHA256 != "" && p.NoPhoto != punch.PhotoTaken:
		return ReasonPhotoAndNoPhoto
	case p.PhotoSHA256 != "" && !ValidSHA256(p.PhotoSHA256):
		return ReasonBadPhotoHash
	case p.At.IsZero():
		return ReasonMissingTime
	case !inRange(p.At):
		return ReasonTimeOutOfRange
	case p.BootTimeNS < 0:
		return ReasonBadBootTime
	case p.Seq < 1:
		return ReasonBadSeq
	case p.RosterVersion != "":
		if _, ok := parseRosterVersion(p.RosterVersion); !ok {
			return ReasonBadRosterVersion
		}
	}
	for _, f := range []string{p.EmployeeID, p.EmployeeNumber, p.BootID, p.ClockedBy, p.ChainID} {
		if validText("", f, false) != nil {
			return ReasonBadText
		}
	}
	return ""
}

// DisabledGrace is how far past the moment a device was disabled its
// punches may be dated and still be accepted in its last transmission: the
// kiosk learns of it only at its next contact, and its clock may run ahead.
const DisabledGrace = 24 * time.Hour

// IngestPunches stores a batch of punches from a device in one transaction
// and answers each in order: Accepted (stored, now or by an earlier
// request: a retried request gets the answer the first one got), Duplicate
// (the same punch appeared earlier in this batch) or Rejected with a
// reason. A rejected punch is not stored as a punch; it is kept in the
// rejected punches for the office, until it is sent again and accepted.
// A punch ID stored before with different contents is rejected
// (ReasonIDReused): the stored punch stands. The device's Last Used By
// becomes the employee of its newest accepted punch.
func (s *Store) IngestPunches(deviceID string, ps []protocol.Punch, now time.Time) ([]protocol.PunchResult, error) {
	pre := make([]string, len(ps))
	for i, p := range ps {
		pre[i] = checkPunch(p)
	}
	sigs, err := s.signatures(deviceID, ps)
	if err != nil {
		return nil, err
	}
	defer sigs.abandon()
	var results []protocol.PunchResult
	var accepted, rejected int
	err = s.write(func(tx *sql.Tx) error {
		// Set afresh: the writer may run this more than once.
		results = make([]protocol.PunchResult, len(ps))
		accepted, rejected = 0, 0
		if err := checkDevice(tx, s, deviceID); err != nil {
			return err
		}
		stored, err := tx.Prepare(`SELECT ` + storedPunchColumns + ` FROM punches WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stored.Close()
		photoOf, err := tx.Prepare(`SELECT device_id FROM photos WHERE sha256 = ?`)
		if err != nil {
			return err
		}
		defer photoOf.Close()
		granted, err := tx.Prepare(`SELECT EXISTS (SELECT 1 FROM clock_for_grants WHERE employee_id = ?1
			AND from_version <= ?2 AND (to_version IS NULL OR to_version > ?2))`)
		if err != nil {
			return err
		}
		defer granted.Close()
		employee := tx.Stmt(s.stmts.punchEmployee)
		insert := tx.Stmt(s.stmts.insertPunch)
		emps := map[string]empInfo{}
		lookup := func(id string) (empInfo, error) {
			if e, ok := emps[id]; ok {
				return e, nil
			}
			var e empInfo
			err := employee.QueryRow(id).Scan(&e.clockFor)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return empInfo{}, err
			default:
				e.known = true
			}
			emps[id] = e
			return e, nil
		}
		// Only a device with rejected punches can have one accepted now.
		var hadRejected bool
		if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM rejected_punches WHERE device_id = ?)`, deviceID).Scan(&hadRejected); err != nil {
			return err
		}
		// A disabled device's last transmission carries what it held, not
		// punches made since: a stolen kiosk must not keep punching.
		var disabledNS sql.NullInt64
		if err := tx.QueryRow(`SELECT disabled_at_ns FROM devices WHERE id = ?`, deviceID).Scan(&disabledNS); err != nil {
			return err
		}
		var current int64 // the roster version now
		if err := tx.QueryRow(`SELECT roster_version FROM company WHERE id = 1`).Scan(&current); err != nil {
			return err
		}
		var (
			lastSeq  int64
			lastEmp  string
			haveLast bool
			inBatch  = make(map[string]protocol.Punch, len(ps))
		)
		trust := &batchTrust{tx: tx, deviceID: deviceID, anchors: map[string]bootAnchors{}}
		// Every signed punch is evidence, accepted or not, and an edited
		// copy most of all: all but those without a usable ID, sequence
		// number or chain are recorded in the chain.
		chained := func(i int) bool {
			reason := pre[i]
			return sigs.hash[i] != nil && ps[i].Seq >= 1 &&
				reason != ReasonMissingID && reason != ReasonBadID && reason != ReasonBadText
		}
		chain := newChainWriter(tx, deviceID)
		// The chain rows around the batch, read in one go.
		seqs := map[string][]int64{}
		for i, p := range ps {
			if chained(i) {
				seqs[p.ChainID] = append(seqs[p.ChainID], nearSeqs(p.Seq)...)
			}
		}
		for chainID, s := range seqs {
			if err := chain.load(chainID, s); err != nil {
				return err
			}
		}
		reject := func(r *protocol.PunchResult, p protocol.Punch, reason string) error {
			r.Status, r.Reason = protocol.Rejected, reason
			rejected++
			hadRejected = true
			return keepRejected(tx, deviceID, p, reason, now)
		}
		for i, p := range ps {
			r := &results[i]
			r.ID = p.ID
			reason := pre[i]
			hasID := reason != ReasonMissingID && reason != ReasonBadID
			if chained(i) {
				if err := chain.record(i, p, sigs.hash[i], now); err != nil {
					return err
				}
				trust.sawSigned()
			}
			if hasID {
				// The same punch twice in one batch: the first copy has
				// its answer, the second is a duplicate of it.
				if first, ok := inBatch[p.ID]; ok {
					if samePunch(first, p) {
						r.Status = protocol.Duplicate
					} else if err := reject(r, p, ReasonIDReused); err != nil {
						return err
					}
					continue
				}
				inBatch[p.ID] = p
			}
			// resent answers a punch whose ID is stored already the way
			// the first request was answered, whatever the roster says
			// now: a retry must never turn "accepted" into "rejected".
			resent := func() (bool, error) {
				var sp storedPunch
				err := stored.QueryRow(p.ID).Scan(sp.fields()...)
				switch {
				case errors.Is(err, sql.ErrNoRows):
					return false, nil
				case err != nil:
					return false, err
				case sp.deviceID != deviceID:
					// Another device's punch is not this one's to replace.
					return true, reject(r, p, ReasonOtherDevice)
				case !sp.same(p):
					return true, reject(r, p, ReasonIDReused)
				}
				r.Status = protocol.Accepted
				return true, nil
			}
			if reason == "" && disabledNS.Valid && p.At.After(time.Unix(0, disabledNS.Int64).Add(DisabledGrace)) {
				reason = ReasonAfterDisabled
			}
			if reason == "" {
				var err error
				if reason, err = checkPeople(lookup, granted, current, p); err != nil {
					return err
				}
			}
			if reason == "" && p.PhotoSHA256 != "" {
				// A photo stored already must be this device's: a device
				// cannot claim another's photo. Two punches of one device
				// may name the same bytes (a covered lens gives the same
				// black frame twice); they share the photo.
				var owner string
				err := photoOf.QueryRow(p.PhotoSHA256).Scan(&owner)
				switch {
				case errors.Is(err, sql.ErrNoRows):
				case err != nil:
					return err
				case owner != deviceID:
					reason = ReasonPhotoOtherDevice
				}
			}
			if reason != "" {
				if hasID {
					if done, err := resent(); done || err != nil {
						if err != nil {
							return err
						}
						continue
					}
				}
				if err := reject(r, p, reason); err != nil {
					return err
				}
				continue
			}
			trusted, err := trust.at(p)
			if err != nil {
				return err
			}
			var (
				chainID string
				hash    []byte
				late    bool
			)
			if sigs.hash[i] != nil {
				chainID, hash = p.ChainID, sigs.hash[i]
			} else if late, err = trust.signedBefore(); err != nil {
				return err
			}
			atNS, off := encodeTime(p.At)
			res, err := insert.Exec(p.ID, deviceID, p.Seq, p.EmployeeID, p.EmployeeNumber, string(p.Direction),
				atNS, off, p.BootTimeNS, p.BootID, p.ClockedBy, p.PhotoSHA256, string(p.NoPhoto), now.UnixNano(),
				p.RosterVersion, p.ClockSynced, p.ClockAnchored, p.ClockBehind, trusted, chainID, hash, late)
			if err != nil {
				return fmt.Errorf("punch %s: %w", p.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// Stored by an earlier request.
				if _, err := resent(); err != nil {
					return err
				}
				continue
			}
			if hadRejected {
				if _, err := tx.Stmt(s.stmts.clearRejected).Exec(deviceID, p.ID); err != nil {
					return err
				}
			}
			r.Status = protocol.Accepted
			accepted++
			if !haveLast || p.Seq > lastSeq {
				lastSeq, lastEmp, haveLast = p.Seq, p.EmployeeID, true
			}
		}
		if err := chain.flush(sigs); err != nil {
			return err
		}
		if haveLast {
			if _, err := tx.Exec(`UPDATE devices SET last_used_by = ?, last_used_seq = ?
				WHERE id = ? AND (last_used_seq IS NULL OR last_used_seq <= ?)`, lastEmp, lastSeq, deviceID, lastSeq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("store %d punches from device %s", len(ps), deviceID), err)
	}
	if rejected > 0 {
		for _, r := range results {
			if r.Status == protocol.Rejected {
				s.log.Warn("punch rejected", "device_id", deviceID, "punch_id", r.ID, "reason", r.Reason)
			}
		}
	}
	s.log.Debug("punches received", "device_id", deviceID, "accepted", accepted, "rejected", rejected,
		"duplicate", len(ps)-accepted-rejected)
	return results, nil
}

// empInfo is what a batch needs to know of an employee.
type empInfo struct{ known, clockFor bool }

// checkPeople checks the punch's employee and, for Clock For, the foreman.
// The foreman's right is judged by the roster the kiosk held when the
// punch was made (granted: the clock_for_grants query; current: the
// roster version now), so that a crew's punches made in good faith stay
// accepted when the role loses Clock For before they arrive, and a punch
// claiming a roster that did not give the right is refused even if the
// right came back since. A punch without a roster version, or naming one
// this office never issued, is judged by the roles as they are now.
func checkPeople(lookup func(string) (empInfo, error), granted *sql.Stmt, current int64, p protocol.Punch) (string, error) {
	e, err := lookup(p.EmployeeID)
	if err != nil {
		return "", err
	}
	if !e.known {
		return ReasonUnknownEmployee, nil
	}
	if p.ClockedBy == "" {
		return "", nil
	}
	f, err := lookup(p.ClockedBy)
	if err != nil {
		return "", err
	}
	if !f.known {
		return ReasonUnknownClockedBy, nil
	}
	may := f.clockFor
	if v, ok := parseRosterVersion(p.RosterVersion); ok && v <= current {
		if err := granted.QueryRow(p.ClockedBy, v).Scan(&may); err != nil {
			return "", err
		}
	}
	if !may {
		return ReasonNotClockFor, nil
	}
	return "", nil
}

// storedPunchColumns are what samePunch compares of a stored punch, and
// its device.
const storedPunchColumns = `device_id, seq, employee_id, direction, at_ns, at_offset, boot_time_ns, boot_id, clocked_by`

// storedPunch is a stored punch as read for comparison with a resent one.
type storedPunch struct {
	deviceID string
	p        protocol.Punch
	atNS     int64
	off      int
	dir      string
}

func (sp *storedPunch) fields() []any {
	return []any{&sp.deviceID, &sp.p.Seq, &sp.p.EmployeeID, &sp.dir, &sp.atNS, &sp.off,
		&sp.p.BootTimeNS, &sp.p.BootID, &sp.p.ClockedBy}
}

// same reports whether p is the stored punch sent again.
func (sp *storedPunch) same(p protocol.Punch) bool {
	q := sp.p
	q.ID, q.Direction = p.ID, punch.Direction(sp.dir)
	q.At = decodeTime(sp.atNS, sp.off)
	return samePunch(q, p)
}

// samePunch reports whether a and b record the same punch: who, which
// way, when by every clock, and who clocked it. What is said about the
// photo is left out (a kiosk that can no longer read a photo resends its
// punch without the link), as are the employee number (a label) and the
// roster version (it decides how a punch is judged, not what it is).
func samePunch(a, b protocol.Punch) bool {
	aNS, aOff := encodeTime(a.At)
	bNS, bOff := encodeTime(b.At)
	return a.ID == b.ID && a.Seq == b.Seq && a.EmployeeID == b.EmployeeID && a.Direction == b.Direction &&
		aNS == bNS && aOff == bOff && a.BootTimeNS == b.BootTimeNS && a.BootID == b.BootID && a.ClockedBy == b.ClockedBy
}

// keepRejected records a rejected punch for the office, once per device
// and punch ID (counting the times it was sent).
func keepRejected(tx *sql.Tx, deviceID string, p protocol.Punch, reason string, now time.Time) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	id := p.ID
	if len(id) > maxTextLen {
		id = id[:maxTextLen]
	}
	_, err = tx.Exec(`INSERT INTO rejected_punches (device_id, punch_id, reason, punch_json, first_at_ns, last_at_ns, times)
		VALUES (?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (device_id, punch_id) WHERE punch_id <> '' DO UPDATE SET
			reason = excluded.reason, punch_json = excluded.punch_json, last_at_ns = excluded.last_at_ns, times = times + 1`,
		deviceID, id, reason, string(body), now.UnixNano(), now.UnixNano())
	return err
}

// RejectedPunch is a punch the back office refused, kept for the office.
type RejectedPunch struct {
	DeviceID string
	PunchID  string
	Reason   string
	Punch    protocol.Punch // as sent (the latest time)
	First    time.Time
	Last     time.Time
	Times    int
}

// RejectedPunches returns the rejected punches, newest first.
func (s *Store) RejectedPunches() ([]RejectedPunch, error) {
	rows, err := s.r.Query(`SELECT device_id, punch_id, reason, punch_json, first_at_ns, last_at_ns, times
		FROM rejected_punches ORDER BY last_at_ns DESC, id DESC`)
	if err != nil {
		return nil, s.wrap("list rejected punches", err)
	}
	defer rows.Close()
	var out []RejectedPunch
	for rows.Next() {
		var (
			r           RejectedPunch
			body        string
			first, last int64
		)
		if err := rows.Scan(&r.DeviceID, &r.PunchID, &r.Reason, &body, &first, &last, &r.Times); err != nil {
			return nil, s.wrap("list rejected punches", err)
		}
		if err := json.Unmarshal([]byte(body), &r.Punch); err != nil {
			return nil, s.wrap("list rejected punches", err)
		}
		r.First, r.Last = time.Unix(0, first), time.Unix(0, last)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list rejected punches", err)
	}
	return out, nil
}

const punchColumns = `p.id, p.device_id, p.seq, p.employee_id, p.employee_number, p.direction, p.at_ns, p.at_offset,
	p.boot_time_ns, p.boot_id, p.clocked_by, p.photo_sha256, p.no_photo, p.received_at_ns,
	ph.received_at_ns, ph.deleted_at_ns, p.roster_version,
	p.clock_synced, p.clock_anchored, p.clock_behind, p.trusted_at_ns, p.chain_id, p.hash, p.unsigned_late,
	c.sig_ok, c.link, c.conflict,
	CASE WHEN c.seq IS NULL THEN 0 ELSE (SELECT count(*) FROM punch_chain c2
		WHERE c2.device_id = c.device_id AND c2.chain_id = c.chain_id AND c2.seq = c.seq) END`

const punchFrom = ` FROM punches p LEFT JOIN photos ph ON ph.sha256 = p.photo_sha256 AND p.photo_sha256 <> ''
	LEFT JOIN punch_chain c ON p.hash IS NOT NULL AND c.device_id = p.device_id AND c.chain_id = p.chain_id
		AND c.seq = p.seq AND c.hash = p.hash`

// punchTime is when a punch happened as far as the office can tell, in
// SQL: the trusted time, else the device's (an index has it too).
const punchTime = `coalesce(p.trusted_at_ns, p.at_ns)`

func scanPunch(sc interface{ Scan(...any) error }) (Punch, error) {
	var (
		p                  Punch
		dir, no            string
		atNS, boot, recv   int64
		off                int
		photoAt, photoGone sql.NullInt64
	)
	var (
		trusted        sql.NullInt64
		late           bool
		sigOK          sql.NullBool
		link, conflict sql.NullString
		claimants      int
	)
	err := sc.Scan(&p.ID, &p.DeviceID, &p.Seq, &p.EmployeeID, &p.EmployeeNumber, &dir, &atNS, &off,
		&boot, &p.BootID, &p.ClockedBy, &p.PhotoSHA256, &no, &recv, &photoAt, &photoGone, &p.RosterVersion,
		&p.Clock.Synced, &p.Clock.Anchored, &p.Clock.Behind, &trusted, &p.ChainID, &p.Hash, &late,
		&sigOK, &link, &conflict, &claimants)
	if err != nil {
		return Punch{}, err
	}
	if trusted.Valid {
		p.TrustedAt = time.Unix(0, trusted.Int64)
	}
	p.Integrity.Status = integrityOf(sigOK.Valid, sigOK.Bool, link.String, conflict.String, claimants, late)
	p.Direction, p.NoPhoto = punch.Direction(dir), punch.NoPhoto(no)
	p.At = decodeTime(atNS, off)
	p.BootTime = time.Duration(boot)
	p.ReceivedAt = time.Unix(0, recv)
	p.PhotoReceivedAt, p.PhotoDeletedAt = nullTime(photoAt), nullTime(photoGone)
	return p, nil
}

// Punch returns the accepted punch with the given ID, or ErrNotFound.
func (s *Store) Punch(id string) (Punch, error) {
	p, err := scanPunch(s.r.QueryRow(`SELECT `+punchColumns+punchFrom+` WHERE p.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Punch{}, errorf(ErrNotFound, "backoffice: no punch %s", id)
	}
	if err == nil {
		ps := []Punch{p}
		err = s.fillGaps(ps)
		p = ps[0]
	}
	if err != nil {
		return Punch{}, s.wrap("read punch "+id, err)
	}
	return p, nil
}

// PunchFilter selects punches. Zero fields select everything.
type PunchFilter struct {
	EmployeeID string
	DeviceID   string
	From, To   time.Time // From <= Time() < To: by the trusted time where there is one
	Limit      int       // 0: no limit
}

// Punches returns the accepted punches that f selects, by Time (the
// trusted time where there is one), then device and sequence number.
func (s *Store) Punches(f PunchFilter) ([]Punch, error) {
	var (
		where []string
		args  []any
	)
	if f.EmployeeID != "" {
		where, args = append(where, "p.employee_id = ?"), append(args, f.EmployeeID)
	}
	if f.DeviceID != "" {
		where, args = append(where, "p.device_id = ?"), append(args, f.DeviceID)
	}
	if !f.From.IsZero() {
		where, args = append(where, punchTime+" >= ?"), append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		where, args = append(where, punchTime+" < ?"), append(args, f.To.UnixNano())
	}
	q := `SELECT ` + punchColumns + punchFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	q += " ORDER BY " + punchTime + ", p.device_id, p.seq LIMIT ?"
	args = append(args, limit)
	rows, err := s.r.QueryContext(context.Background(), q, args...)
	if err != nil {
		return nil, s.wrap("list punches", err)
	}
	defer rows.Close()
	var out []Punch
	for rows.Next() {
		p, err := scanPunch(rows)
		if err != nil {
			return nil, s.wrap("list punches", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list punches", err)
	}
	if err := s.fillGaps(out); err != nil {
		return nil, s.wrap("list punches", err)
	}
	return out, nil
}
