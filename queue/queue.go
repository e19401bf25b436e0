// Package queue is the kiosk's durable local store: the punches waiting for
// the back office, their photos, the roster and the device state, kept in one
// SQLite database (kiosk.db) and a photos folder inside the state folder.
//
// The durability promise: when Commit returns without error, the punches and
// their photo are on stable storage and survive a power cut or a SIGKILL at
// any later instant. The database runs in WAL mode with synchronous=FULL, so
// every committed transaction is fsync'd before Commit returns, and a photo is
// written to a temporary file, fsync'd, renamed into place and its folder
// fsync'd before the row that names it is committed. A crew's punches are
// committed in one transaction: all of them or none. Sequence numbers come
// from an AUTOINCREMENT column and are never reused.
//
// The queue never starts over on its own: a damaged database makes Open fail
// with ErrCorrupt and instructions, because unsent punches may still be in
// it. Photos are sealed to the company's photo key once the queue knows it
// (see DB.SetPhotoKey), and removed as soon as the back office acknowledged
// them (DB.MarkPhotoSent; DB.Reclaim removes any that a crash left behind
// when the disk runs short); an unacknowledged photo is never removed.
package queue

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/sqlitedb"
	"golang.org/x/sys/unix"
)

// File and folder names inside the state folder.
const (
	dbName    = "kiosk.db"
	lockName  = "kiosk.lock"
	photosDir = "photos"
	tmpPrefix = durable.TempPrefix // photos being written; removed at Open if a crash left them
)

// DefaultMinFree is the free space Reclaim tries to keep on the state folder
// when Options.MinFree is zero.
const DefaultMinFree = 64 << 20

// Sentinel errors a caller may need to tell apart.
var (
	// ErrCorrupt means the database file is damaged. The queue refuses to
	// use it and never replaces it on its own.
	ErrCorrupt = errors.New("queue: database damaged")
	// ErrDiskFull means the state folder ran out of space (ENOSPC or
	// SQLITE_FULL). Nothing of the failed operation was kept.
	ErrDiskFull = errors.New("queue: disk full")
	// ErrDuplicate means a punch with the same ID is already committed.
	ErrDuplicate = errors.New("queue: punch already committed")
	// ErrNotFound means the punch or photo asked for is not in the queue.
	ErrNotFound = errors.New("queue: not found")
	// ErrNoRoster means no roster has been loaded yet.
	ErrNoRoster = errors.New("queue: no roster loaded")
	// ErrNewerSchema means the database was written by a newer build.
	ErrNewerSchema = errors.New("queue: database schema is newer than this build")
	// ErrLocked means another process has the state folder open.
	ErrLocked = errors.New("queue: state folder in use")
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Logger receives what the queue does; nil discards it.
	Logger *slog.Logger
	// MinFree is the free space, in bytes, below which Reclaim removes
	// photos already acknowledged by the back office. 0 means DefaultMinFree.
	MinFree uint64
	// FreeSpace reports the bytes available to the daemon in dir. nil means
	// statfs(2): Bavail*Bsize.
	FreeSpace func(dir string) (uint64, error)
	// Now is the clock used for commit and deletion times; nil means
	// time.Now.
	Now func() time.Time
	// ReadOnly opens the queue to look at it while a daemon may be using
	// it (siteclockd status, punches): no folder lock, no migration, no
	// clean-up, and every write is refused.
	ReadOnly bool
	// Key is the device's ed25519 key, which signs every punch at commit
	// (see chain.go). nil: punches are chained but unsigned.
	Key ed25519.PrivateKey
}

// DB is an open queue. Its methods are safe for concurrent use.
type DB struct {
	dir        string
	path       string
	photoDir   string
	sql        *sql.DB
	insertStmt *sql.Stmt // prepared once: a punch commit is on the worker's clock
	readOnly   bool
	lock       *os.File
	log        *slog.Logger
	minFree    uint64
	free       func(string) (uint64, error)
	now        func() time.Time
	key        ed25519.PrivateKey

	// commitMu serialises Commit, so that the check that a punch ID is new
	// and the write of its photo file cannot race another Commit of the
	// same ID (which would overwrite a committed punch's photo). The
	// folder lock makes this process the only writer. It also guards
	// chain (chain.go).
	commitMu sync.Mutex
	chain    chainState

	// photoMu serialises writing, sealing and removing photo files, so
	// that sealing a stored photo cannot write back a file that was just
	// removed, and guards photoKey (seal.go). Commit takes it inside
	// commitMu.
	photoMu  sync.Mutex
	photoKey *photoseal.PublicKey // nil: photos are stored unsealed

	closeOnce sync.Once
	closeErr  error
}

