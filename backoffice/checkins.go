package backoffice

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// A thousand kiosks checking in at once (after an outage, say) must each be
// answered within 100 ms on a small server. Two things stood in the way,
// and this file holds what replaced them.
//
// The record of a check-in was written durably, one savepoint per
// check-in, by the single writer: about 40 µs of SQLite work each, queued
// behind each other, plus the fsyncs. But that record (when the kiosk last
// called, what it runs, how many punches it holds, its camera, the pairing
// of its clocks) is a status report the kiosk repeats every sync interval,
// and the answer needs none of it. So check-ins are kept in memory, the
// latest per device and per device and boot, and written in one
// transaction every flushEvery (sooner when flushAt devices are pending)
// and at Close. The trade-off: a crash (power loss, SIGKILL) loses the
// check-in records of at most the last flush interval, which the kiosks
// send again at their next check-in. Punches, photos, enrolments and admin
// changes (disabling a device, its goodbye) are written as before, durable
// before their method returns. Everything in this process that reads the
// records flushes first (Device, Devices, ClockAnchors), so a check-in is
// visible there once it has returned (unless that write fails: then the
// read shows what the database holds); another process reading the same
// data folder (the command line) sees it a flush interval late.
//
// Every device request also read its device from SQLite (the token's
// hash, then the device's state for the answer), and so did the answer's
// roster version and sync interval: two trips through the reader pool per
// check-in, which with a thousand requests contending for its few
// connections took about a third of the CPU of a herd of check-ins. They
// are now answered from memory:
//
//   - the devices' tokens and whether they are disabled or said goodbye are
//     loaded at start, refreshed from the database by Enroll, DisableDevice
//     and Goodbye before they return (so the next request sees the change),
//     and reloaded every reloadEvery for changes made by another process;
//     a token or device not in memory is looked up in the database;
//   - the roster version and sync interval are read once per transaction
//     the writer commits (any of which may have changed them) and at least
//     every flushEvery.

const (
	// flushEvery is how often pending check-ins are written.
	flushEvery = 500 * time.Millisecond
	// flushAt is how many devices with pending check-ins make the flusher
	// write at once rather than at its next tick.
	flushAt = 1024
	// reloadEvery is how often the devices are read again in full, for
	// what another process changed.
	reloadEvery = 5 * time.Second
)

// pendingCheckIn is the latest check-in of one device not yet written.
type pendingCheckIn struct {
	seq           uint64 // the buffer's count when it was recorded
	at            int64  // server time, Unix ns
	version       string
	rosterVersion string
	waiting       int
	oldestWaiting sql.NullInt64
	camera        string
	arch          string                 // "" keeps the one held
	update        *protocol.UpdateReport // nil keeps the one held
	updateAt      int64                  // when update was received, Unix ns
}

// anchorKey names a clock anchor: one per device and boot.
type anchorKey struct{ deviceID, bootID string }

// pendingAnchor is the latest clock anchor of one boot not yet written.
type pendingAnchor struct {
	seq       uint64
	server    int64 // Unix ns
	device    sql.NullInt64
	boot      int64
	firstSeen int64 // the first pending check-in of this boot; the row's first_seen_ns, if there is one, wins
}

// checkIns is what check-ins and device authentication keep in memory.
type checkIns struct {
	// The check-ins not yet written. Records stay here until the
	// transaction that writes them has committed, so a failed write (a
	// full disk) loses nothing: the next flush tries again.
	mu      sync.Mutex
	seq     uint64
	devices map[string]pendingCheckIn
	anchors map[anchorKey]pendingAnchor
	closed  atomic.Bool // set (under mu) by stopCheckIns: CheckIn refuses from then on

	flushMu     sync.Mutex    // one flush at a time, so that writes keep their order
	flushEvery  time.Duration // flushEvery; tests set them before the first request
	reloadEvery time.Duration // reloadEvery
	started     atomic.Bool   // the flusher runs (changed under mu)
	kick        chan struct{} // asks the flusher to write now
	stop        chan struct{} // closed by stopCheckIns
	done        chan struct{} // closed when the flusher returned
	once        sync.Once
	stopErr     error

	// The devices as the database has them. Only loads change the maps,
	// and they read the database while holding loadMu, so the last load
	// to finish holds what the database held after every earlier one.
	loadMu  sync.Mutex
	viewMu  sync.RWMutex
	byToken map[[sha256.Size]byte]deviceAuth
	byID    map[string]viewedDevice

	answerMu sync.Mutex // one read of the company at a time
	answer   atomic.Pointer[checkInAnswer]
}

// viewedDevice is a device as kept in memory.
type viewedDevice struct {
	auth  deviceAuth
	token [sha256.Size]byte
}

