// Package roster holds what a kiosk knows about the company: employees with
// their hashed PINs, security roles (FaceFront, Clock For), and the device
// settings. A roster is immutable once built and is replaced as a whole.
package roster

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Lang is a language the kiosk speaks.
type Lang string

const (
	English Lang = "en"
	Spanish Lang = "es"
)

// Langs lists the supported languages in the order the language key cycles.
var Langs = []Lang{English, Spanish}

// Valid reports whether l is a supported language.
func (l Lang) Valid() bool {
	for _, x := range Langs {
		if x == l {
			return true
		}
	}
	return false
}

// Next returns the language after l in Langs.
func (l Lang) Next() Lang {
	for i, x := range Langs {
		if x == l {
			return Langs[(i+1)%len(Langs)]
		}
	}
	return Langs[0]
}

// Role is a kiosk security role.
type Role struct {
	ID        string
	Name      string
	FaceFront bool // take a photo at each punch
	ClockFor  bool // may punch for a crew
}

// Employee is a person who may punch.
type Employee struct {
	ID           string // stable identity from the back office
	Number       string // the employee number a foreman types for Clock For
	Name         string
	RoleID       string
	Active       bool
	PhotoConsent bool   // a photo consent is on record; no photo is taken without it
	Language     Lang   // preferred language; empty means the device default
	PINHash      []byte // HashPIN(kdf, pin) with the roster's KDF
}

// Settings are the device settings that come with the roster.
type Settings struct {
	Nickname       string
	Timezone       string // IANA name; empty means the system zone
	Language       Lang   // default language of the screens
	PhotoRotation  int    // 0, 90, 180 or 270 degrees
	ScreenTimeout  time.Duration
	SavedScreen    time.Duration // how long "Clocked IN" stays up
	PhotoCountdown time.Duration // "Look at the camera" countdown
	PhotoPreview   time.Duration // how long the photo is shown
	MessageScreen  time.Duration // how long short messages ("PIN not recognized") stay up
}

// DefaultSettings are used for anything a roster leaves unset.
var DefaultSettings = Settings{
	Nickname:       "siteclock",
	Language:       English,
	ScreenTimeout:  20 * time.Second,
	SavedScreen:    3 * time.Second,
	PhotoCountdown: 3 * time.Second,
	PhotoPreview:   1500 * time.Millisecond,
	MessageScreen:  3 * time.Second,
}

// KDF says how PINs are hashed. One salt serves the whole roster so that a
// typed PIN is hashed once and looked up, instead of once per employee:
// with hundreds of employees a per-employee salt would make every key press
// of Enter cost seconds. The salt is random per roster, so hashes cannot be
// compared across companies or rosters.
type KDF struct {
	Salt       []byte
	Iterations int
}

// MinIterations is the fewest PBKDF2 iterations a roster may ask for.
const MinIterations = 1000

// DefaultIterations is the PBKDF2 cost for new rosters: roughly 20 ms on a
// Raspberry Pi 3.
const DefaultIterations = 20000

// MaxIterations is the most PBKDF2 iterations a roster may ask for, about
// a second a PIN on a Raspberry Pi 3: more, and every PIN typed (and the
// loading of a roster with PINs in the clear) would freeze the kiosk.
const MaxIterations = 1_000_000

// HashPIN derives the stored hash of pin.
func HashPIN(k KDF, pin string) []byte {
	h, err := pbkdf2.Key(sha256.New, pin, k.Salt, k.Iterations, 32)
	if err != nil {
		// Only reachable with parameters New rejects.
		panic(fmt.Sprintf("roster: hash PIN: %v", err))
	}
	return h
}

