// Package backoffice is siteclock's back office: the company, its employees,
// security roles and device settings that kiosks sync as a roster; the
// kiosks enrolled with the company's setup code; the punches and photos
// they upload; and the signed releases of the kiosk software an admin
// chooses for them (releases.go, updates.go). A Store keeps all of it in
// one SQLite database (office.db) and the photos and releases folders
// inside a data folder; a Server answers the device API (docs/protocol.md)
// on top of a Store.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// write has reached stable storage when its method returns; a photo or a
// release's binary is written, fsync'd and renamed into place before the
// row that names it commits. The one exception is a device's check-in
// record (its last check-in, versions, waiting count, clock anchor,
// architecture and update report): check-ins are answered from memory and
// written in batches every 500 ms (checkins.go), so a crash can lose at
// most that much of them, never a punch, a photo or an admin's change.
//
// Every write goes through one writer goroutine, which commits the writes
// waiting at that moment in one transaction, each inside its own savepoint
// (group commit). A commit costs an fsync; many kiosks uploading at once
// then share a few fsyncs instead of queueing for one each, and a write
// that fails rolls back only its own savepoint. Reads use a separate
// pool of connections and never wait for the writer.
//
// The roster version is a counter bumped in the same transaction as every
// change to employees, roles or device settings, so a kiosk holding version
// N holds exactly what the database said at N.
package backoffice

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/sqlitedb"
)

// File and folder names inside the data folder.
const (
	dbName      = "office.db"
	photosDir   = "photos"
	releasesDir = "releases"
)

// Sentinel errors a caller (the device API, the admin UI) decides on.
var (
	// ErrNoCompany means no company was created in this data folder yet.
	ErrNoCompany = errors.New("backoffice: no company")
	// ErrCompanyExists means CreateCompany found one already.
	ErrCompanyExists = errors.New("backoffice: company already exists")
	// ErrInvalid means the input was refused; the error says what to fix.
	ErrInvalid = errors.New("backoffice: invalid input")
	// ErrNotFound means the thing asked for does not exist.
	ErrNotFound = errors.New("backoffice: not found")
	// ErrNumberTaken means another employee has that employee number.
	ErrNumberTaken = errors.New("backoffice: employee number taken")
	// ErrPINTaken means another active employee has that PIN.
	ErrPINTaken = errors.New("backoffice: PIN taken")
	// ErrWrongCode means no setup code like that was ever issued (or it
	// was retired long ago).
	ErrWrongCode = errors.New("backoffice: wrong setup code")
	// ErrExpiredCode means the setup code was rotated away.
	ErrExpiredCode = errors.New("backoffice: setup code expired")
	// ErrUnauthorized means the device token is unknown.
	ErrUnauthorized = errors.New("backoffice: unknown device token")
	// ErrDisabled means the device is disabled: for enrolment, or for
	// anything once it has said goodbye.
	ErrDisabled = errors.New("backoffice: device disabled")
	// ErrNotDisabled means a device said goodbye without being disabled.
	ErrNotDisabled = errors.New("backoffice: device not disabled")
	// ErrPhotoConflict means a photo and its punch disagree: the punch
	// names another photo, or was sent by another device.
	ErrPhotoConflict = errors.New("backoffice: photo does not belong to that punch")
	ErrKeyMismatch   = errors.New("backoffice: this installation is enrolled with another device key")
	// ErrPhotoDeleted means the photo was removed under the retention rule.
	ErrPhotoDeleted = errors.New("backoffice: photo deleted under the retention rule")
	// ErrCorrupt means the database file is damaged; the store refuses it.
	ErrCorrupt = errors.New("backoffice: database damaged")
	// ErrNewerSchema means the database was written by a newer build.
	ErrNewerSchema = errors.New("backoffice: database schema is newer than this build")
	// ErrDiskFull means the data folder ran out of space; nothing of the
	// failed operation was kept.
	ErrDiskFull = errors.New("backoffice: disk full")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("backoffice: store closed")
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Logger receives what the store does; nil discards it.
	Logger *slog.Logger
	// Readers is the most read connections kept open; 0 means twice
	// GOMAXPROCS (at least 4).
	Readers int
}

