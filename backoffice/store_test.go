package backoffice

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/sqlitedb"
)

func TestCreateCompanyDefaults(t *testing.T) {
	s := openStore(t)
	c, err := s.Company()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Acme Framing" || c.RosterVersion != "r1" || c.SyncEvery != 5*time.Minute ||
		c.SetupCodePeriod != 7*24*time.Hour || c.PhotoRetentionDays != 0 {
		t.Errorf("company = %+v", c)
	}
	if len(c.KDF.Salt) != 16 || c.KDF.Iterations != roster.DefaultIterations {
		t.Errorf("KDF = %d-byte salt, %d iterations", len(c.KDF.Salt), c.KDF.Iterations)
	}
	roles, err := s.Roles()
	if err != nil {
		t.Fatal(err)
	}
	want := []roster.Role{
		{ID: "foreman", Name: "Foreman", FaceFront: true, ClockFor: true},
		{ID: "office", Name: "Office"},
		{ID: "worker", Name: "Worker", FaceFront: true},
	}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Errorf("roles = %v, want %v", roles, want)
	}
	st, err := s.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if st != roster.DefaultSettings {
		t.Errorf("settings = %+v, want the defaults", st)
	}
	code, err := s.SetupCode(t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(code.Code) != 8 || strings.Trim(code.Code, "0123456789") != "" || !code.NextChange.Equal(t0.Add(7*24*time.Hour)) {
		t.Errorf("setup code = %+v", code)
	}
	_, err = s.CreateCompany("Another", t0)
	wantErr(t, err, ErrCompanyExists)
}

func TestNoCompany(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Company()
	wantErr(t, err, ErrNoCompany)
	_, err = s.CreateEmployee(Employee{Number: "1", Name: "A", RoleID: "worker", Active: true}, "1234")
	wantErr(t, err, ErrNoCompany)
	_, err = s.SetupCode(t0)
	wantErr(t, err, ErrNoCompany)
}

func TestRosterVersionBumpsWithEveryRosterChange(t *testing.T) {
	s := openStore(t)
	version := func() string {
		v, err := s.RosterVersion()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	steps := []struct {
		name   string
		change func() error
		bumps  bool
	}{
		{"create employee", func() error {
			_, err := s.CreateEmployee(Employee{Number: "7", Name: "Gus", RoleID: "worker", Active: true}, "7777")
			return err
		}, true},
		{"update employee", func() error {
			es, _ := s.Employees()
			es[0].Name = "Gus Grant"
			_, err := s.UpdateEmployee(es[0], "")
			return err
		}, true},
		{"set role flags", func() error { return s.SetRoleFlags("worker", false, false) }, true},
		{"save role", func() error { return s.SaveRole(roster.Role{ID: "driver", Name: "Driver", FaceFront: true}) }, true},
		{"set settings", func() error {
			_, err := s.SetSettings(roster.Settings{Nickname: "Yard", PhotoRotation: 90, Timezone: "America/Chicago"})
			return err
		}, true},
		{"update company", func() error {
			_, err := s.UpdateCompany(CompanySettings{Name: "Acme", SyncEvery: time.Minute, SetupCodePeriod: time.Hour, PhotoRetentionDays: 30})
			return err
		}, false},
		{"refused change", func() error {
			_, err := s.CreateEmployee(Employee{Number: "7", Name: "Dup", RoleID: "worker", Active: true}, "8888")
			if err == nil {
				return fmt.Errorf("duplicate number accepted")
			}
			return nil
		}, false},
	}
	for _, st := range steps {
		before := version()
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := version()
		if bumped := after != before; bumped != st.bumps {
			t.Errorf("%s: version %s -> %s, want bumped=%v", st.name, before, after, st.bumps)
		}
		r := mustRoster(t, s)
		if r.Version != after {
			t.Errorf("%s: roster version %s, want %s", st.name, r.Version, after)
		}
	}
	r := mustRoster(t, s)
	if r.Settings.PhotoRotation != 90 || r.Location().String() != "America/Chicago" {
		t.Errorf("roster settings = %+v", r.Settings)
	}
	if ro, _ := r.Role("worker"); ro.FaceFront {
		t.Errorf("worker role = %+v, want FaceFront off", ro)
	}
}

func TestPINsAreUniqueAndStoredOnlyAsHashes(t *testing.T) {
	s := openStore(t)
	const pin = "73914682"
	gus, err := s.CreateEmployee(Employee{Number: "7", Name: "Gus", RoleID: "worker", Active: true}, pin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateEmployee(Employee{Number: "8", Name: "Hal", RoleID: "worker", Active: true}, pin)
	wantErr(t, err, ErrPINTaken)
	if strings.Contains(err.Error(), "Gus") || strings.Contains(err.Error(), "7 ") {
		t.Errorf("error %q names the employee whose PIN it is", err)
	}
	// An inactive employee may hold a PIN an active one has; bringing
	// them back needs a new PIN.
	ivy, err := s.CreateEmployee(Employee{Number: "9", Name: "Ivy", RoleID: "worker"}, pin)
	if err != nil {
		t.Fatal(err)
	}
	ivy.Active = true
	_, err = s.UpdateEmployee(ivy, "")
	wantErr(t, err, ErrPINTaken)
	if _, err := s.UpdateEmployee(ivy, "4455"); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateEmployee(gus, "4455")
	wantErr(t, err, ErrPINTaken)

	r := mustRoster(t, s)
	if e, ok := r.MatchPIN(pin); !ok || e.ID != gus.ID {
		t.Errorf("MatchPIN(%s) = %+v, %v; want Gus", pin, e, ok)
	}
	if e, ok := r.MatchPIN("4455"); !ok || e.ID != ivy.ID {
		t.Errorf("MatchPIN(4455) = %+v, %v; want Ivy", e, ok)
	}

	// No file of the data folder holds a PIN in the clear.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(s.Dir(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{pin, "4455"} {
			if bytes.Contains(b, []byte(p)) {
				t.Errorf("%s contains the PIN %s", filepath.Base(path), p)
			}
		}
		return nil
	})
}

