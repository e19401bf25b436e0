package backoffice

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// maxTextLen bounds the free-text fields a kiosk sends (nickname, hardware,
// version, installation and boot IDs).
const maxTextLen = 200

// Device is an enrolled kiosk as the back office knows it.
type Device struct {
	ID             string
	InstallationID string
	Nickname       string
	Hardware       string // "Raspberry Pi 4 Model B Rev 1.5", "Simulator"
	Version        string // software version, from the latest check-in
	PublicKey      []byte // ed25519
	EnrolledAt     time.Time
	TokenIssuedAt  time.Time // the latest enrolment of this installation
	LastCheckIn    time.Time // zero when never

	// What the kiosk reported at its latest check-in.
	RosterVersion string
	Waiting       int
	OldestWaiting time.Time
	Camera        punch.NoPhoto

	// LastUsedBy is the employee ID of the newest punch received from the
	// device (by the device's sequence number); LastUsedByName their name.
	LastUsedBy     string
	LastUsedByName string

	DisabledAt time.Time // zero when enabled
	DisabledBy string
	GoodbyeAt  time.Time // when the disabled device said it sent everything

	// Arch is the architecture the kiosk reports ("arm64"; "" if it never
	// said), Update its latest update report (updates.go).
	Arch   string
	Update UpdateStatus
}

// Disabled reports whether the device was disabled.
func (d Device) Disabled() bool { return !d.DisabledAt.IsZero() }

// Gone reports whether the device was disabled and said goodbye: nothing
// more is accepted from it.
func (d Device) Gone() bool { return !d.GoodbyeAt.IsZero() }

const deviceColumns = `d.id, d.installation_id, d.nickname, d.hardware, d.version, d.public_key,
	d.enrolled_at_ns, d.token_at_ns, d.last_checkin_ns, d.roster_version, d.waiting, d.oldest_waiting_ns,
	d.camera, d.last_used_by, coalesce((SELECT name FROM employees e WHERE e.id = d.last_used_by), ''),
	d.disabled_at_ns, d.disabled_by, d.goodbye_at_ns,
	d.arch, d.update_version, d.update_state, d.update_progress, d.update_detail, d.update_at_ns, d.update_received_ns`

// deviceFrom is what deviceColumns select from. The employee's name is a
// subquery: with this SQLite a LEFT JOIN made the lookup ten times slower.
const deviceFrom = ` FROM devices d`

func scanDevice(sc interface{ Scan(...any) error }) (Device, error) {
	var (
		d                                 Device
		enrolled, tokenAt                 int64
		checkin, oldest, disabled, byebye sql.NullInt64
		updateAt, updateRecv              sql.NullInt64
		camera                            string
	)
	err := sc.Scan(&d.ID, &d.InstallationID, &d.Nickname, &d.Hardware, &d.Version, &d.PublicKey,
		&enrolled, &tokenAt, &checkin, &d.RosterVersion, &d.Waiting, &oldest,
		&camera, &d.LastUsedBy, &d.LastUsedByName, &disabled, &d.DisabledBy, &byebye,
		&d.Arch, &d.Update.Version, &d.Update.State, &d.Update.Progress, &d.Update.Detail, &updateAt, &updateRecv)
	if err != nil {
		return Device{}, err
	}
	d.EnrolledAt = time.Unix(0, enrolled)
	d.TokenIssuedAt = time.Unix(0, tokenAt)
	d.LastCheckIn = nullTime(checkin)
	d.OldestWaiting = nullTime(oldest)
	d.Camera = punch.NoPhoto(camera)
	d.DisabledAt = nullTime(disabled)
	d.GoodbyeAt = nullTime(byebye)
	d.Update.At, d.Update.Received = nullTime(updateAt), nullTime(updateRecv)
	return d, nil
}

// tokenHash is what the store keeps of a device token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newToken returns 32 random bytes, base64url without padding.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validText checks a free-text field a kiosk sent.
func validText(field, v string, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return invalid("%s is empty", field)
	case len(v) > maxTextLen:
		return invalid("%s is longer than %d bytes", field, maxTextLen)
	case !utf8.ValidString(v):
		return invalid("%s is not UTF-8", field)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return invalid("%s has control characters", field)
	}
	return nil
}

