package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/siteclock/siteclock/roster"
)

// ReplaceRoster stores r in place of the current roster, in one
// transaction: on any failure the previous roster stays as it was. It also
// marks the device provisioned in the same transaction.
func (db *DB) ReplaceRoster(r *roster.Roster) error {
	if r == nil {
		return errors.New("queue: replace roster: no roster given")
	}
	if err := db.replaceRoster(r); err != nil {
		return db.wrap(fmt.Sprintf("store roster %q (the previous roster stays in use)", r.Version), err)
	}
	db.log.Info("roster stored", "roster_version", r.Version, "employees", len(r.Employees()))
	return nil
}

func (db *DB) replaceRoster(r *roster.Roster) error {
	ctx := context.Background()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range []string{"employees", "roles", "settings", "roster_meta"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return err
		}
	}
	for _, ro := range r.Roles() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO roles (id, name, face_front, clock_for) VALUES (?, ?, ?, ?)`,
			ro.ID, ro.Name, ro.FaceFront, ro.ClockFor); err != nil {
			return fmt.Errorf("role %q: %w", ro.ID, err)
		}
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO employees
		(pos, id, number, name, role_id, active, photo_consent, language, pin_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i, e := range r.Employees() {
		if _, err := ins.ExecContext(ctx, i, e.ID, e.Number, e.Name, e.RoleID, e.Active, e.PhotoConsent, string(e.Language), e.PINHash); err != nil {
			return fmt.Errorf("employee %q: %w", e.Number, err)
		}
	}
	s := r.Settings
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (id, nickname, timezone, language, photo_rotation,
		screen_timeout_ns, saved_screen_ns, photo_countdown_ns, photo_preview_ns, message_screen_ns)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.Nickname, s.Timezone, string(s.Language), s.PhotoRotation,
		int64(s.ScreenTimeout), int64(s.SavedScreen), int64(s.PhotoCountdown), int64(s.PhotoPreview), int64(s.MessageScreen)); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO roster_meta (id, version, kdf_salt, kdf_iterations, loaded_at_ns) VALUES (1, ?, ?, ?, ?)`,
		r.Version, r.KDF.Salt, r.KDF.Iterations, db.now().UnixNano()); err != nil {
		return fmt.Errorf("PIN hashing parameters: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE device SET provisioned = 1 WHERE id = 1`); err != nil {
		return err
	}
	return tx.Commit()
}

// Roster returns the stored roster, or (nil, ErrNoRoster) when none has been
// loaded.
func (db *DB) Roster() (*roster.Roster, error) {
	r, err := db.readRoster()
	if errors.Is(err, ErrNoRoster) {
		return nil, err
	}
	if err != nil {
		return nil, db.wrap("read roster", err)
	}
	return r, nil
}

func (db *DB) readRoster() (*roster.Roster, error) {
	ctx := context.Background()
	// One read transaction, so the parts come from the same roster even if
	// a replacement commits meanwhile.
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var (
		version string
		kdf     roster.KDF
	)
	err = tx.QueryRowContext(ctx, `SELECT version, kdf_salt, kdf_iterations FROM roster_meta WHERE id = 1`).Scan(&version, &kdf.Salt, &kdf.Iterations)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoRoster
	}
	if err != nil {
		return nil, err
	}
	var (
		s                           roster.Settings
		lang                        string
		st, saved, cd, prev, msgDur int64
	)
	err = tx.QueryRowContext(ctx, `SELECT nickname, timezone, language, photo_rotation,
		screen_timeout_ns, saved_screen_ns, photo_countdown_ns, photo_preview_ns, message_screen_ns
		FROM settings WHERE id = 1`).Scan(&s.Nickname, &s.Timezone, &lang, &s.PhotoRotation, &st, &saved, &cd, &prev, &msgDur)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	s.Language = roster.Lang(lang)
	s.ScreenTimeout = time.Duration(st)
	s.SavedScreen = time.Duration(saved)
	s.PhotoCountdown = time.Duration(cd)
	s.PhotoPreview = time.Duration(prev)
	s.MessageScreen = time.Duration(msgDur)

	var roles []roster.Role
	rows, err := tx.QueryContext(ctx, `SELECT id, name, face_front, clock_for FROM roles ORDER BY id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var ro roster.Role
		if err := rows.Scan(&ro.ID, &ro.Name, &ro.FaceFront, &ro.ClockFor); err != nil {
			rows.Close()
			return nil, err
		}
		roles = append(roles, ro)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	var emps []roster.Employee
	rows, err = tx.QueryContext(ctx, `SELECT id, number, name, role_id, active, photo_consent, language, pin_hash
		FROM employees ORDER BY pos`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			e  roster.Employee
			lg string
		)
		if err := rows.Scan(&e.ID, &e.Number, &e.Name, &e.RoleID, &e.Active, &e.PhotoConsent, &lg, &e.PINHash); err != nil {
			rows.Close()
			return nil, err
		}
		e.Language = roster.Lang(lg)
		emps = append(emps, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r, err := roster.New(version, kdf, s, roles, emps)
	if err != nil {
		return nil, fmt.Errorf("stored roster %q no longer passes checks (%w); load the roster again", version, err)
	}
	return r, nil
}

// RosterVersion returns the version of the stored roster, "" when none has
// been loaded: what the kiosk reports at every check-in, without reading
// the whole roster.
func (db *DB) RosterVersion() (string, error) {
	var v string
	err := db.sql.QueryRow(`SELECT version FROM roster_meta WHERE id = 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", db.wrap("read roster version", err)
	}
	return v, nil
}
