package backoffice

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siteclock/siteclock/roster"
)

// Defaults of a new company.
const (
	DefaultSyncEvery       = 5 * time.Minute
	DefaultSetupCodePeriod = 7 * 24 * time.Hour
)

// SetupCodeDigits is the length of a setup code: typed on a kiosk keypad,
// and with enrolment rate-limited, 10^8 codes make guessing hopeless.
const SetupCodeDigits = 8

// keepRetiredCodes is how many rotated-away setup codes are remembered, so
// that a kiosk typing one hears "expired" instead of "wrong".
const keepRetiredCodes = 20

// Limits on company settings.
const (
	minSyncEvery       = 30 * time.Second
	maxSyncEvery       = 24 * time.Hour
	minSetupCodePeriod = time.Hour
	maxSetupCodePeriod = 365 * 24 * time.Hour
	maxRetentionDays   = 100 * 365
	maxNameLen         = 100
)

// DefaultRoles are the security roles a new company starts with.
var DefaultRoles = []roster.Role{
	{ID: "worker", Name: "Worker", FaceFront: true},
	{ID: "foreman", Name: "Foreman", FaceFront: true, ClockFor: true},
	{ID: "office", Name: "Office"},
}

// Company is the one company a server keeps.
type Company struct {
	CompanySettings
	// KDF hashes every PIN of the company; made at creation, never changed
	// (changing it would invalidate every stored PIN).
	KDF           roster.KDF
	RosterVersion string // "r" and the counter, e.g. "r42"
	CreatedAt     time.Time
}

// CompanySettings are what an admin may change about the company.
type CompanySettings struct {
	Name string
	// SyncEvery is how often an online kiosk checks in.
	SyncEvery time.Duration
	// PhotoRetentionDays is how long photos are kept; 0 keeps them.
	PhotoRetentionDays int
	// SetupCodePeriod is how long a setup code lasts before it rotates.
	SetupCodePeriod time.Duration
}

func (cs CompanySettings) validate() error {
	switch {
	case strings.TrimSpace(cs.Name) == "":
		return invalid("the company needs a name")
	case utf8.RuneCountInString(cs.Name) > maxNameLen:
		return invalid("company name longer than %d characters", maxNameLen)
	case cs.SyncEvery < minSyncEvery || cs.SyncEvery > maxSyncEvery:
		return invalid("sync interval %v out of range (%v to %v)", cs.SyncEvery, minSyncEvery, maxSyncEvery)
	case cs.SetupCodePeriod < minSetupCodePeriod || cs.SetupCodePeriod > maxSetupCodePeriod:
		return invalid("setup code period %v out of range (%v to %v)", cs.SetupCodePeriod, minSetupCodePeriod, maxSetupCodePeriod)
	case cs.PhotoRetentionDays < 0 || cs.PhotoRetentionDays > maxRetentionDays:
		return invalid("photo retention of %d days out of range (0 keeps photos; at most %d)", cs.PhotoRetentionDays, maxRetentionDays)
	}
	return nil
}