// validateEnroll checks an enrolment request's fields (not its setup
// code); the error says which field is wrong.
func validateEnroll(req protocol.EnrollRequest) error {
	for _, f := range []struct{ name, v string }{
		{"nickname", req.Nickname}, {"hardware", req.Hardware},
		{"version", req.Version}, {"installation_id", req.InstallationID},
	} {
		if err := validText(f.name, f.v, true); err != nil {
			return err
		}
	}
	if len(req.PublicKey) != 32 {
		return invalid("public_key is %d bytes; send the 32-byte ed25519 public key, base64-encoded", len(req.PublicKey))
	}
	return nil
}

// Enroll checks the setup code (rotating it first if its period is over)
// and enrolls the device, returning it and its new secret token; only the
// token's SHA-256 is kept. Enrolling an installation ID again keeps its
// device and replaces its token, so the old token stops working, unless
// the device was disabled (ErrDisabled). Other errors: ErrInvalid,
// ErrWrongCode, ErrExpiredCode, ErrNoCompany.
func (s *Store) Enroll(req protocol.EnrollRequest, now time.Time) (Device, string, error) {
	if err := validateEnroll(req); err != nil {
		return Device{}, "", err
	}
	// Enrolment writes the version column too: an older check-in still
	// pending must not overwrite it afterwards.
	if err := s.flushCheckIns(); err != nil {
		return Device{}, "", err
	}
	token := newToken()
	var id string
	err := s.write(func(tx *sql.Tx) error {
		if err := checkSetupCode(tx, req.SetupCode, now); err != nil {
			return err
		}
		var disabled sql.NullInt64
		var key []byte
		err := tx.QueryRow(`SELECT id, disabled_at_ns, public_key FROM devices WHERE installation_id = ?`, req.InstallationID).Scan(&id, &disabled, &key)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			id = uuid.NewString()
			_, err = tx.Exec(`INSERT INTO devices (id, installation_id, nickname, hardware, version, public_key,
				token_sha256, enrolled_at_ns, token_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, req.InstallationID, req.Nickname, req.Hardware, req.Version, req.PublicKey,
				tokenHash(token), now.UnixNano(), now.UnixNano())
			return err
		case err != nil:
			return err
		case disabled.Valid:
			return errorf(ErrDisabled, "backoffice: this installation belongs to a disabled device; reinstall the kiosk software to enroll it as a new device")
		case !bytes.Equal(key, req.PublicKey):
			// Knowing an installation ID and the setup code must not be
			// enough to take over a kiosk's identity: only the holder of
			// its private key may enroll it again.
			return ErrKeyMismatch
		}
		_, err = tx.Exec(`UPDATE devices SET nickname = ?, hardware = ?, version = ?, public_key = ?, token_sha256 = ?, token_at_ns = ?
			WHERE id = ?`, req.Nickname, req.Hardware, req.Version, req.PublicKey, tokenHash(token), now.UnixNano(), id)
		return err
	})
	if err != nil {
		return Device{}, "", s.wrap("enroll", err)
	}
	s.reloadDevice(id) // the new token works, the old one no longer
	d, err := s.Device(id)
	if err != nil {
		return Device{}, "", err
	}
	s.log.Info("device enrolled", "device_id", id, "nickname", d.Nickname, "hardware", d.Hardware, "reenrolled", d.EnrolledAt != d.TokenIssuedAt)
	return d, token, nil
}

// deviceAuth is what a request needs to know of the device that sent it.
type deviceAuth struct {
	ID       string
	Disabled bool
	Gone     bool // disabled and said goodbye
}

// authenticate finds the device whose token this is (ErrUnauthorized if
// none), reading only what the handlers need: it runs on every request, so
// from memory when it can (see checkins.go).
func (s *Store) authenticate(token string) (deviceAuth, error) {
	s.startFlusher()
	hash := sha256.Sum256([]byte(token))
	if d, ok := s.viewedByToken(hash); ok {
		return d, nil
	}
	var d deviceAuth
	err := s.stmts.authenticate.QueryRow(hash[:]).Scan(&d.ID, &d.Disabled, &d.Gone)
	if errors.Is(err, sql.ErrNoRows) {
		return deviceAuth{}, errorf(ErrUnauthorized, "backoffice: unknown device token")
	}
	if err != nil {
		return deviceAuth{}, s.wrap("authenticate device", err)
	}
	return d, nil
}

// Device returns the device with the given ID, or ErrNotFound. Its
// check-in fields include every check-in that has returned.
func (s *Store) Device(id string) (Device, error) {
	s.flushForRead()
	d, err := scanDevice(s.r.QueryRow(`SELECT `+deviceColumns+deviceFrom+` WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, errorf(ErrNotFound, "backoffice: no device %s", id)
	}
	if err != nil {
		return Device{}, s.wrap("read device "+id, err)
	}
	return d, nil
}

// Devices returns every device, enabled ones first, by nickname. Their
// check-in fields include every check-in that has returned.
func (s *Store) Devices() ([]Device, error) {
	s.flushForRead()
	rows, err := s.r.Query(`SELECT ` + deviceColumns + deviceFrom + ` ORDER BY d.disabled_at_ns IS NOT NULL, d.nickname, d.id`)
	if err != nil {
		return nil, s.wrap("list devices", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, s.wrap("list devices", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list devices", err)
	}
	return out, nil
}

// checkDevice refuses, inside a write, a device that said goodbye since
// the request was authenticated.
func checkDevice(tx *sql.Tx, s *Store, id string) error {
	var byebye sql.NullInt64
	err := tx.Stmt(s.stmts.deviceGone).QueryRow(id).Scan(&byebye)
	if errors.Is(err, sql.ErrNoRows) {
		return errorf(ErrUnauthorized, "backoffice: no device %s", id)
	}
	if err != nil {
		return err
	}
	if byebye.Valid {
		return errDisabled()
	}
	return nil
}

func errDisabled() error {
	return errorf(ErrDisabled, "backoffice: this device is disabled and has said goodbye")
}

// validateCheckIn checks what a kiosk reports at check-in.
func validateCheckIn(c protocol.CheckIn) error {
	for _, f := range []struct{ name, v string }{
		{"version", c.Version}, {"roster_version", c.RosterVersion}, {"boot_id", c.BootID}, {"last_used_by", c.LastUsedBy},
	} {
		if err := validText(f.name, f.v, false); err != nil {
			return err
		}
	}
	switch {
	case c.Waiting < 0:
		return invalid("waiting is negative")
	case !c.Camera.Valid():
		return invalid("camera %q is not a known status (\"\" or a no_photo reason)", c.Camera)
	case !c.OldestWaiting.IsZero() && !inRange(c.OldestWaiting), !c.DeviceTime.IsZero() && !inRange(c.DeviceTime):
		return invalid("a time is out of range")
	case c.BootTimeNS < 0:
		return invalid("boot_time_ns is negative")
	}
	return validateUpdate(c)
}

// CheckIn records what a device reports and answers with what it should
// know: the server's time, the current roster version, whether it is
// disabled, how often to check in, and the release to install if an admin
// chose one for it (offerUpdate). The pairing of the device's boot clock
// with the server's clock is kept per boot; its architecture and update
// report are kept with the device.
//
// The answer reflects every change that committed before the call (a
// device disabled, a new roster); the report is kept in memory and written
// with the next flush (see checkins.go). A device that said goodbye gets
// ErrDisabled, an unknown one ErrUnauthorized.
func (s *Store) CheckIn(deviceID string, c protocol.CheckIn, now time.Time) (protocol.CheckInResponse, error) {
	if err := validateCheckIn(c); err != nil {
		return protocol.CheckInResponse{}, err
	}
	if s.ci.closed.Load() {
		return protocol.CheckInResponse{}, ErrClosed
	}
	s.startFlusher()
	d, ok := s.viewedByID(deviceID)
	if !ok {
		err := s.stmts.deviceState.QueryRow(deviceID).Scan(&d.Disabled, &d.Gone)
		if errors.Is(err, sql.ErrNoRows) {
			return protocol.CheckInResponse{}, errorf(ErrUnauthorized, "backoffice: no device %s", deviceID)
		}
		if err != nil {
			return protocol.CheckInResponse{}, s.wrap("check in device "+deviceID, err)
		}
	}
	if d.Gone {
		return protocol.CheckInResponse{}, errDisabled()
	}
	answer, err := s.companyAnswer()
	if err != nil {
		return protocol.CheckInResponse{}, err
	}
	at := now.UnixNano()
	rec := pendingCheckIn{at: at, version: c.Version, rosterVersion: c.RosterVersion, waiting: c.Waiting,
		oldestWaiting: optionalNS(c.OldestWaiting), camera: string(c.Camera), arch: c.Arch}
	if c.Update != nil {
		u := *c.Update
		rec.update, rec.updateAt = &u, at
	}
	anchor := pendingAnchor{server: at, device: optionalNS(c.DeviceTime), boot: c.BootTimeNS, firstSeen: at}
	offer := s.offerUpdate(deviceID, d.Disabled, c, at)
	if !s.recordCheckIn(deviceID, rec, c.BootID, anchor) {
		return protocol.CheckInResponse{}, ErrClosed
	}
	if rec.update != nil {
		s.noteOutcome(deviceID, rec.update, at)
	}
	return protocol.CheckInResponse{
		ServerTime:    now,
		RosterVersion: rosterVersion(answer.rosterVersion),
		Disabled:      d.Disabled,
		SyncEvery:     protocol.Duration(answer.syncEvery),
		Update:        offer,
	}, nil
}

// ClockAnchor pairs the server's clock with a device's clocks at one
// check-in.
type ClockAnchor struct {
	DeviceID   string
	BootID     string
	ServerTime time.Time
	DeviceTime time.Time     // the device's wall clock; zero if not sent
	BootTime   time.Duration // the device's CLOCK_BOOTTIME
	FirstSeen  time.Time     // the first check-in of this boot
}

// ClockAnchors returns the latest anchor of each boot of a device, newest
// first, including those of every check-in that has returned.
func (s *Store) ClockAnchors(deviceID string) ([]ClockAnchor, error) {
	s.flushForRead()
	rows, err := s.r.Query(`SELECT boot_id, server_time_ns, device_time_ns, boot_time_ns, first_seen_ns
		FROM clock_anchors WHERE device_id = ? ORDER BY server_time_ns DESC`, deviceID)
	if err != nil {
		return nil, s.wrap("list clock anchors", err)
	}
	defer rows.Close()
	var out []ClockAnchor
	for rows.Next() {
		a := ClockAnchor{DeviceID: deviceID}
		var server, boot, first int64
		var dev sql.NullInt64
		if err := rows.Scan(&a.BootID, &server, &dev, &boot, &first); err != nil {
			return nil, s.wrap("list clock anchors", err)
		}
		a.ServerTime, a.DeviceTime, a.BootTime, a.FirstSeen = time.Unix(0, server), nullTime(dev), time.Duration(boot), time.Unix(0, first)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list clock anchors", err)
	}
	return out, nil
}

// DisableDevice disables a device on behalf of by (an admin's name). The
// device learns it at its next check-in, may still send what it holds, and
// then says goodbye. Disabling a disabled device changes nothing.
func (s *Store) DisableDevice(id, by string, now time.Time) error {
	if err := validText("disabled by", by, true); err != nil {
		return err
	}
	err := s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE devices SET disabled_at_ns = ?, disabled_by = ? WHERE id = ? AND disabled_at_ns IS NULL`,
			now.UnixNano(), by, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		return deviceExists(tx, id) // disabled already, or no such device
	})
	if err != nil {
		return s.wrap("disable device "+id, err)
	}
	s.reloadDevice(id) // its next check-in hears it
	s.log.Info("device disabled", "device_id", id, "by", by)
	return nil
}

// Goodbye records that a disabled device sent everything it held. From now
// on its token is refused (ErrDisabled). A device that is not disabled gets
// ErrNotDisabled.
func (s *Store) Goodbye(deviceID string, now time.Time) error {
	err := s.write(func(tx *sql.Tx) error {
		var disabled, byebye sql.NullInt64
		err := tx.QueryRow(`SELECT disabled_at_ns, goodbye_at_ns FROM devices WHERE id = ?`, deviceID).Scan(&disabled, &byebye)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return errorf(ErrUnauthorized, "backoffice: no device %s", deviceID)
		case err != nil:
			return err
		case !disabled.Valid:
			return errorf(ErrNotDisabled, "backoffice: device %s is not disabled; only a disabled device says goodbye", deviceID)
		case byebye.Valid:
			return errDisabled()
		}
		_, err = tx.Exec(`UPDATE devices SET goodbye_at_ns = ? WHERE id = ?`, now.UnixNano(), deviceID)
		return err
	})
	if err != nil {
		return s.wrap("goodbye of device "+deviceID, err)
	}
	s.reloadDevice(deviceID) // its token is refused from now on
	s.log.Info("device said goodbye", "device_id", deviceID)
	return nil
}

// statements are prepared once: they run on every request.
type statements struct {
	authenticate  *sql.Stmt // readers
	rosterVersion *sql.Stmt // readers
	deviceState   *sql.Stmt // readers
	checkInAnswer *sql.Stmt // readers
	deviceGone    *sql.Stmt // writer
	checkIn       *sql.Stmt // writer: flushCheckIns
	updateReport  *sql.Stmt // writer: flushCheckIns
	anchor        *sql.Stmt // writer
	punchExists   *sql.Stmt // writer
	punchEmployee *sql.Stmt // writer
	insertPunch   *sql.Stmt // writer
	clearRejected *sql.Stmt // writer
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db   *sql.DB
		stmt **sql.Stmt
		sql  string
	}{
		{s.r, &s.stmts.authenticate, `SELECT id, disabled_at_ns IS NOT NULL, goodbye_at_ns IS NOT NULL FROM devices WHERE token_sha256 = ?`},
		{s.r, &s.stmts.rosterVersion, `SELECT roster_version FROM company WHERE id = 1`},
		{s.w, &s.stmts.deviceGone, `SELECT goodbye_at_ns FROM devices WHERE id = ?`},
		{s.r, &s.stmts.deviceState, `SELECT disabled_at_ns IS NOT NULL, goodbye_at_ns IS NOT NULL FROM devices WHERE id = ?`},
		{s.r, &s.stmts.checkInAnswer, `SELECT roster_version, sync_every_ns FROM company WHERE id = 1`},
		{s.w, &s.stmts.checkIn, `UPDATE devices SET last_checkin_ns = ?, version = ?, roster_version = ?, waiting = ?,
			oldest_waiting_ns = ?, camera = ?, arch = coalesce(nullif(?, ''), arch) WHERE id = ?`},
		{s.w, &s.stmts.updateReport, `UPDATE devices SET update_version = ?, update_state = ?, update_progress = ?,
			update_detail = ?, update_at_ns = ?, update_received_ns = ? WHERE id = ?`},
		{s.w, &s.stmts.anchor, `INSERT INTO clock_anchors (device_id, boot_id, server_time_ns, device_time_ns, boot_time_ns, first_seen_ns)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, boot_id) DO UPDATE SET server_time_ns = excluded.server_time_ns,
			device_time_ns = excluded.device_time_ns, boot_time_ns = excluded.boot_time_ns`},
		{s.w, &s.stmts.punchExists, `SELECT device_id FROM punches WHERE id = ?`},
		{s.w, &s.stmts.punchEmployee, `SELECT r.clock_for FROM employees e JOIN roles r ON r.id = e.role_id WHERE e.id = ?`},
		{s.w, &s.stmts.insertPunch, insertPunchSQL},
		{s.w, &s.stmts.clearRejected, `DELETE FROM rejected_punches WHERE device_id = ? AND punch_id = ? AND punch_id <> ''`},
	} {
		st, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.stmt = st
	}
	return nil
}

func (st *statements) close() {
	for _, s := range []*sql.Stmt{st.authenticate, st.rosterVersion, st.deviceState, st.checkInAnswer, st.deviceGone, st.checkIn,
		st.updateReport, st.anchor, st.punchExists, st.punchEmployee, st.insertPunch, st.clearRejected} {
		if s != nil {
			s.Close()
		}
	}
}
