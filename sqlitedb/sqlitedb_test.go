package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", DSN(filepath.Join(t.TempDir(), "odd name ?#.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func userVersion(t *testing.T, s *sql.DB) int {
	t.Helper()
	var v int
	if err := s.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDSNIsDurable(t *testing.T) {
	db := open(t)
	var mode string
	var syncMode int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	if err := db.QueryRow("PRAGMA synchronous").Scan(&syncMode); err != nil || syncMode != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", syncMode, err)
	}
}

func TestMigrateStepsAreOrderedAndAtomic(t *testing.T) {
	raw := open(t)
	ctx := context.Background()
	steps := []string{
		`CREATE TABLE a (x)`,
		`CREATE TABLE b (y); INSERT INTO no_such_table VALUES (1)`, // fails half-way
	}
	if _, err := Migrate(ctx, raw, steps); err == nil {
		t.Fatal("migrate with a broken step succeeded")
	}
	if v := userVersion(t, raw); v != 1 {
		t.Errorf("user_version after failed step 2 = %d, want 1", v)
	}
	tables := func() string {
		rows, err := raw.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		return strings.Join(names, ",")
	}
	if got := tables(); got != "a" {
		t.Errorf("tables after failed step 2 = %q, want just a (step 2 rolled back)", got)
	}

	steps[1] = `CREATE TABLE b (y); INSERT INTO a VALUES (1)`
	v, err := Migrate(ctx, raw, steps)
	if err != nil || v != 2 {
		t.Fatalf("migrate = %d, %v; want 2", v, err)
	}
	if got := tables(); got != "a,b" {
		t.Errorf("tables = %q, want a,b", got)
	}
	// Running again does nothing.
	if v, err := Migrate(ctx, raw, steps); err != nil || v != 2 {
		t.Errorf("second migrate = %d, %v", v, err)
	}
	var n int
	raw.QueryRow(`SELECT count(*) FROM a`).Scan(&n)
	if n != 1 {
		t.Errorf("step 2 ran %d times, want once", n)
	}
	var newer *NewerSchemaError
	if _, err := Migrate(ctx, raw, steps[:1]); !errors.As(err, &newer) || newer.Have != 2 || newer.Know != 1 {
		t.Errorf("migrate with fewer steps = %v, want NewerSchemaError{2, 1}", err)
	}
}

func TestCheckDurable(t *testing.T) {
	db := open(t)
	if err := CheckDurable(context.Background(), db); err != nil {
		t.Errorf("DSN connection: %v", err)
	}
	plain, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := CheckDurable(context.Background(), plain); !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "not wal") {
		t.Errorf("a rollback-journal database: %v, want ErrNotDurable naming the journal mode", err)
	}
}