func TestEmployeeValidation(t *testing.T) {
	s := openStore(t)
	ok := Employee{Number: "12", Name: "Gus", RoleID: "worker", Active: true}
	if _, err := s.CreateEmployee(ok, "1234"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		e    Employee
		pin  string
		want error
	}{
		{"number with letters", Employee{Number: "12a", Name: "X", RoleID: "worker"}, "5678", ErrInvalid},
		{"number too long", Employee{Number: "1234567890123", Name: "X", RoleID: "worker"}, "5678", ErrInvalid},
		{"no name", Employee{Number: "13", Name: "  ", RoleID: "worker"}, "5678", ErrInvalid},
		{"unknown role", Employee{Number: "13", Name: "X", RoleID: "pilot"}, "5678", ErrInvalid},
		{"unknown language", Employee{Number: "13", Name: "X", RoleID: "worker", Language: "fr"}, "5678", ErrInvalid},
		{"short PIN", Employee{Number: "13", Name: "X", RoleID: "worker"}, "123", ErrInvalid},
		{"long PIN", Employee{Number: "13", Name: "X", RoleID: "worker"}, "123456789", ErrInvalid},
		{"PIN with letters", Employee{Number: "13", Name: "X", RoleID: "worker"}, "12a4", ErrInvalid},
		{"number taken", Employee{Number: "12", Name: "X", RoleID: "worker"}, "5678", ErrNumberTaken},
	} {
		_, err := s.CreateEmployee(c.e, c.pin)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if n := count(t, s, "employees"); n != 1 {
		t.Errorf("%d employees stored, want 1", n)
	}
	_, err := s.UpdateEmployee(Employee{ID: "nobody", Number: "99", Name: "X", RoleID: "worker"}, "")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.SetRoleFlags("pilot", true, true), ErrNotFound)
	wantErr(t, s.SaveRole(roster.Role{ID: "Bad Role"}), ErrInvalid)
	_, err = s.SetSettings(roster.Settings{PhotoRotation: 45})
	wantErr(t, err, ErrInvalid)
	_, err = s.SetSettings(roster.Settings{Timezone: "Mars/Olympus"})
	wantErr(t, err, ErrInvalid)
}

