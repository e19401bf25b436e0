package backoffice

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/mattn/go-sqlite3"

	"github.com/siteclock/siteclock/roster"
)

// Employee is a person who may punch. The PIN is not here: it is stored only
// as roster.HashPIN with the company's KDF and never read back.
type Employee struct {
	ID           string // a UUID, made by CreateEmployee
	Number       string // 1 to 12 digits, unique; typed for Clock For
	Name         string
	RoleID       string
	Active       bool
	PhotoConsent bool        // a photo consent is on record
	Language     roster.Lang // "" means the device default
}

// validate checks what roster.New would refuse, so that a stored employee
// can always go into a roster.
func (e Employee) validate() error {
	switch {
	case e.Number == "" || len(e.Number) > 12 || strings.Trim(e.Number, "0123456789") != "":
		return invalid("employee number %q must be 1 to 12 digits (it is typed on the keypad)", e.Number)
	case strings.TrimSpace(e.Name) == "":
		return invalid("employee %s needs a name", e.Number)
	case utf8.RuneCountInString(e.Name) > maxNameLen:
		return invalid("employee %s: name longer than %d characters", e.Number, maxNameLen)
	case e.Language != "" && !e.Language.Valid():
		return invalid("employee %s: unknown language %q (use en or es, or none for the device default)", e.Number, e.Language)
	case e.RoleID == "":
		return invalid("employee %s needs a role", e.Number)
	}
	return nil
}

func validPIN(pin string) error {
	if !roster.ValidPIN(pin) {
		return invalid("a PIN is 4 to 8 digits")
	}
	return nil
}

// CreateEmployee adds an employee with the given PIN and returns it with
// its new ID (e.ID is ignored). The PIN must be unique among active
// employees (ErrPINTaken), the number among all (ErrNumberTaken).
func (s *Store) CreateEmployee(e Employee, pin string) (Employee, error) {
	e.ID = uuid.NewString()
	e.Name = strings.TrimSpace(e.Name)
	if err := e.validate(); err != nil {
		return Employee{}, err
	}
	if err := validPIN(pin); err != nil {
		return Employee{}, err
	}
	kdf, err := s.companyKDF()
	if err != nil {
		return Employee{}, err
	}
	// Hash before handing the write over: the KDF is slow on purpose, and
	// every other write would wait for it.
	hash := roster.HashPIN(kdf, pin)
	err = s.write(func(tx *sql.Tx) error {
		if err := checkEmployee(tx, e, hash); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO employees (id, number, name, role_id, active, photo_consent, language, pin_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Number, e.Name, e.RoleID, e.Active, e.PhotoConsent, string(e.Language), hash); err != nil {
			return employeeError(e, err)
		}
		return bumpRoster(tx)
	})
	if err != nil {
		return Employee{}, s.wrap("create employee "+e.Number, err)
	}
	s.log.Info("employee created", "employee_id", e.ID)
	return e, nil
}