// Open opens the queue in the state folder dir, creating dir (0700), its
// photos folder and the database if missing, applying schema migrations and
// checking the database's integrity. A damaged database is refused with an
// error wrapping ErrCorrupt; one written by a newer build with ErrNewerSchema.
func Open(dir string, opts Options) (*DB, error) {
	if dir == "" {
		return nil, errors.New("queue: no state folder given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: state folder %s: %w", dir, err)
	}
	dir = abs
	db := &DB{
		dir:      dir,
		path:     filepath.Join(dir, dbName),
		photoDir: filepath.Join(dir, photosDir),
		log:      opts.Logger,
		minFree:  opts.MinFree,
		free:     opts.FreeSpace,
		now:      opts.Now,
		readOnly: opts.ReadOnly,
		key:      opts.Key,
	}
	if db.log == nil {
		db.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if db.minFree == 0 {
		db.minFree = DefaultMinFree
	}
	if db.free == nil {
		db.free = statfsFree
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.readOnly {
		if _, err := os.Stat(db.path); err != nil {
			return nil, fmt.Errorf("queue: no queue in %s (%w); give the kiosk's state folder with -state", dir, err)
		}
	} else {
		for _, d := range []string{dir, db.photoDir} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, fmt.Errorf("queue: create state folder: %w; check that the daemon may write there", err)
			}
		}
		if err := db.lockDir(); err != nil {
			return nil, err
		}
	}
	if err := db.open(); err != nil {
		if db.sql != nil {
			db.sql.Close()
		}
		if db.lock != nil {
			db.lock.Close()
		}
		return nil, err
	}
	db.loadPhotoKey()
	if !db.readOnly {
		db.tidyPhotos()
	}
	return db, nil
}

// lockDir takes an exclusive lock on the state folder for the life of the
// DB. Two daemons on one folder would each believe they are the only writer
// of the photos folder.
func (db *DB) lockDir() error {
	f, err := os.OpenFile(filepath.Join(db.dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("queue: open lock file: %w; check that the daemon may write to %s", err, db.dir)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return errorf(ErrLocked, "queue: %s is in use by another siteclockd; stop that one first", db.dir)
		}
		return fmt.Errorf("queue: lock %s: %w", db.dir, err)
	}
	db.lock = f
	return nil
}

func (db *DB) open() error {
	created := false
	if _, err := os.Stat(db.path); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	dsn := sqlitedb.DSN(db.path)
	if db.readOnly {
		dsn = sqlitedb.ReadOnlyDSN(db.path)
	}
	s, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return fmt.Errorf("queue: open %s: %w", db.path, err)
	}
	db.sql = s
	// One connection: the kiosk is one process, and one connection makes
	// every statement see every earlier commit without surprises.
	s.SetMaxOpenConns(1)
	ctx := context.Background()

	// Connecting runs the DSN's pragmas, the first reads of the file.
	if err := s.PingContext(ctx); err != nil {
		return db.openError(err)
	}
	if db.readOnly {
		var v int
		if err := s.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return db.openError(err)
		}
		if v != len(migrations) {
			return fmt.Errorf("queue: %s has schema %d, this build reads %d; use the siteclockd that wrote it", db.path, v, len(migrations))
		}
		return nil
	}
	if err := sqlitedb.CheckDurable(ctx, s); errors.Is(err, sqlitedb.ErrNotDurable) {
		return fmt.Errorf("queue: %s: %w", db.path, err)
	} else if err != nil {
		return db.openError(err)
	}
	if err := db.quickCheck(ctx); err != nil {
		return err
	}
	version, err := sqlitedb.Migrate(ctx, s, migrations)
	if err != nil {
		var newer *sqlitedb.NewerSchemaError
		if errors.As(err, &newer) {
			return errorf(ErrNewerSchema, "queue: %s was written by a newer siteclockd (schema %d, this build knows %d); install the newer version or restore a backup",
				db.path, newer.Have, newer.Know)
		}
		return db.openError(err)
	}
	if db.insertStmt, err = s.PrepareContext(ctx, insertSQL); err != nil {
		return db.openError(err)
	}
	if err := db.loadChain(ctx); err != nil {
		return db.openError(err)
	}
	if err := db.removeTempPhotos(); err != nil {
		return err
	}
	// Make the names of a new database and photos folder durable, as we
	// do for each photo.
	if err := durable.SyncDir(db.dir); err != nil {
		return fmt.Errorf("queue: sync %s: %w", db.dir, err)
	}
	db.log.Info("queue open", "path", db.path, "schema", version, "created", created)
	return nil
}