// Store is an open back office data folder. Its methods are safe for
// concurrent use, and by several processes on one folder (the command line
// while the server runs): SQLite's locks serialise them.
type Store struct {
	dir      string
	path     string
	photoDir string
	relDir   string  // releases' binaries (releases.go)
	w        *sql.DB // the writer's single connection
	r        *sql.DB // readers
	log      *slog.Logger
	stmts    statements

	writes     chan *writeReq
	writerDone chan struct{}
	commits    atomic.Int64  // transactions the writer committed
	ckptStop   chan struct{} // closed by Close
	ckptDone   chan struct{}
	closeMu    sync.RWMutex // held for reading while a write is handed over
	closed     bool

	kdfMu sync.Mutex
	kdf   *roster.KDF // the company's, once read: it never changes

	rosterMu    sync.Mutex
	rosterCache cachedRoster

	photoKey *photoseal.PrivateKey // the company's, read at Open (photokey.go)

	ci *checkIns // check-ins not yet written (checkins.go)

	up updates // update targets and offers kept in memory (updates.go)

	verifier *verifier // checks punch signatures (verify.go)
}

// Open opens the data folder dir, creating it (0700), its photos folder and
// the database if missing, applying schema migrations and checking the
// database's integrity. A damaged database is refused with an error
// wrapping ErrCorrupt; one written by a newer build with ErrNewerSchema.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("backoffice: no data folder given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("backoffice: data folder %s: %w", dir, err)
	}
	s := &Store{
		dir:        abs,
		path:       filepath.Join(abs, dbName),
		photoDir:   filepath.Join(abs, photosDir),
		relDir:     filepath.Join(abs, releasesDir),
		log:        opts.Logger,
		writes:     make(chan *writeReq, 1024),
		writerDone: make(chan struct{}),
		ckptStop:   make(chan struct{}),
		ckptDone:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, d := range []string{s.dir, s.photoDir, s.relDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("backoffice: create data folder: %w; check that the server may write there", err)
		}
	}
	readers := opts.Readers
	if readers <= 0 {
		readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if err := s.open(readers); err != nil {
		if s.w != nil {
			s.w.Close()
		}
		if s.r != nil {
			s.r.Close()
		}
		return nil, err
	}
	if err := s.loadPhotoKey(); err != nil {
		s.w.Close()
		s.r.Close()
		return nil, err
	}
	s.verifier = newVerifier(runtime.GOMAXPROCS(0))
	go s.writer()
	go s.checkpointer()
	s.startCheckIns()
	return s, nil
}

func (s *Store) open(readers int) error {
	ctx := context.Background()
	created := false
	if _, err := os.Stat(s.path); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	// The writer keeps a larger page cache: it walks the punch indexes
	// on every upload.
	w, err := sql.Open("sqlite3", sqlitedb.DSN(s.path)+"&_cache_size=-32000")
	if err != nil {
		return fmt.Errorf("backoffice: open %s: %w", s.path, err)
	}
	s.w = w
	// One connection: the writer goroutine is its only user, so writes
	// never wait on each other's locks.
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		return s.openError(err)
	}
	if err := sqlitedb.CheckDurable(ctx, w); errors.Is(err, sqlitedb.ErrNotDurable) {
		return fmt.Errorf("backoffice: %s: %w", s.path, err)
	} else if err != nil {
		return s.openError(err)
	}
	if err := s.quickCheck(ctx); err != nil {
		return err
	}
	version, err := sqlitedb.Migrate(ctx, w, migrations)
	if err != nil {
		var newer *sqlitedb.NewerSchemaError
		if errors.As(err, &newer) {
			return errorf(ErrNewerSchema, "backoffice: %s was written by a newer siteclock-server (schema %d, this build knows %d); install the newer version or restore a backup",
				s.path, newer.Have, newer.Know)
		}
		return s.openError(err)
	}
	r, err := sql.Open("sqlite3", sqlitedb.DSN(s.path))
	if err != nil {
		return fmt.Errorf("backoffice: open %s: %w", s.path, err)
	}
	s.r = r
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := s.prepare(ctx); err != nil {
		return s.openError(err)
	}
	// Checkpoints run beside the writer (see checkpointer), not inside
	// its commits. Should this connection ever be replaced, the new one
	// checkpoints on its own again, as SQLite does by default.
	if _, err := w.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		return s.openError(err)
	}
	if err := s.removeTempPhotos(); err != nil {
		return err
	}
	if _, err := durable.RemoveTemp(s.relDir); err != nil {
		return fmt.Errorf("backoffice: remove unfinished release uploads in %s: %w", s.relDir, err)
	}
	if err := durable.SyncDir(s.dir); err != nil {
		return fmt.Errorf("backoffice: sync %s: %w", s.dir, err)
	}
	s.log.Info("back office store open", "path", s.path, "schema", version, "created", created)
	return nil
}