func TestSetupCodeRotation(t *testing.T) {
	s := openStore(t)
	first, err := s.SetupCode(t0)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.SetupCode(t0.Add(7*24*time.Hour - time.Second)); again != first {
		t.Errorf("code changed before its period: %+v then %+v", first, again)
	}
	later := t0.Add(7 * 24 * time.Hour)
	second, err := s.SetupCode(later)
	if err != nil {
		t.Fatal(err)
	}
	if second.Code == first.Code || !second.Issued.Equal(later) || !second.NextChange.Equal(later.Add(7*24*time.Hour)) {
		t.Errorf("after the period: %+v, first was %+v", second, first)
	}
	third, err := s.RotateSetupCode(later.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	check := func(code string) error {
		return s.write(func(tx *sql.Tx) error { return checkSetupCode(tx, code, later.Add(2*time.Hour)) })
	}
	if err := check(third.Code); err != nil {
		t.Errorf("current code: %v", err)
	}
	wantErr(t, check(first.Code), ErrExpiredCode)
	wantErr(t, check(second.Code), ErrExpiredCode)
	wrong := "00000000"
	if wrong == third.Code || wrong == first.Code || wrong == second.Code {
		wrong = "99999999"
	}
	wantErr(t, check(wrong), ErrWrongCode)
	wantErr(t, check(""), ErrWrongCode)

	// Only the newest retired codes are kept.
	for i := range 2 * keepRetiredCodes {
		if _, err := s.RotateSetupCode(later.Add(time.Duration(3+i) * time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, "setup_codes"); n != keepRetiredCodes+1 {
		t.Errorf("%d setup codes kept, want %d", n, keepRetiredCodes+1)
	}

	// The period is configurable.
	c, _ := s.Company()
	c.SetupCodePeriod = 24 * time.Hour
	if _, err := s.UpdateCompany(c.CompanySettings); err != nil {
		t.Fatal(err)
	}
	cur, _ := s.SetupCode(later)
	if want := cur.Issued.Add(24 * time.Hour); !cur.NextChange.Equal(want) {
		t.Errorf("next change %v, want %v", cur.NextChange, want)
	}
}

func TestOpenRefusesDamagedAndNewerDatabases(t *testing.T) {
	t.Run("damaged", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		path := filepath.Join(dir, dbName)
		b, _ := os.ReadFile(path)
		for i := 100; i < len(b); i++ {
			b[i] = 0xAA
		}
		os.Remove(path + "-wal")
		os.WriteFile(path, b, 0o600)
		_, err = Open(dir, Options{})
		wantErr(t, err, ErrCorrupt)
		if !strings.Contains(err.Error(), "restore") {
			t.Errorf("error does not say what to do: %v", err)
		}
	})
	t.Run("newer", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := sql.Open("sqlite3", sqlitedb.DSN(filepath.Join(dir, dbName)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = Open(dir, Options{})
		wantErr(t, err, ErrNewerSchema)
	})
}

// Concurrent writes share transactions; one that fails must not take the
// others with it.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openStore(t)
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every fourth write reuses number 1000 and fails (but one).
			num := fmt.Sprint(2000 + i)
			if i%4 == 0 {
				num = "1000"
			}
			errs[i] = s.write(func(tx *sql.Tx) error {
				var taken int
				tx.QueryRow(`SELECT count(*) FROM roles WHERE id = ?`, "r"+num).Scan(&taken)
				if taken > 0 {
					return fmt.Errorf("role r%s exists", num)
				}
				_, err := tx.Exec(`INSERT INTO roles (id, name, face_front, clock_for) VALUES (?, 'x', 0, 0)`, "r"+num)
				return err
			})
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != n/4-1 {
		t.Errorf("%d writes failed, want %d", failed, n/4-1)
	}
	if got := count(t, s, "roles"); got != len(DefaultRoles)+n-n/4+1 {
		t.Errorf("%d roles, want %d", got, len(DefaultRoles)+n-n/4+1)
	}
}

func TestPurgePhotos(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	jpg := testJPEG(1)
	sha := sha256hex(jpg)
	p := newPunch(e.ben, 1, "in", 0)
	p.NoPhoto, p.PhotoSHA256 = "", sha
	e.postPunches(token, p)
	e.putPhoto(token, sha, p.ID, jpg).wantStatus(t, 200)

	if n, err := e.store.PurgePhotos(t0.AddDate(1, 0, 0)); err != nil || n != 0 {
		t.Fatalf("purge with retention 0 = %d, %v; want 0", n, err)
	}
	c, _ := e.store.Company()
	c.PhotoRetentionDays = 30
	if _, err := e.store.UpdateCompany(c.CompanySettings); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.store.PurgePhotos(t0.AddDate(0, 0, 29)); n != 0 {
		t.Errorf("purged %d photos younger than 30 days", n)
	}
	if n, err := e.store.PurgePhotos(t0.AddDate(0, 0, 31)); err != nil || n != 1 {
		t.Fatalf("purge = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(e.store.photoPath(sha)); !os.IsNotExist(err) {
		t.Errorf("photo file still there: %v", err)
	}
	_, err := e.store.Photo(sha)
	wantErr(t, err, ErrPhotoDeleted)
	got, _ := e.store.Punch(p.ID)
	if got.PhotoDeletedAt.IsZero() {
		t.Errorf("punch does not say its photo was deleted: %+v", got)
	}
	// Sent again, it is a duplicate and stays deleted.
	var pr struct{ Status string }
	r := e.putPhoto(token, sha, p.ID, jpg)
	r.decode(t, &pr)
	if pr.Status != "duplicate" {
		t.Errorf("re-sent purged photo: %s", r.body)
	}
	if _, err := os.Stat(e.store.photoPath(sha)); !os.IsNotExist(err) {
		t.Errorf("re-sent purged photo was stored again")
	}
}
