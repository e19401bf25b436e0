package backoffice

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/crypto/bcrypt"

	"github.com/siteclock/siteclock/roster"
)

// Sentinel errors of the admin side.
var (
	// ErrAdminExists means an admin with that user name exists already.
	ErrAdminExists = errors.New("backoffice: admin exists")
	// ErrBadLogin means the user name or the password is wrong, or the
	// admin is disabled; the caller must not say which.
	ErrBadLogin = errors.New("backoffice: wrong user name or password")
	// ErrRoleExists means a role with that ID exists already.
	ErrRoleExists = errors.New("backoffice: role exists")
)

// Password rules. bcrypt reads at most 72 bytes; a longer password would
// be cut silently, so it is refused instead.
const (
	MinPasswordLen = 12
	maxPasswordLen = 72
	// PasswordCost is the bcrypt cost of admin passwords: about 0.3 s on
	// a server core, which a sign-in can afford and a guesser cannot.
	PasswordCost = 12
)

// Admin is a person who signs in to the back office.
type Admin struct {
	ID         int64
	Username   string
	CreatedAt  time.Time
	DisabledAt time.Time // zero when enabled
}

// validUsername checks a user name: an e-mail address or a plain name.
func validUsername(u string) error {
	switch {
	case u == "":
		return invalid("give a user name (an e-mail address or a name)")
	case utf8.RuneCountInString(u) > maxNameLen:
		return invalid("user name longer than %d characters", maxNameLen)
	case !utf8.ValidString(u) || strings.IndexFunc(u, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return invalid("a user name has no spaces or control characters")
	}
	return nil
}

// ValidPassword says what is wrong with a new admin password, or nil.
func ValidPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return invalid("the password is too short: use at least %d characters (a few unrelated words make a good one)", MinPasswordLen)
	case len(pw) > maxPasswordLen:
		return invalid("the password is longer than %d bytes; use a shorter one", maxPasswordLen)
	}
	return nil
}

func hashPassword(pw string) (string, error) {
	if err := ValidPassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), PasswordCost)
	if err != nil {
		return "", invalid("password: %v", err)
	}
	return string(h), nil
}

// dummyHash is compared against when the user name is unknown, so that a
// sign-in takes as long whether or not the user exists. Made on first use:
// it costs as much as a sign-in.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("siteclock-no-such-admin"), PasswordCost)
	return h
})