// UpdateEmployee replaces the employee with ID e.ID. pin "" keeps the PIN.
// Reactivating an employee whose PIN another active employee took since
// fails with ErrPINTaken: give them a new PIN in the same call.
func (s *Store) UpdateEmployee(e Employee, pin string) (Employee, error) {
	e.Name = strings.TrimSpace(e.Name)
	if err := e.validate(); err != nil {
		return Employee{}, err
	}
	var hash []byte
	if pin != "" {
		if err := validPIN(pin); err != nil {
			return Employee{}, err
		}
		kdf, err := s.companyKDF()
		if err != nil {
			return Employee{}, err
		}
		hash = roster.HashPIN(kdf, pin)
	}
	err := s.write(func(tx *sql.Tx) error {
		h := hash
		if h == nil {
			err := tx.QueryRow(`SELECT pin_hash FROM employees WHERE id = ?`, e.ID).Scan(&h)
			if errors.Is(err, sql.ErrNoRows) {
				return errorf(ErrNotFound, "backoffice: no employee with ID %s", e.ID)
			}
			if err != nil {
				return err
			}
		}
		if err := checkEmployee(tx, e, h); err != nil {
			return err
		}
		res, err := tx.Exec(`UPDATE employees SET number = ?, name = ?, role_id = ?, active = ?, photo_consent = ?, language = ?, pin_hash = ?
			WHERE id = ?`, e.Number, e.Name, e.RoleID, e.Active, e.PhotoConsent, string(e.Language), h, e.ID)
		if err != nil {
			return employeeError(e, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errorf(ErrNotFound, "backoffice: no employee with ID %s", e.ID)
		}
		return bumpRoster(tx)
	})
	if err != nil {
		return Employee{}, s.wrap("update employee "+e.Number, err)
	}
	s.log.Info("employee updated", "employee_id", e.ID, "pin_changed", pin != "")
	return e, nil
}

// checkEmployee gives the friendly errors for what the constraints would
// refuse anyway: an unknown role, a taken number, a taken PIN.
func checkEmployee(tx *sql.Tx, e Employee, pinHash []byte) error {
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM roles WHERE id = ?`, e.RoleID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return invalid("employee %s: no role %q", e.Number, e.RoleID)
	}
	if err := tx.QueryRow(`SELECT count(*) FROM employees WHERE number = ? AND id <> ?`, e.Number, e.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errorf(ErrNumberTaken, "backoffice: employee number %s is already used by another employee; choose another", e.Number)
	}
	if !e.Active {
		return nil
	}
	// Unique by hash equality: the salt is the company's, so equal PINs
	// have equal hashes.
	if err := tx.QueryRow(`SELECT count(*) FROM employees WHERE pin_hash = ? AND active = 1 AND id <> ?`, pinHash, e.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errorf(ErrPINTaken, "backoffice: employee %s: that PIN is already used by another active employee; choose another", e.Number)
	}
	return nil
}

// employeeError turns a constraint failure that checkEmployee did not
// foresee (a concurrent change) into the same sentinels.
func employeeError(e Employee, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
		switch {
		case strings.Contains(se.Error(), "employees.number"):
			return errorf(ErrNumberTaken, "backoffice: employee number %s is already used by another employee; choose another", e.Number)
		case strings.Contains(se.Error(), "employees.pin_hash"):
			return errorf(ErrPINTaken, "backoffice: employee %s: that PIN is already used by another active employee; choose another", e.Number)
		}
	}
	return err
}

const employeeColumns = `id, number, name, role_id, active, photo_consent, language`

func scanEmployee(sc interface{ Scan(...any) error }) (Employee, error) {
	var (
		e    Employee
		lang string
	)
	err := sc.Scan(&e.ID, &e.Number, &e.Name, &e.RoleID, &e.Active, &e.PhotoConsent, &lang)
	e.Language = roster.Lang(lang)
	return e, err
}

// Employee returns the employee with the given ID, or ErrNotFound.
func (s *Store) Employee(id string) (Employee, error) {
	e, err := scanEmployee(s.r.QueryRow(`SELECT `+employeeColumns+` FROM employees WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Employee{}, errorf(ErrNotFound, "backoffice: no employee with ID %s", id)
	}
	if err != nil {
		return Employee{}, s.wrap("read employee "+id, err)
	}
	return e, nil
}

// Employees returns every employee, active or not, by employee number.
func (s *Store) Employees() ([]Employee, error) {
	es, err := listEmployees(context.Background(), s.r, nil)
	if err != nil {
		return nil, s.wrap("list employees", err)
	}
	return es, nil
}