// CreateCompany creates the server's company with the default roles, the
// default device settings, a new PIN salt and a first setup code. There is
// one company per data folder: a second call fails with ErrCompanyExists.
func (s *Store) CreateCompany(name string, now time.Time) (Company, error) {
	cs := CompanySettings{Name: strings.TrimSpace(name), SyncEvery: DefaultSyncEvery, SetupCodePeriod: DefaultSetupCodePeriod}
	if err := cs.validate(); err != nil {
		return Company{}, err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	st, err := validSettings(roster.DefaultSettings)
	if err != nil {
		return Company{}, err
	}
	err = s.write(func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM company`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(ErrCompanyExists, "backoffice: a company already exists in %s (one company per server)", s.dir)
		}
		if _, err := tx.Exec(`INSERT INTO company (id, name, kdf_salt, kdf_iterations, roster_version,
			sync_every_ns, photo_retention_days, setup_code_period_ns, created_at_ns)
			VALUES (1, ?, ?, ?, 1, ?, ?, ?, ?)`,
			cs.Name, salt, roster.DefaultIterations, int64(cs.SyncEvery), cs.PhotoRetentionDays,
			int64(cs.SetupCodePeriod), now.UnixNano()); err != nil {
			return err
		}
		for _, ro := range DefaultRoles {
			if _, err := tx.Exec(`INSERT INTO roles (id, name, face_front, clock_for) VALUES (?, ?, ?, ?)`,
				ro.ID, ro.Name, ro.FaceFront, ro.ClockFor); err != nil {
				return err
			}
		}
		if err := putSettings(tx, st); err != nil {
			return err
		}
		_, err := newSetupCode(tx, now)
		return err
	})
	if err != nil {
		return Company{}, s.wrap("create company", err)
	}
	s.log.Info("company created", "company", cs.Name)
	return s.Company()
}

// Company returns the company, or an error wrapping ErrNoCompany.
func (s *Store) Company() (Company, error) {
	c, err := readCompany(context.Background(), s.r)
	if err != nil {
		return Company{}, s.wrap("read company", err)
	}
	return c, nil
}

func readCompany(ctx context.Context, q querier) (Company, error) {
	var (
		c                        Company
		version, sync, per, made int64
	)
	err := q.QueryRowContext(ctx, `SELECT name, kdf_salt, kdf_iterations, roster_version, sync_every_ns,
		photo_retention_days, setup_code_period_ns, created_at_ns FROM company WHERE id = 1`).Scan(
		&c.Name, &c.KDF.Salt, &c.KDF.Iterations, &version, &sync, &c.PhotoRetentionDays, &per, &made)
	if errors.Is(err, sql.ErrNoRows) {
		return Company{}, errNoCompany()
	}
	if err != nil {
		return Company{}, err
	}
	c.RosterVersion = rosterVersion(version)
	c.SyncEvery = time.Duration(sync)
	c.SetupCodePeriod = time.Duration(per)
	c.CreatedAt = time.Unix(0, made)
	return c, nil
}

func errNoCompany() error {
	return errorf(ErrNoCompany, "backoffice: no company yet; create it with `siteclock-server company create -data DIR -name NAME`")
}

// rosterVersion is the version string kiosks see for counter n.
func rosterVersion(n int64) string { return "r" + strconv.FormatInt(n, 10) }

// UpdateCompany changes the company's settings. None of them is part of the
// roster, so the roster version stays.
func (s *Store) UpdateCompany(cs CompanySettings) (Company, error) {
	cs.Name = strings.TrimSpace(cs.Name)
	if err := cs.validate(); err != nil {
		return Company{}, err
	}
	err := s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE company SET name = ?, sync_every_ns = ?, photo_retention_days = ?, setup_code_period_ns = ? WHERE id = 1`,
			cs.Name, int64(cs.SyncEvery), cs.PhotoRetentionDays, int64(cs.SetupCodePeriod))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoCompany()
		}
		return nil
	})
	if err != nil {
		return Company{}, s.wrap("update company", err)
	}
	return s.Company()
}

// companyKDF returns the company's PIN KDF, read once: it never changes.
func (s *Store) companyKDF() (roster.KDF, error) {
	s.kdfMu.Lock()
	defer s.kdfMu.Unlock()
	if s.kdf != nil {
		return *s.kdf, nil
	}
	c, err := s.Company()
	if err != nil {
		return roster.KDF{}, err
	}
	s.kdf = &c.KDF
	return c.KDF, nil
}