// CreateAdmin adds an admin who signs in with username and password
// (at least MinPasswordLen characters; only its bcrypt hash is kept).
// User names are unique without regard to case (ErrAdminExists).
func (s *Store) CreateAdmin(username, password string, now time.Time) (Admin, error) {
	username = strings.TrimSpace(username)
	if err := validUsername(username); err != nil {
		return Admin{}, err
	}
	// Hash before handing the write over: bcrypt is slow on purpose.
	hash, err := hashPassword(password)
	if err != nil {
		return Admin{}, err
	}
	var a Admin
	err = s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO admins (username, password_hash, created_at_ns) VALUES (?, ?, ?)`,
			username, hash, now.UnixNano())
		var se sqlite3.Error
		if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
			return errorf(ErrAdminExists, "backoffice: an admin named %q exists already; choose another name, or set a new password with `siteclock-server admin password`", username)
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		a = Admin{ID: id, Username: username, CreatedAt: now}
		return err
	})
	if err != nil {
		return Admin{}, s.wrap("create admin", err)
	}
	s.log.Info("admin created", "admin", username)
	return a, nil
}

// SetAdminPassword replaces an admin's password and ends their sessions.
func (s *Store) SetAdminPassword(username, password string) error {
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	err = s.write(func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRow(`SELECT id FROM admins WHERE username = ?`, strings.TrimSpace(username)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return errorf(ErrNotFound, "backoffice: no admin named %q; create one with `siteclock-server admin create`", username)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE admins SET password_hash = ? WHERE id = ?`, hash, id); err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM admin_sessions WHERE admin_id = ?`, id)
		return err
	})
	if err != nil {
		return s.wrap("set admin password", err)
	}
	s.log.Info("admin password changed", "admin", username)
	return nil
}

// Admins returns every admin by user name.
func (s *Store) Admins() ([]Admin, error) {
	rows, err := s.r.Query(`SELECT id, username, created_at_ns, disabled_at_ns FROM admins ORDER BY username`)
	if err != nil {
		return nil, s.wrap("list admins", err)
	}
	defer rows.Close()
	var out []Admin
	for rows.Next() {
		var (
			a        Admin
			created  int64
			disabled sql.NullInt64
		)
		if err := rows.Scan(&a.ID, &a.Username, &created, &disabled); err != nil {
			return nil, s.wrap("list admins", err)
		}
		a.CreatedAt, a.DisabledAt = time.Unix(0, created), nullTime(disabled)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list admins", err)
	}
	return out, nil
}

// CheckAdminPassword returns the enabled admin whose user name and
// password these are, or ErrBadLogin. It takes as long for an unknown
// user name as for a wrong password.
func (s *Store) CheckAdminPassword(username, password string) (Admin, error) {
	var (
		a        Admin
		hash     string
		created  int64
		disabled sql.NullInt64
	)
	err := s.r.QueryRow(`SELECT id, username, password_hash, created_at_ns, disabled_at_ns FROM admins WHERE username = ?`,
		strings.TrimSpace(username)).Scan(&a.ID, &a.Username, &hash, &created, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return Admin{}, ErrBadLogin
	}
	if err != nil {
		return Admin{}, s.wrap("check password", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || disabled.Valid {
		return Admin{}, ErrBadLogin
	}
	a.CreatedAt = time.Unix(0, created)
	return a, nil
}

// adminExists reports whether an admin has this user name. Failed sign-ins
// log the name only then: a name that matches no admin may be a password
// typed into the wrong field.
func (s *Store) adminExists(username string) bool {
	var n int
	err := s.r.QueryRow(`SELECT count(*) FROM admins WHERE username = ?`, strings.TrimSpace(username)).Scan(&n)
	return err == nil && n > 0
}

// Session lifetimes: a session ends after SessionIdle without a request,
// and SessionMax after sign-in whatever happens.
const (
	SessionIdle = 12 * time.Hour
	SessionMax  = 7 * 24 * time.Hour
	// touchEvery is how stale a session's last-seen time may get before a
	// request writes it again: a page view should not cost an fsync.
	touchEvery = time.Minute
)

// adminSession is a signed-in admin's session.
type adminSession struct {
	idHash  []byte
	Admin   Admin
	CSRF    string // the token every form of the session carries
	Created time.Time
	Seen    time.Time
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// createSession starts a session for the admin and returns its secret ID
// (for the cookie; only its SHA-256 is kept). Ended sessions are removed
// on the way.
func (s *Store) createSession(adminID int64, now time.Time) (id string, sess adminSession, err error) {
	id = randomToken(32)
	sess = adminSession{idHash: tokenHash(id), CSRF: randomToken(32), Created: now, Seen: now}
	err = s.write(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM admin_sessions WHERE seen_at_ns < ? OR created_at_ns < ?`,
			now.Add(-SessionIdle).UnixNano(), now.Add(-SessionMax).UnixNano()); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO admin_sessions (id_sha256, admin_id, csrf_token, created_at_ns, seen_at_ns) VALUES (?, ?, ?, ?, ?)`,
			sess.idHash, adminID, sess.CSRF, now.UnixNano(), now.UnixNano())
		return err
	})
	if err != nil {
		return "", adminSession{}, s.wrap("start session", err)
	}
	return id, sess, nil
}

// session returns the live session with this ID, refreshing its last-seen
// time now and then; ErrUnauthorized if there is none (never was, signed
// out, expired, or the admin was disabled).
func (s *Store) session(id string, now time.Time) (adminSession, error) {
	var (
		sess                   adminSession
		created, started, seen int64
	)
	sess.idHash = tokenHash(id)
	err := s.r.QueryRow(`SELECT a.id, a.username, a.created_at_ns, s.csrf_token, s.created_at_ns, s.seen_at_ns
		FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
		WHERE s.id_sha256 = ? AND a.disabled_at_ns IS NULL`, sess.idHash).Scan(
		&sess.Admin.ID, &sess.Admin.Username, &created, &sess.CSRF, &started, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return adminSession{}, ErrUnauthorized
	}
	if err != nil {
		return adminSession{}, s.wrap("read session", err)
	}
	sess.Admin.CreatedAt = time.Unix(0, created)
	sess.Created, sess.Seen = time.Unix(0, started), time.Unix(0, seen)
	if now.Sub(sess.Seen) > SessionIdle || now.Sub(sess.Created) > SessionMax {
		return adminSession{}, ErrUnauthorized
	}
	if now.Sub(sess.Seen) >= touchEvery {
		err := s.write(func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE admin_sessions SET seen_at_ns = ? WHERE id_sha256 = ?`, now.UnixNano(), sess.idHash)
			return err
		})
		if err != nil {
			return adminSession{}, s.wrap("refresh session", err)
		}
		sess.Seen = now
	}
	return sess, nil
}