// quickCheck runs PRAGMA quick_check so that damage is found at start-up,
// before new punches are written on top of it.
func (s *Store) quickCheck(ctx context.Context) error {
	damage, err := sqlitedb.QuickCheck(ctx, s.w)
	switch {
	case err != nil && sqlitedb.IsCorrupt(err):
		return s.corruptError("quick_check: "+err.Error(), err)
	case err != nil:
		return s.openError(err)
	case damage != "":
		return s.corruptError(damage, nil)
	}
	return nil
}

// checkpointEvery is how often the WAL is copied back into the database
// while writes come in.
const checkpointEvery = 250 * time.Millisecond

// checkpointer copies committed pages from the WAL into the database file
// on a read connection, beside the writer. Left to SQLite, the commit that
// crosses 1,000 WAL pages does it, and every write waiting behind that
// commit waits for it too. A PASSIVE checkpoint never blocks the writer or
// readers; it does nothing while no writes come in.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var done int64
	for {
		select {
		case <-s.ckptStop:
			return
		case <-t.C:
		}
		n := s.commits.Load()
		if n == done {
			continue
		}
		if _, err := s.r.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			s.log.Warn("WAL checkpoint failed; retrying", "err", err)
			continue
		}
		done = n
	}
}

// removeTempPhotos removes photo files a crash left half-written.
func (s *Store) removeTempPhotos() error {
	if _, err := durable.RemoveTemp(s.photoDir); err != nil {
		return fmt.Errorf("backoffice: remove unfinished photos in %s: %w", s.photoDir, err)
	}
	return nil
}

// Close writes the pending check-ins, stops the writer after the writes
// already handed to it and closes the database.
func (s *Store) Close() error {
	// Pending check-ins go through the writer, so before it stops.
	ciErr := s.stopCheckIns()
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.writes)
	s.closeMu.Unlock()
	<-s.writerDone
	s.verifier.close()
	close(s.ckptStop)
	<-s.ckptDone
	s.stmts.close()
	err := s.w.Close()
	if rerr := s.r.Close(); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("backoffice: close %s: %w", s.path, err)
	}
	return ciErr
}

// Dir returns the data folder.
func (s *Store) Dir() string { return s.dir }

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// openError turns an error met while opening into one that says what to do.
func (s *Store) openError(err error) error {
	if sqlitedb.IsCorrupt(err) {
		return s.corruptError(err.Error(), err)
	}
	if sqlitedb.IsDiskFull(err) {
		return s.diskFull("open "+s.path, err)
	}
	return fmt.Errorf("backoffice: open %s: %w; check that the data folder is writable by the server", s.path, err)
}

// corruptError is the refusal to use a damaged database.
func (s *Store) corruptError(what string, err error) error {
	base := filepath.Base(s.path)
	msg := fmt.Sprintf("backoffice: %s is damaged (%s); siteclock-server will not start over on its own because it holds the company's punches: "+
		"stop the server, move the file aside (mv %s %s.damaged, and mv %s-wal %s.damaged-wal if it exists), "+
		"then restore the latest backup into its place (sqlite3 %s.damaged .recover can rescue what the backup lacks)",
		s.path, what, base, base, base, base, base)
	return &kindError{kind: ErrCorrupt, msg: msg, err: err}
}

// diskFull marks err as ErrDiskFull with advice.
func (s *Store) diskFull(op string, err error) error {
	msg := fmt.Sprintf("backoffice: %s: disk full (%v); free space on the data folder %s (kiosks keep their punches and retry)", op, err, s.dir)
	return &kindError{kind: ErrDiskFull, msg: msg, err: err}
}

// wrap gives err the operation's context once and marks full disks and
// damaged databases with their sentinels. Errors that already carry a
// sentinel of this package pass through.
func (s *Store) wrap(op string, err error) error {
	var ke *kindError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return err
	case sqlitedb.IsDiskFull(err):
		return s.diskFull(op, err)
	case sqlitedb.IsCorrupt(err):
		return s.corruptError(err.Error(), err)
	}
	return fmt.Errorf("backoffice: %s: %w", op, err)
}

// errorf formats an error that is also the sentinel kind (errors.Is)
// without repeating the sentinel's text; a %w in format is kept as its
// cause.
func errorf(kind error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &kindError{kind: kind, msg: err.Error(), err: errors.Unwrap(err)}
}

// invalid is ErrInvalid with a message that says what to fix.
func invalid(format string, args ...any) error {
	return errorf(ErrInvalid, "backoffice: "+format, args...)
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