// bumpRoster increments the roster version; every change to what the
// roster holds calls it in its own transaction, after the change. It also
// brings the Clock For grants in step with the new version.
func bumpRoster(tx *sql.Tx) error {
	var v int64
	err := tx.QueryRow(`UPDATE company SET roster_version = roster_version + 1 WHERE id = 1 RETURNING roster_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoCompany()
	}
	if err != nil {
		return err
	}
	return grantClockFor(tx, v)
}

// clockForNow selects the employees who may Clock For under the roster as
// it is: active, in a role with Clock For on (the kiosk's own rule).
const clockForNow = `SELECT e.id FROM employees e JOIN roles r ON r.id = e.role_id WHERE e.active = 1 AND r.clock_for = 1`

// grantClockFor ends the grants of those who lost Clock For in roster
// version v and opens grants for those who gained it.
func grantClockFor(tx *sql.Tx, v int64) error {
	if _, err := tx.Exec(`UPDATE clock_for_grants SET to_version = ?
		WHERE to_version IS NULL AND employee_id NOT IN (`+clockForNow+`)`, v); err != nil {
		return err
	}
	_, err := tx.Exec(`INSERT INTO clock_for_grants (employee_id, from_version)
		SELECT id, ? FROM (`+clockForNow+`) now
		WHERE NOT EXISTS (SELECT 1 FROM clock_for_grants g WHERE g.employee_id = now.id AND g.to_version IS NULL)`, v)
	return err
}

// parseRosterVersion is the counter in a roster version string ("r42"),
// or false if s is not one.
func parseRosterVersion(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "r"), 10, 64)
	return n, err == nil && strings.HasPrefix(s, "r") && n >= 1 && rosterVersion(n) == s
}

// SetupCode is the company's current setup code.
type SetupCode struct {
	Code       string
	Issued     time.Time
	NextChange time.Time // when it rotates on its own
}

// SetupCode returns the current setup code, first rotating it if its
// period is over.
func (s *Store) SetupCode(now time.Time) (SetupCode, error) {
	c, err := s.Company()
	if err != nil {
		return SetupCode{}, err
	}
	code, err := currentCode(context.Background(), s.r, c.SetupCodePeriod)
	if err != nil {
		return SetupCode{}, s.wrap("read setup code", err)
	}
	if now.Before(code.NextChange) {
		return code, nil
	}
	err = s.write(func(tx *sql.Tx) error {
		code, err = dueCode(tx, now)
		return err
	})
	if err != nil {
		return SetupCode{}, s.wrap("rotate setup code", err)
	}
	return code, nil
}

// RotateSetupCode retires the current setup code at once and issues a new
// one. Kiosks typing the old code are told it expired.
func (s *Store) RotateSetupCode(now time.Time) (SetupCode, error) {
	var code SetupCode
	err := s.write(func(tx *sql.Tx) (err error) {
		code, err = newSetupCode(tx, now)
		return err
	})
	if err != nil {
		return SetupCode{}, s.wrap("rotate setup code", err)
	}
	s.log.Info("setup code rotated", "next_change", code.NextChange)
	return code, nil
}

// currentCode reads the current code.
func currentCode(ctx context.Context, q querier, period time.Duration) (SetupCode, error) {
	var (
		c      SetupCode
		issued int64
	)
	err := q.QueryRowContext(ctx, `SELECT code, created_at_ns FROM setup_codes WHERE retired_at_ns IS NULL`).Scan(&c.Code, &issued)
	if errors.Is(err, sql.ErrNoRows) {
		return SetupCode{}, errNoCompany()
	}
	if err != nil {
		return SetupCode{}, err
	}
	c.Issued = time.Unix(0, issued)
	c.NextChange = c.Issued.Add(period)
	return c, nil
}

// dueCode returns the current code inside a write, rotating it first if
// its period is over.
func dueCode(tx *sql.Tx, now time.Time) (SetupCode, error) {
	var per int64
	if err := tx.QueryRow(`SELECT setup_code_period_ns FROM company WHERE id = 1`).Scan(&per); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return SetupCode{}, errNoCompany()
		}
		return SetupCode{}, err
	}
	code, err := currentCode(context.Background(), tx, time.Duration(per))
	if err != nil || now.Before(code.NextChange) {
		return code, err
	}
	return newSetupCode(tx, now)
}

// newSetupCode retires the current code, forgets all but the newest
// retired ones, and issues a new random code that was never used before.
func newSetupCode(tx *sql.Tx, now time.Time) (SetupCode, error) {
	var per int64
	if err := tx.QueryRow(`SELECT setup_code_period_ns FROM company WHERE id = 1`).Scan(&per); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return SetupCode{}, errNoCompany()
		}
		return SetupCode{}, err
	}
	if _, err := tx.Exec(`UPDATE setup_codes SET retired_at_ns = ? WHERE retired_at_ns IS NULL`, now.UnixNano()); err != nil {
		return SetupCode{}, err
	}
	if _, err := tx.Exec(`DELETE FROM setup_codes WHERE code NOT IN
		(SELECT code FROM setup_codes ORDER BY retired_at_ns DESC LIMIT ?)`, keepRetiredCodes); err != nil {
		return SetupCode{}, err
	}
	for range 100 {
		code := randomDigits(SetupCodeDigits)
		res, err := tx.Exec(`INSERT INTO setup_codes (code, created_at_ns) VALUES (?, ?) ON CONFLICT (code) DO NOTHING`, code, now.UnixNano())
		if err != nil {
			return SetupCode{}, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return SetupCode{Code: code, Issued: now, NextChange: now.Add(time.Duration(per))}, nil
		}
	}
	return SetupCode{}, errors.New("no unused setup code found in 100 tries")
}

// checkSetupCode says whether code is the current setup code (nil), one
// rotated away (ErrExpiredCode) or neither (ErrWrongCode).
func checkSetupCode(tx *sql.Tx, code string, now time.Time) error {
	cur, err := dueCode(tx, now)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(cur.Code), []byte(code)) == 1 {
		return nil
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM setup_codes WHERE code = ? AND retired_at_ns IS NOT NULL`, code).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errorf(ErrExpiredCode, "backoffice: that setup code has expired; ask the office for the current one")
	}
	return errorf(ErrWrongCode, "backoffice: wrong setup code; check it with the office")
}

// randomDigits returns n random decimal digits from crypto/rand.
func randomDigits(n int) string {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic(fmt.Sprintf("backoffice: crypto/rand: %v", err)) // never fails on Linux
	}
	return fmt.Sprintf("%0*d", n, v.Int64())
}