// listEmployees lists employees by number (shorter numbers first, so 99
// comes before 100), with their PIN hashes if hashes is not nil.
func listEmployees(ctx context.Context, q querier, hashes *[][]byte) ([]Employee, error) {
	cols := employeeColumns
	if hashes != nil {
		cols += ", pin_hash"
	}
	rows, err := q.QueryContext(ctx, `SELECT `+cols+` FROM employees ORDER BY length(number), number`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Employee
	for rows.Next() {
		var e Employee
		var lang string
		dest := []any{&e.ID, &e.Number, &e.Name, &e.RoleID, &e.Active, &e.PhotoConsent, &lang}
		var h []byte
		if hashes != nil {
			dest = append(dest, &h)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		e.Language = roster.Lang(lang)
		out = append(out, e)
		if hashes != nil {
			*hashes = append(*hashes, h)
		}
	}
	return out, rows.Err()
}

var roleIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// SaveRole creates the role r.ID or replaces its name and flags.
func (s *Store) SaveRole(r roster.Role) error {
	r.Name = strings.TrimSpace(r.Name)
	if !roleIDPattern.MatchString(r.ID) {
		return invalid("role ID %q must be 1 to 32 lowercase letters, digits, '-' or '_'", r.ID)
	}
	if r.Name == "" {
		r.Name = r.ID
	}
	if utf8.RuneCountInString(r.Name) > maxNameLen {
		return invalid("role name longer than %d characters", maxNameLen)
	}
	err := s.write(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO roles (id, name, face_front, clock_for) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, face_front = excluded.face_front, clock_for = excluded.clock_for`,
			r.ID, r.Name, r.FaceFront, r.ClockFor); err != nil {
			return err
		}
		return bumpRoster(tx)
	})
	if err != nil {
		return s.wrap("save role "+r.ID, err)
	}
	s.log.Info("role saved", "role", r.ID, "facefront", r.FaceFront, "clock_for", r.ClockFor)
	return nil
}

// SetRoleFlags turns FaceFront and Clock For on or off for a role.
func (s *Store) SetRoleFlags(id string, faceFront, clockFor bool) error {
	err := s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE roles SET face_front = ?, clock_for = ? WHERE id = ?`, faceFront, clockFor, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errorf(ErrNotFound, "backoffice: no role %q", id)
		}
		return bumpRoster(tx)
	})
	if err != nil {
		return s.wrap("set role "+id, err)
	}
	s.log.Info("role flags set", "role", id, "facefront", faceFront, "clock_for", clockFor)
	return nil
}

// Roles returns the security roles by ID.
func (s *Store) Roles() ([]roster.Role, error) {
	rs, err := listRoles(context.Background(), s.r)
	if err != nil {
		return nil, s.wrap("list roles", err)
	}
	return rs, nil
}