// endSession signs a session out.
func (s *Store) endSession(id string) error {
	err := s.write(func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM admin_sessions WHERE id_sha256 = ?`, tokenHash(id))
		return err
	})
	return s.wrap("end session", err)
}

// APIToken is an admin API token as listed; the secret itself is shown
// once, when it is made, and kept only as its SHA-256.
type APIToken struct {
	ID        string // public: names the token in lists and to revoke it
	Name      string // what it is for, e.g. "payroll export"
	CreatedBy string // the admin's user name; requests with it act as that admin
	CreatedAt time.Time
	LastUsed  time.Time // zero when never
	RevokedAt time.Time // zero while it works
}

// apiTokenPrefix starts every admin API token, so that one pasted in the
// wrong place (a device, a chat) is recognised.
const apiTokenPrefix = "sca_"

// CreateAPIToken makes an admin API token for the admin and returns it
// with its secret.
func (s *Store) CreateAPIToken(adminID int64, name string, now time.Time) (APIToken, string, error) {
	name = strings.TrimSpace(name)
	if err := validText("token name", name, true); err != nil {
		return APIToken{}, "", invalid("give the token a name that says what it is for (at most %d characters)", maxNameLen)
	}
	if utf8.RuneCountInString(name) > maxNameLen {
		return APIToken{}, "", invalid("token name longer than %d characters", maxNameLen)
	}
	idb := make([]byte, 6)
	rand.Read(idb)
	t := APIToken{ID: hex.EncodeToString(idb), Name: name, CreatedAt: now}
	secret := apiTokenPrefix + randomToken(32)
	err := s.write(func(tx *sql.Tx) error {
		if err := tx.QueryRow(`SELECT username FROM admins WHERE id = ? AND disabled_at_ns IS NULL`, adminID).Scan(&t.CreatedBy); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return errorf(ErrNotFound, "backoffice: no admin %d", adminID)
			}
			return err
		}
		_, err := tx.Exec(`INSERT INTO admin_tokens (id, name, token_sha256, admin_id, created_at_ns) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.Name, tokenHash(secret), adminID, now.UnixNano())
		return err
	})
	if err != nil {
		return APIToken{}, "", s.wrap("create API token", err)
	}
	s.log.Info("admin API token created", "token_id", t.ID, "admin", t.CreatedBy)
	return t, secret, nil
}

