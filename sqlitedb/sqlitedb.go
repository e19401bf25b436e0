// Package sqlitedb holds what siteclock's SQLite databases (the kiosk's
// queue, the back office's store) share: the durable connection settings,
// versioned schema migrations, and telling a damaged database or a full
// disk apart from other errors.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

// DSN is the connection string for the database at path: WAL so readers
// never block the writer and a commit is one append, synchronous=FULL so a
// commit is fsync'd before it returns, immediate transactions so a write
// transaction takes the write lock at BEGIN instead of failing half-way.
func DSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_foreign_keys=on&_txlock=immediate"
}

// ReadOnlyDSN opens the database at path for reading only, beside a
// process that may be writing it.
func ReadOnlyDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_busy_timeout=5000"
}

// NewerSchemaError is a database whose user_version is beyond the steps
// this build knows: written by a newer version of the program.
type NewerSchemaError struct{ Have, Know int }

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("schema %d is newer than %d", e.Have, e.Know)
}

// Migrate brings db up to len(steps), each step in its own transaction
// together with the new user_version, so a crash between steps leaves a
// database at a known version. It returns the version reached. Append new
// steps, never edit a released one.
func Migrate(ctx context.Context, db *sql.DB, steps []string) (int, error) {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if version > len(steps) {
		return version, &NewerSchemaError{Have: version, Know: len(steps)}
	}
	for v := version; v < len(steps); v++ {
		if err := migrateStep(ctx, db, v+1, steps[v]); err != nil {
			return v, err
		}
	}
	return len(steps), nil
}

func migrateStep(ctx context.Context, db *sql.DB, to int, step string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate to schema %d: %w", to, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, step); err != nil {
		return fmt.Errorf("migrate to schema %d: %w", to, err)
	}
	// user_version is in the database header, which is written as part of
	// the transaction: the step and its number commit together.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", to)); err != nil {
		return fmt.Errorf("migrate to schema %d: %w", to, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to schema %d: %w", to, err)
	}
	return nil
}

// ErrNotDurable marks a connection whose settings would not keep commits:
// not in WAL mode, or not synchronous=FULL.
var ErrNotDurable = errors.New("the database is not set up to keep what it commits")

// CheckDurable checks that db runs with the settings of DSN: journal_mode
// WAL and synchronous FULL. A wrong setting wraps ErrNotDurable and says
// what to do; other errors are SQLite's (IsCorrupt may apply).
func CheckDurable(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("%w: journal mode is %q, not wal; keep the data folder on a local filesystem that supports shared memory (not a network share)", ErrNotDurable, mode)
	}
	var syncMode int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return err
	}
	if syncMode != 2 {
		return fmt.Errorf("%w: synchronous is %d, not 2 (FULL); this build of the SQLite driver ignores the durability settings and must not be used", ErrNotDurable, syncMode)
	}
	return nil
}

// QuickCheck runs PRAGMA quick_check, which reads every page of the
// database (its cost grows with the file: run it once, at start-up) so that
// damage is found before new data is written on top of it. damage is empty
// when the database is sound, else a one-line description; err is an error
// running the check (IsCorrupt tells whether that too means damage).
func QuickCheck(ctx context.Context, db *sql.DB) (damage string, err error) {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		problems = append(problems, line)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return "", nil
	}
	damage = "quick_check found no result"
	if len(problems) > 0 {
		damage = "quick_check: " + strings.ReplaceAll(problems[0], "\n", " ")
		if len(problems) > 1 {
			damage += fmt.Sprintf(" (and %d more problems)", len(problems)-1)
		}
	}
	return damage, nil
}

// IsCorrupt reports whether err is SQLite saying the file is damaged or is
// not a database.
func IsCorrupt(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB
	}
	return false
}

// IsDiskFull reports whether err means the filesystem is out of space, from
// SQLite or from a file write.
func IsDiskFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		if se.Code == sqlite3.ErrFull || se.ExtendedCode == sqlite3.ErrIoErrSHMSize {
			return true
		}
		if se.SystemErrno == unix.ENOSPC || se.SystemErrno == unix.EDQUOT {
			return true
		}
	}
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