// ValidPIN reports whether pin has the form of a PIN: 4 to 8 digits.
func ValidPIN(pin string) bool {
	if len(pin) < 4 || len(pin) > 8 {
		return false
	}
	return allDigits(pin)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Roster is an immutable snapshot of employees, roles and settings.
type Roster struct {
	Version   string
	KDF       KDF
	Settings  Settings
	loc       *time.Location
	roles     map[string]Role
	employees []Employee
	byPIN     map[string]int
	byNumber  map[string]int
	byID      map[string]int
}

// Error is a problem with one item of a roster.
type Error struct {
	Line int    // line in the source file; 0 when not from a file
	What string // e.g. `employee "1002"`
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %v", e.Line, e.What, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.What, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// New checks roles and employees and builds a roster. Settings left zero
// take DefaultSettings. lines, if not nil, gives the source line of each
// role and employee for error messages.
func New(version string, kdf KDF, s Settings, roles []Role, emps []Employee) (*Roster, error) {
	return build(version, kdf, s, roles, emps, nil, nil)
}

func build(version string, kdf KDF, s Settings, roles []Role, emps []Employee, roleLines, empLines []int) (*Roster, error) {
	line := func(lines []int, i int) int {
		if i < len(lines) {
			return lines[i]
		}
		return 0
	}
	if len(kdf.Salt) < 8 {
		return nil, errors.New("roster: PIN salt must be at least 8 bytes")
	}
	if kdf.Iterations < MinIterations {
		return nil, fmt.Errorf("roster: PIN hash iterations %d below the minimum %d", kdf.Iterations, MinIterations)
	}
	if kdf.Iterations > MaxIterations {
		return nil, fmt.Errorf("roster: PIN hash iterations %d above the maximum %d", kdf.Iterations, MaxIterations)
	}
	s, err := s.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("roster: settings: %w", err)
	}
	loc := time.Local
	if s.Timezone != "" {
		if loc, err = time.LoadLocation(s.Timezone); err != nil {
			return nil, fmt.Errorf("roster: settings: unknown timezone %q (use an IANA name such as America/Chicago)", s.Timezone)
		}
	}
	r := &Roster{
		Version:   version,
		KDF:       kdf,
		Settings:  s,
		loc:       loc,
		roles:     make(map[string]Role, len(roles)),
		employees: append([]Employee(nil), emps...),
		byPIN:     make(map[string]int, len(emps)),
		byNumber:  make(map[string]int, len(emps)),
		byID:      make(map[string]int, len(emps)),
	}
	for i, ro := range roles {
		what := fmt.Sprintf("role %q", ro.ID)
		if ro.ID == "" {
			return nil, &Error{line(roleLines, i), "role", errors.New("missing id")}
		}
		if _, dup := r.roles[ro.ID]; dup {
			return nil, &Error{line(roleLines, i), what, errors.New("defined twice")}
		}
		if ro.Name == "" {
			ro.Name = ro.ID
		}
		r.roles[ro.ID] = ro
	}
	for i := range r.employees {
		e := &r.employees[i]
		what := fmt.Sprintf("employee %q", e.Number)
		l := line(empLines, i)
		switch {
		case e.Number == "":
			return nil, &Error{l, "employee", errors.New("missing number")}
		case !allDigits(e.Number) || len(e.Number) > 12:
			return nil, &Error{l, what, errors.New("number must be 1 to 12 digits (it is typed on the keypad)")}
		case e.Name == "":
			return nil, &Error{l, what, errors.New("missing name")}
		case len(e.PINHash) != 32:
			return nil, &Error{l, what, errors.New("missing PIN")}
		case e.Language != "" && !e.Language.Valid():
			return nil, &Error{l, what, fmt.Errorf("unknown language %q (use en or es)", e.Language)}
		}
		if e.ID == "" {
			e.ID = e.Number
		}
		if _, ok := r.roles[e.RoleID]; !ok {
			return nil, &Error{l, what, fmt.Errorf("unknown role %q", e.RoleID)}
		}
		if j, dup := r.byNumber[e.Number]; dup {
			return nil, &Error{l, what, fmt.Errorf("number already used by %s", r.employees[j].Name)}
		}
		if _, dup := r.byID[e.ID]; dup {
			return nil, &Error{l, what, fmt.Errorf("id %q used twice", e.ID)}
		}
		r.byNumber[e.Number] = i
		r.byID[e.ID] = i
		if !e.Active {
			continue
		}
		k := string(e.PINHash)
		if j, dup := r.byPIN[k]; dup {
			return nil, &Error{l, what, fmt.Errorf("PIN already used by employee %s; PINs must be unique", r.employees[j].Number)}
		}
		r.byPIN[k] = i
	}
	return r, nil
}

func (s Settings) withDefaults() (Settings, error) {
	d := DefaultSettings
	if s.Nickname == "" {
		s.Nickname = d.Nickname
	}
	if s.Language == "" {
		s.Language = d.Language
	}
	if !s.Language.Valid() {
		return s, fmt.Errorf("unknown language %q (use en or es)", s.Language)
	}
	switch s.PhotoRotation {
	case 0, 90, 180, 270:
	default:
		return s, fmt.Errorf("photo rotation %d is not 0, 90, 180 or 270", s.PhotoRotation)
	}
	for _, f := range []struct {
		v        *time.Duration
		def, max time.Duration
		name     string
	}{
		{&s.ScreenTimeout, d.ScreenTimeout, 10 * time.Minute, "screen timeout"},
		{&s.SavedScreen, d.SavedScreen, time.Minute, "saved screen"},
		{&s.PhotoCountdown, d.PhotoCountdown, 10 * time.Second, "photo countdown"},
		{&s.PhotoPreview, d.PhotoPreview, 10 * time.Second, "photo preview"},
		{&s.MessageScreen, d.MessageScreen, time.Minute, "message screen"},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 0 || *f.v > f.max {
			return s, fmt.Errorf("%s %v out of range (0 to %v)", f.name, *f.v, f.max)
		}
	}
	return s, nil
}

// Location is the time zone the kiosk shows times in.
func (r *Roster) Location() *time.Location { return r.loc }

// MatchPIN returns the active employee whose PIN is pin.
func (r *Roster) MatchPIN(pin string) (Employee, bool) {
	if !ValidPIN(pin) {
		return Employee{}, false
	}
	h := HashPIN(r.KDF, pin)
	i, ok := r.byPIN[string(h)]
	if !ok || !hmac.Equal(h, r.employees[i].PINHash) {
		return Employee{}, false
	}
	return r.employees[i], true
}

// ByNumber returns the active employee with the given employee number.
func (r *Roster) ByNumber(number string) (Employee, bool) {
	i, ok := r.byNumber[number]
	if !ok || !r.employees[i].Active {
		return Employee{}, false
	}
	return r.employees[i], true
}

// ByID returns the employee with the given ID, active or not.
func (r *Roster) ByID(id string) (Employee, bool) {
	i, ok := r.byID[id]
	if !ok {
		return Employee{}, false
	}
	return r.employees[i], true
}

// Role returns the role with the given ID.
func (r *Roster) Role(id string) (Role, bool) {
	ro, ok := r.roles[id]
	return ro, ok
}

// RoleOf returns e's role.
func (r *Roster) RoleOf(e Employee) Role { return r.roles[e.RoleID] }

// Employees returns the employees in roster order.
func (r *Roster) Employees() []Employee { return append([]Employee(nil), r.employees...) }

// Roles returns the roles sorted by ID.
func (r *Roster) Roles() []Role {
	out := make([]Role, 0, len(r.roles))
	for _, ro := range r.roles {
		out = append(out, ro)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