// APITokens lists the admin API tokens, working ones first, newest first.
func (s *Store) APITokens() ([]APIToken, error) {
	rows, err := s.r.Query(`SELECT t.id, t.name, a.username, t.created_at_ns, t.last_used_ns, t.revoked_at_ns
		FROM admin_tokens t JOIN admins a ON a.id = t.admin_id
		ORDER BY t.revoked_at_ns IS NOT NULL, t.created_at_ns DESC, t.id`)
	if err != nil {
		return nil, s.wrap("list API tokens", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		var (
			t             APIToken
			created       int64
			used, revoked sql.NullInt64
		)
		if err := rows.Scan(&t.ID, &t.Name, &t.CreatedBy, &created, &used, &revoked); err != nil {
			return nil, s.wrap("list API tokens", err)
		}
		t.CreatedAt, t.LastUsed, t.RevokedAt = time.Unix(0, created), nullTime(used), nullTime(revoked)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list API tokens", err)
	}
	return out, nil
}

// RevokeAPIToken stops a token from working. Revoking a revoked token
// changes nothing; an unknown ID is ErrNotFound.
func (s *Store) RevokeAPIToken(id string, now time.Time) error {
	err := s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE admin_tokens SET revoked_at_ns = coalesce(revoked_at_ns, ?) WHERE id = ?`, now.UnixNano(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errorf(ErrNotFound, "backoffice: no API token %q", id)
		}
		return nil
	})
	if err != nil {
		return s.wrap("revoke API token", err)
	}
	s.log.Info("admin API token revoked", "token_id", id)
	return nil
}

// tokenAdmin returns the enabled admin whose working API token secret is
// this, and the token's ID; ErrUnauthorized otherwise.
func (s *Store) tokenAdmin(secret string, now time.Time) (Admin, string, error) {
	if !strings.HasPrefix(secret, apiTokenPrefix) {
		return Admin{}, "", ErrUnauthorized
	}
	var (
		a       Admin
		id      string
		created int64
		used    sql.NullInt64
	)
	// Looked up by the SHA-256 of 32 random bytes: nothing to learn from
	// how long a miss takes.
	err := s.r.QueryRow(`SELECT a.id, a.username, a.created_at_ns, t.id, t.last_used_ns
		FROM admin_tokens t JOIN admins a ON a.id = t.admin_id
		WHERE t.token_sha256 = ? AND t.revoked_at_ns IS NULL AND a.disabled_at_ns IS NULL`, tokenHash(secret)).Scan(
		&a.ID, &a.Username, &created, &id, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Admin{}, "", ErrUnauthorized
	}
	if err != nil {
		return Admin{}, "", s.wrap("check API token", err)
	}
	a.CreatedAt = time.Unix(0, created)
	if !used.Valid || now.Sub(time.Unix(0, used.Int64)) >= touchEvery {
		err := s.write(func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE admin_tokens SET last_used_ns = ? WHERE id = ?`, now.UnixNano(), id)
			return err
		})
		if err != nil {
			return Admin{}, "", s.wrap("record API token use", err)
		}
	}
	return a, id, nil
}

// PhotoPurge is one run of the photo retention rule.
type PhotoPurge struct {
	At            time.Time // zero: never ran
	Deleted       int
	RetentionDays int // the rule at the time; 0 keeps photos
}