func listRoles(ctx context.Context, q querier) ([]roster.Role, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, face_front, clock_for FROM roles ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []roster.Role
	for rows.Next() {
		var r roster.Role
		if err := rows.Scan(&r.ID, &r.Name, &r.FaceFront, &r.ClockFor); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// validSettings checks st as a kiosk would and fills in the defaults.
func validSettings(st roster.Settings) (roster.Settings, error) {
	// roster.New is the one place that knows what a kiosk accepts.
	kdf := roster.KDF{Salt: make([]byte, 16), Iterations: roster.MinIterations}
	r, err := roster.New("check", kdf, st, nil, nil)
	if err != nil {
		return roster.Settings{}, invalid("%s", strings.TrimPrefix(err.Error(), "roster: "))
	}
	if utf8.RuneCountInString(r.Settings.Nickname) > maxNameLen {
		return roster.Settings{}, invalid("nickname longer than %d characters", maxNameLen)
	}
	return r.Settings, nil
}

// Settings returns the device settings the kiosks get with the roster.
func (s *Store) Settings() (roster.Settings, error) {
	st, err := readSettings(context.Background(), s.r)
	if err != nil {
		return roster.Settings{}, s.wrap("read settings", err)
	}
	return st, nil
}

func readSettings(ctx context.Context, q querier) (roster.Settings, error) {
	var (
		st                                roster.Settings
		lang                              string
		timeout, saved, count, prev, mess int64
	)
	err := q.QueryRowContext(ctx, `SELECT nickname, timezone, language, photo_rotation, screen_timeout_ns,
		saved_screen_ns, photo_countdown_ns, photo_preview_ns, message_screen_ns FROM settings WHERE id = 1`).Scan(
		&st.Nickname, &st.Timezone, &lang, &st.PhotoRotation, &timeout, &saved, &count, &prev, &mess)
	if errors.Is(err, sql.ErrNoRows) {
		return roster.Settings{}, errNoCompany()
	}
	st.Language = roster.Lang(lang)
	st.ScreenTimeout = time.Duration(timeout)
	st.SavedScreen = time.Duration(saved)
	st.PhotoCountdown = time.Duration(count)
	st.PhotoPreview = time.Duration(prev)
	st.MessageScreen = time.Duration(mess)
	return st, err
}

// SetSettings replaces the device settings; zero fields take
// roster.DefaultSettings. It returns what was stored.
func (s *Store) SetSettings(st roster.Settings) (roster.Settings, error) {
	st, err := validSettings(st)
	if err != nil {
		return roster.Settings{}, err
	}
	err = s.write(func(tx *sql.Tx) error {
		if err := putSettings(tx, st); err != nil {
			return err
		}
		return bumpRoster(tx)
	})
	if err != nil {
		return roster.Settings{}, s.wrap("store settings", err)
	}
	s.log.Info("device settings changed")
	return st, nil
}

func putSettings(tx *sql.Tx, st roster.Settings) error {
	_, err := tx.Exec(`INSERT OR REPLACE INTO settings (id, nickname, timezone, language, photo_rotation,
		screen_timeout_ns, saved_screen_ns, photo_countdown_ns, photo_preview_ns, message_screen_ns)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		st.Nickname, st.Timezone, string(st.Language), st.PhotoRotation, int64(st.ScreenTimeout),
		int64(st.SavedScreen), int64(st.PhotoCountdown), int64(st.PhotoPreview), int64(st.MessageScreen))
	return err
}

// Roster builds the kiosk roster from one snapshot of the database: its
// Version is the company's current roster version.
func (s *Store) Roster() (*roster.Roster, error) {
	var r *roster.Roster
	err := s.readTx(context.Background(), func(q querier) error {
		var err error
		r, err = buildRoster(context.Background(), q)
		return err
	})
	if err != nil {
		return nil, s.wrap("build roster", err)
	}
	return r, nil
}

func buildRoster(ctx context.Context, q querier) (*roster.Roster, error) {
	c, err := readCompany(ctx, q)
	if err != nil {
		return nil, err
	}
	st, err := readSettings(ctx, q)
	if err != nil {
		return nil, err
	}
	roles, err := listRoles(ctx, q)
	if err != nil {
		return nil, err
	}
	var hashes [][]byte
	es, err := listEmployees(ctx, q, &hashes)
	if err != nil {
		return nil, err
	}
	emps := make([]roster.Employee, len(es))
	for i, e := range es {
		emps[i] = roster.Employee{
			ID: e.ID, Number: e.Number, Name: e.Name, RoleID: e.RoleID, Active: e.Active,
			PhotoConsent: e.PhotoConsent, Language: e.Language, PINHash: hashes[i],
		}
	}
	return roster.New(c.RosterVersion, c.KDF, st, roles, emps)
}

// cachedRoster is the marshalled roster of one version: a thousand kiosks
// fetching a new roster cost one build.
type cachedRoster struct {
	version string
	body    []byte
}

// RosterVersion returns the current roster version, e.g. "r42".
func (s *Store) RosterVersion() (string, error) {
	var n int64
	err := s.stmts.rosterVersion.QueryRow().Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNoCompany()
	}
	if err != nil {
		return "", s.wrap("read roster version", err)
	}
	return rosterVersion(n), nil
}

// RosterJSON returns the current roster in the roster file format
// (roster.Marshal) and its version.
func (s *Store) RosterJSON() (version string, body []byte, err error) {
	version, err = s.RosterVersion()
	if err != nil {
		return "", nil, err
	}
	s.rosterMu.Lock()
	defer s.rosterMu.Unlock()
	if s.rosterCache.version == version {
		return version, s.rosterCache.body, nil
	}
	r, err := s.Roster()
	if err != nil {
		return "", nil, err
	}
	body, err = roster.Marshal(r)
	if err != nil {
		return "", nil, s.wrap("marshal roster", err)
	}
	s.rosterCache = cachedRoster{version: r.Version, body: body}
	return r.Version, body, nil
}