// checkInAnswer is the company's part of every check-in's answer, as read
// when the writer had committed gen transactions.
type checkInAnswer struct {
	gen           int64
	rosterVersion int64
	syncEvery     int64 // ns
}

// startCheckIns prepares what check-ins keep in memory; Open calls it.
// The flusher starts with the first device request (startFlusher): a store
// opened by a command-line command never needs it.
func (s *Store) startCheckIns() {
	s.ci = &checkIns{
		devices:     map[string]pendingCheckIn{},
		anchors:     map[anchorKey]pendingAnchor{},
		flushEvery:  flushEvery,
		reloadEvery: reloadEvery,
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
}

// startFlusher starts the flusher unless it runs or the store is closing.
func (s *Store) startFlusher() {
	c := s.ci
	if c.started.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started.Load() || c.closed.Load() {
		return
	}
	c.started.Store(true)
	go s.checkInFlusher()
}

// stopCheckIns refuses further check-ins, stops the flusher and writes
// what is pending; Close calls it before it stops the writer.
func (s *Store) stopCheckIns() error {
	c := s.ci
	c.once.Do(func() {
		c.mu.Lock()
		c.closed.Store(true)
		c.mu.Unlock()
		if c.started.Load() {
			close(c.stop)
			<-c.done
		}
		c.stopErr = s.flushCheckIns()
	})
	return c.stopErr
}

// checkInFlusher loads the devices into memory, then writes pending check-ins every
// flushEvery, and at once when flushAt devices are pending, until
// stopCheckIns; it reloads the devices every reloadEvery.
func (s *Store) checkInFlusher() {
	defer close(s.ci.done)
	s.loadDevices()
	flush := time.NewTicker(s.ci.flushEvery)
	defer flush.Stop()
	reload := time.NewTicker(s.ci.reloadEvery)
	defer reload.Stop()
	for {
		select {
		case <-s.ci.stop:
			return
		case <-reload.C:
			s.loadDevices()
			s.loadUpdates() // releases added and targets set by another process
			continue
		case <-flush.C:
			// Another process may have changed the company.
			s.ci.answer.Store(nil)
		case <-s.ci.kick:
		}
		if err := s.flushCheckIns(); err != nil {
			s.log.Warn("writing check-ins failed; they stay in memory and are retried", "err", err)
		}
	}
}

// recordCheckIn keeps a check-in until the next flush; false if the store
// is closing.
func (s *Store) recordCheckIn(deviceID string, rec pendingCheckIn, bootID string, anchor pendingAnchor) bool {
	c := s.ci
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return false
	}
	c.seq++
	rec.seq = c.seq
	// A check-in that says nothing of the architecture or an update keeps
	// what an earlier one not yet written said.
	if old, ok := c.devices[deviceID]; ok {
		if rec.arch == "" {
			rec.arch = old.arch
		}
		if rec.update == nil {
			rec.update, rec.updateAt = old.update, old.updateAt
		}
	}
	c.devices[deviceID] = rec
	if bootID != "" {
		k := anchorKey{deviceID, bootID}
		anchor.seq = c.seq
		if old, ok := c.anchors[k]; ok {
			anchor.firstSeen = old.firstSeen
		}
		c.anchors[k] = anchor
	}
	full := len(c.devices) >= flushAt
	c.mu.Unlock()
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// flushCheckIns writes the pending check-ins in one write and forgets those
// not replaced meanwhile. It returns once everything pending when it was
// called is in the database, or the write failed.
func (s *Store) flushCheckIns() error {
	c := s.ci
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	type devRec struct {
		id string
		pendingCheckIn
	}
	type anchorRec struct {
		anchorKey
		pendingAnchor
	}
	c.mu.Lock()
	devs := make([]devRec, 0, len(c.devices))
	for id, r := range c.devices {
		devs = append(devs, devRec{id, r})
	}
	anchors := make([]anchorRec, 0, len(c.anchors))
	for k, a := range c.anchors {
		anchors = append(anchors, anchorRec{k, a})
	}
	c.mu.Unlock()
	if len(devs) == 0 && len(anchors) == 0 {
		return nil
	}

	err := s.write(func(tx *sql.Tx) error {
		up := tx.Stmt(s.stmts.checkIn)
		report := tx.Stmt(s.stmts.updateReport)
		for _, d := range devs {
			if _, err := up.Exec(d.at, d.version, d.rosterVersion, d.waiting, d.oldestWaiting, d.camera, d.arch, d.id); err != nil {
				return err
			}
			if u := d.update; u != nil {
				if _, err := report.Exec(u.Version, u.State, u.Progress, u.Detail, optionalNS(u.At), d.updateAt, d.id); err != nil {
					return err
				}
			}
		}
		an := tx.Stmt(s.stmts.anchor)
		for _, a := range anchors {
			if _, err := an.Exec(a.deviceID, a.bootID, a.server, a.device, a.boot, a.firstSeen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap("write check-ins", err)
	}
	c.mu.Lock()
	for _, d := range devs {
		if c.devices[d.id].seq == d.seq {
			delete(c.devices, d.id)
		}
	}
	for _, a := range anchors {
		if c.anchors[a.anchorKey].seq == a.seq {
			delete(c.anchors, a.anchorKey)
		}
	}
	c.mu.Unlock()
	return nil
}

// flushForRead writes the pending check-ins before a read that shows them.
// Should that fail (a full disk), the read goes on with what the database
// holds, and the flusher tries again.
func (s *Store) flushForRead() {
	if err := s.flushCheckIns(); err != nil {
		s.log.Warn("writing check-ins before a read failed; showing what the database holds", "err", err)
	}
}

// loadDevices reads every device's token and state into memory. On failure
// the devices are looked up in the database until a later load works.
func (s *Store) loadDevices() {
	c := s.ci
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	byToken := map[[sha256.Size]byte]deviceAuth{}
	byID := map[string]viewedDevice{}
	err := func() error {
		rows, err := s.r.Query(`SELECT id, token_sha256, disabled_at_ns IS NOT NULL, goodbye_at_ns IS NOT NULL FROM devices`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v viewedDevice
			var token []byte
			if err := rows.Scan(&v.auth.ID, &token, &v.auth.Disabled, &v.auth.Gone); err != nil {
				return err
			}
			if len(token) != sha256.Size {
				continue // the schema forbids it; look it up if ever asked
			}
			copy(v.token[:], token)
			byToken[v.token] = v.auth
			byID[v.auth.ID] = v
		}
		return rows.Err()
	}()
	if err != nil {
		s.log.Warn("loading the devices failed; reading them from the database on each request", "err", err)
		byToken, byID = nil, nil
	}
	c.viewMu.Lock()
	c.byToken, c.byID = byToken, byID
	c.viewMu.Unlock()
}

// reloadDevice reads one device into memory again after a change to it
// committed. On failure it is dropped from memory, so that requests look it
// up in the database rather than trust what memory held before the change.
func (s *Store) reloadDevice(id string) {
	c := s.ci
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	var v viewedDevice
	var token []byte
	err := s.r.QueryRow(`SELECT id, token_sha256, disabled_at_ns IS NOT NULL, goodbye_at_ns IS NOT NULL FROM devices WHERE id = ?`, id).
		Scan(&v.auth.ID, &token, &v.auth.Disabled, &v.auth.Gone)
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	if c.byID == nil {
		return // not loaded: everything is read from the database
	}
	if old, ok := c.byID[id]; ok {
		delete(c.byToken, old.token)
		delete(c.byID, id)
	}
	if err != nil || len(token) != sha256.Size {
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			s.log.Warn("reading a changed device failed; reading it from the database on each request", "device_id", id, "err", err)
		}
		return
	}
	copy(v.token[:], token)
	c.byToken[v.token] = v.auth
	c.byID[id] = v
}

// viewedByToken returns the device whose token hash this is, if in memory.
func (s *Store) viewedByToken(hash [sha256.Size]byte) (deviceAuth, bool) {
	c := s.ci
	c.viewMu.RLock()
	a, ok := c.byToken[hash]
	c.viewMu.RUnlock()
	return a, ok
}

// viewedByID returns the device with this ID, if in memory.
func (s *Store) viewedByID(id string) (deviceAuth, bool) {
	c := s.ci
	c.viewMu.RLock()
	v, ok := c.byID[id]
	c.viewMu.RUnlock()
	return v.auth, ok
}

// companyAnswer returns the company's part of a check-in's answer. It is
// read again once the writer has committed anything since it was last
// read: the commit count is taken before the read, so a change that
// committed before this call started is always seen.
func (s *Store) companyAnswer() (checkInAnswer, error) {
	c := s.ci
	gen := s.commits.Load()
	if a := c.answer.Load(); a != nil && a.gen == gen {
		return *a, nil
	}
	// A thousand check-ins finding it stale at once read it once.
	c.answerMu.Lock()
	defer c.answerMu.Unlock()
	gen = s.commits.Load()
	if a := c.answer.Load(); a != nil && a.gen == gen {
		return *a, nil
	}
	a := checkInAnswer{gen: gen}
	err := s.stmts.checkInAnswer.QueryRow().Scan(&a.rosterVersion, &a.syncEvery)
	if errors.Is(err, sql.ErrNoRows) {
		return checkInAnswer{}, errNoCompany()
	}
	if err != nil {
		return checkInAnswer{}, s.wrap("read the roster version", err)
	}
	c.answer.Store(&a)
	return a, nil
}

// optionalNS is a nullable nanosecond column's value: NULL for the zero
// time.
func optionalNS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}