// quickCheck runs PRAGMA quick_check, which reads every page of the
// database (so its cost grows with the file; it is paid once, at start-up)
// so that damage is found before new punches are written on top of it.
func (db *DB) quickCheck(ctx context.Context) error {
	damage, err := sqlitedb.QuickCheck(ctx, db.sql)
	switch {
	case err != nil && sqlitedb.IsCorrupt(err):
		return db.corruptError("quick_check: "+err.Error(), err)
	case err != nil:
		return db.openError(err)
	case damage != "":
		return db.corruptError(damage, nil)
	}
	return nil
}

// openError turns an error met while opening into one that says what to do.
func (db *DB) openError(err error) error {
	if sqlitedb.IsCorrupt(err) {
		return db.corruptError(err.Error(), err)
	}
	if sqlitedb.IsDiskFull(err) {
		return db.diskFull("open "+db.path, err)
	}
	return fmt.Errorf("queue: open %s: %w; check that the state folder is writable by the daemon", db.path, err)
}

// corruptError is the refusal to use a damaged database.
func (db *DB) corruptError(what string, err error) error {
	base := filepath.Base(db.path)
	msg := fmt.Sprintf("queue: %s is damaged (%s); siteclockd will not start over on its own because unsent punches may be in it: "+
		"stop the service, move the file aside (mv %s %s.damaged, and mv %s-wal %s.damaged-wal if it exists), "+
		"keep it for your office (sqlite3 %s.damaged .recover can rescue punches), then start again",
		db.path, what, base, base, base, base, base)
	return &kindError{kind: ErrCorrupt, msg: msg, err: err}
}

// diskFull marks err as ErrDiskFull with advice.
func (db *DB) diskFull(op string, err error) error {
	msg := fmt.Sprintf("queue: %s: disk full (%v); free space on the state folder %s: photos already uploaded are removed automatically, so get the kiosk online to upload the waiting ones", op, err, db.dir)
	return &kindError{kind: ErrDiskFull, msg: msg, err: err}
}

// errorf formats an error that is also the sentinel kind (errors.Is) without
// repeating the sentinel's text; a %w in format is kept as its cause.
func errorf(kind error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &kindError{kind: kind, msg: err.Error(), err: errors.Unwrap(err)}
}

// kindError is an error that is also one of the sentinels, carrying its own
// complete message.
type kindError struct {
	kind error
	msg  string
	err  error
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

// wrap gives err the operation's context once, and marks full disks and
// damaged databases with their sentinels.
func (db *DB) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case sqlitedb.IsDiskFull(err):
		return db.diskFull(op, err)
	case sqlitedb.IsCorrupt(err):
		return db.corruptError(err.Error(), err)
	}
	return fmt.Errorf("queue: %s: %w", op, err)
}

// Close closes the database and releases the state folder.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.insertStmt != nil {
			db.insertStmt.Close()
		}
		err := db.sql.Close()
		if db.lock != nil {
			if lerr := db.lock.Close(); err == nil {
				err = lerr
			}
		}
		if err != nil {
			db.closeErr = fmt.Errorf("queue: close %s: %w", db.path, err)
		}
	})
	return db.closeErr
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Dir returns the state folder.
func (db *DB) Dir() string { return db.dir }

// statfsFree is the default Options.FreeSpace: the bytes available to an
// unprivileged user.
func statfsFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