// ApplyPhotoRetention runs PurgePhotos and records the run, so that the
// Settings page can say when the rule last ran and what it deleted, and a
// timecard why a photo is gone.
func (s *Store) ApplyPhotoRetention(now time.Time) (PhotoPurge, error) {
	c, err := s.Company()
	if err != nil {
		return PhotoPurge{}, err
	}
	n, err := s.PurgePhotos(now)
	if err != nil {
		return PhotoPurge{}, err
	}
	p := PhotoPurge{At: now, Deleted: n, RetentionDays: c.PhotoRetentionDays}
	err = s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO photo_purges (at_ns, deleted, retention_days) VALUES (?, ?, ?)`, now.UnixNano(), n, p.RetentionDays)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		// Runs that deleted nothing matter only while they are the latest.
		_, err = tx.Exec(`DELETE FROM photo_purges WHERE deleted = 0 AND id < ?`, id)
		return err
	})
	if err != nil {
		return PhotoPurge{}, s.wrap("record photo purge", err)
	}
	return p, nil
}

// PhotoPurges returns the latest run of the photo retention rule (zero At
// if it never ran) and the latest run that deleted photos.
func (s *Store) PhotoPurges() (last, lastDeleted PhotoPurge, err error) {
	read := func(where string) (PhotoPurge, error) {
		var (
			p  PhotoPurge
			at int64
		)
		err := s.r.QueryRow(`SELECT at_ns, deleted, retention_days FROM photo_purges `+where+` ORDER BY id DESC LIMIT 1`).Scan(&at, &p.Deleted, &p.RetentionDays)
		if errors.Is(err, sql.ErrNoRows) {
			return PhotoPurge{}, nil
		}
		if err != nil {
			return PhotoPurge{}, err
		}
		p.At = time.Unix(0, at)
		return p, nil
	}
	if last, err = read(""); err != nil {
		return PhotoPurge{}, PhotoPurge{}, s.wrap("read photo purges", err)
	}
	if lastDeleted, err = read("WHERE deleted > 0"); err != nil {
		return PhotoPurge{}, PhotoPurge{}, s.wrap("read photo purges", err)
	}
	return last, lastDeleted, nil
}

// purgeRetention returns the retention days of the recorded purge run at
// the given time, if there is one.
func (s *Store) purgeRetention(ctx context.Context, at time.Time) (int, bool) {
	var days int
	err := s.r.QueryRowContext(ctx, `SELECT retention_days FROM photo_purges WHERE at_ns = ? LIMIT 1`, at.UnixNano()).Scan(&days)
	return days, err == nil
}

// CreateRole adds a security role; ErrRoleExists if its ID is taken.
func (s *Store) CreateRole(r roster.Role) error {
	r.Name = strings.TrimSpace(r.Name)
	if err := validRole(r); err != nil {
		return err
	}
	err := s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO roles (id, name, face_front, clock_for) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Name, r.FaceFront, r.ClockFor)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errorf(ErrRoleExists, "backoffice: a role with ID %q exists already; choose another name", r.ID)
		}
		return bumpRoster(tx)
	})
	if err != nil {
		return s.wrap("create role "+r.ID, err)
	}
	s.log.Info("role created", "role", r.ID, "facefront", r.FaceFront, "clock_for", r.ClockFor)
	return nil
}

func validRole(r roster.Role) error {
	switch {
	case !roleIDPattern.MatchString(r.ID):
		return invalid("role ID %q must be 1 to 32 lowercase letters, digits, '-' or '_'", r.ID)
	case r.Name == "":
		return invalid("the role needs a name")
	case utf8.RuneCountInString(r.Name) > maxNameLen:
		return invalid("role name longer than %d characters", maxNameLen)
	}
	return nil
}

// RoleUpdate changes some of a role's fields; nil fields stay.
type RoleUpdate struct {
	Name      *string
	FaceFront *bool
	ClockFor  *bool
}

// UpdateRole changes the fields of the role that u gives, in one
// transaction (two admins switching different flags at once both win),
// and returns the role as stored.
func (s *Store) UpdateRole(id string, u RoleUpdate) (roster.Role, error) {
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		u.Name = &n
		if err := validRole(roster.Role{ID: id, Name: n}); err != nil {
			return roster.Role{}, err
		}
	}
	var r roster.Role
	err := s.write(func(tx *sql.Tx) error {
		err := tx.QueryRow(`UPDATE roles SET name = coalesce(?, name), face_front = coalesce(?, face_front), clock_for = coalesce(?, clock_for)
			WHERE id = ? RETURNING id, name, face_front, clock_for`, u.Name, u.FaceFront, u.ClockFor, id).Scan(&r.ID, &r.Name, &r.FaceFront, &r.ClockFor)
		if errors.Is(err, sql.ErrNoRows) {
			return errorf(ErrNotFound, "backoffice: no role %q", id)
		}
		if err != nil {
			return err
		}
		return bumpRoster(tx)
	})
	if err != nil {
		return roster.Role{}, s.wrap("update role "+id, err)
	}
	s.log.Info("role updated", "role", r.ID, "facefront", r.FaceFront, "clock_for", r.ClockFor)
	return r, nil
}
