package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/punch"
)

// What the queue adds to each punch at commit, beside its sequence number:
//
//   - The signed chain (punch/chain.go): the database's chain ID, the hash
//     of the punch committed before it (empty for the first chained punch,
//     including the first after punches from before chaining), its own hash
//     and, with Options.Key, the device key's signature. The sequence
//     number and the previous hash are known only here, under commitMu, so
//     signing happens here too.
//
//   - Two clock flags. Anchored: the kiosk heard the server's time during
//     the punch's boot (RecordAnchor). Behind: the punch's wall time is
//     earlier than the latest wall time the kiosk recorded before (the
//     "wall mark": the times of earlier punches, NoteTime, which the daemon
//     calls while idle). A Raspberry Pi without network and RTC boots at
//     the last time fake-hwclock saved, or at 1970; its clock then reads
//     earlier than the mark and the punch is flagged. Its At stays what the
//     clock read, so that punches keep the spacing of the boot clock; the
//     back office places them by the boot clock and its own time once the
//     boot has an anchor, and orders them by sequence number (the kiosk's
//     own lists are by sequence number too). The third flag, Synced, comes
//     from the kernel and is set by the daemon.
//
// The chain state and the mark are kept in memory, read at Open and after
// any failed commit (an uncertain one may have reached the disk).

// chainState is the tail of the chain and the wall mark, guarded by
// commitMu.
type chainState struct {
	known      bool // false: read it from the database before the next commit
	chainID    string
	lastSeq    int64
	lastHash   []byte    // nil when the last punch is not chained (or there is none)
	mark       time.Time // the wall mark; zero when nothing was ever recorded
	anchorBoot string    // the boot of the kiosk's latest clock anchor
	behind     bool      // NoteTime saw the clock behind the mark (for logging the change once)
}

// loadChain reads the chain's tail, the wall mark and the anchored boot.
// The sequence comes from sqlite_sequence, which AUTOINCREMENT keeps at the
// highest number ever used, so a number is never given twice.
func (db *DB) loadChain(ctx context.Context) error {
	var (
		st        chainState
		markNS    sql.NullInt64
		markSeq   int64
		laterMark sql.NullInt64
	)
	err := db.sql.QueryRowContext(ctx, `SELECT chain_id, wall_mark_ns, wall_mark_seq, anchor_boot_id,
		coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'punches'), 0)
		FROM device WHERE id = 1`).Scan(&st.chainID, &markNS, &markSeq, &st.anchorBoot, &st.lastSeq)
	if err != nil {
		return err
	}
	if st.chainID == "" {
		return errors.New("the database has no chain ID")
	}
	err = db.sql.QueryRowContext(ctx, `SELECT hash FROM punches WHERE seq = ?`, st.lastSeq).Scan(&st.lastHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	// Punches since the mark was written count towards it.
	if err := db.sql.QueryRowContext(ctx, `SELECT max(at_ns) FROM punches WHERE seq > ?`, markSeq).Scan(&laterMark); err != nil {
		return err
	}
	if markNS.Valid {
		st.mark = time.Unix(0, markNS.Int64)
	}
	if laterMark.Valid && laterMark.Int64 > st.mark.UnixNano() {
		st.mark = time.Unix(0, laterMark.Int64)
	}
	st.behind = db.chain.behind
	st.known = true
	db.chain = st
	return nil
}

// stamp fills in each punch's sequence number, chain, clock flags and
// photo hash, and signs it. It changes only ps: the chain state moves on in
// advance once the punches are committed.
func (db *DB) stamp(ps []punch.Punch, photoSum string) {
	seq, prev, mark := db.chain.lastSeq, db.chain.lastHash, db.chain.mark
	for i := range ps {
		p := &ps[i]
		seq++
		p.Seq, p.ChainID, p.PrevHash = seq, db.chain.chainID, prev
		p.Clock.Anchored = db.chain.anchorBoot != "" && p.BootID == db.chain.anchorBoot
		p.Clock.Behind = p.At.Before(mark)
		if p.Clock.Behind {
			db.log.Warn("the wall clock is behind the latest time this kiosk recorded; the punch keeps the clock's time, flagged clock_behind",
				"punch_id", p.ID, "at", p.At, "latest", mark)
		}
		if p.At.After(mark) {
			mark = p.At
		}
		p.PhotoSHA256 = ""
		if i == 0 {
			p.PhotoSHA256 = photoSum
		}
		p.Sign(db.key)
		prev = p.Hash
	}
}

// advance moves the chain state past committed punches.
func (db *DB) advance(ps []punch.Punch) {
	last := ps[len(ps)-1]
	db.chain.lastSeq, db.chain.lastHash = last.Seq, last.Hash
	for _, p := range ps {
		if p.At.After(db.chain.mark) {
			db.chain.mark = p.At
		}
	}
}

// photoSHA256 is the hex SHA-256 of a punch photo's JPEG: the name the
// protocol gives the photo, whether it comes as the JPEG or sealed
// (photoseal keeps the JPEG's hash in the clear).
func photoSHA256(photo []byte) (string, error) {
	if len(photo) == 0 {
		return "", nil
	}
	if photoseal.IsSealed(photo) {
		h, err := photoseal.Hash(photo)
		if err != nil {
			return "", err
		}
		return hex.EncodeToString(h[:]), nil
	}
	h := sha256.Sum256(photo)
	return hex.EncodeToString(h[:]), nil
}

// NoteTime records that the wall clock read t, so that a clock that later
// reads earlier (after a reboot without network or RTC) is told from one
// that is right. The daemon calls it at start and every few minutes while
// no punch is under way (a punch's time is when the worker chose IN or OUT,
// which must not count as behind a time noted while the photo was taken).
// The mark only moves forward here; a reading behind it is logged, once
// until the clock catches up.
func (db *DB) NoteTime(t time.Time) error {
	if db.readOnly {
		return errors.New("queue: opened read-only; only the running siteclockd records the time")
	}
	if t.IsZero() {
		return errors.New("queue: note time: no time given")
	}
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	if !db.chain.known {
		if err := db.loadChain(context.Background()); err != nil {
			return db.wrap("read the chain state", err)
		}
	}
	mark := db.chain.mark
	if t.Before(mark) {
		if !db.chain.behind {
			db.chain.behind = true
			db.log.Warn("the wall clock went backwards: it reads earlier than the latest time this kiosk recorded; "+
				"punches are flagged clock_behind until it catches up (set the time, or let it reach the network for NTP)",
				"clock", t, "latest", mark, "behind", mark.Sub(t).Round(time.Second))
		}
		return nil
	}
	if db.chain.behind {
		db.chain.behind = false
		db.log.Info("the wall clock is past the latest time recorded again", "clock", t)
	}
	if _, err := db.sql.Exec(`UPDATE device SET wall_mark_ns = ?, wall_mark_seq = ? WHERE id = 1`, t.UnixNano(), db.chain.lastSeq); err != nil {
		return db.wrap("record the wall time", err)
	}
	db.chain.mark = t
	return nil
}

// Anchor pairs the server's time with the kiosk's clocks at one check-in.
type Anchor struct {
	BootID     string        // the boot it holds for
	ServerTime time.Time     // the server's time in its answer
	BootTime   time.Duration // CLOCK_BOOTTIME when the answer came
	DeviceTime time.Time     // the wall clock when the answer came
}

// RecordAnchor keeps the kiosk's latest clock anchor: from then on, punches
// of a.BootID are flagged Anchored (the server can place them by the boot
// clock). The server's time also corrects a wall mark left in the future by
// a clock that once ran ahead: the mark comes down to the later of the
// server's time and the wall clock's, never further (a clock slightly slow
// against the server must not make the next punches count as behind).
func (db *DB) RecordAnchor(a Anchor) error {
	if db.readOnly {
		return errors.New("queue: opened read-only; only the running siteclockd records clock anchors")
	}
	if a.BootID == "" || a.ServerTime.IsZero() || a.DeviceTime.IsZero() {
		return errors.New("queue: record clock anchor: boot ID, server time and device time are required")
	}
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	ctx := context.Background()
	if !db.chain.known {
		if err := db.loadChain(ctx); err != nil {
			return db.wrap("read the chain state", err)
		}
	}
	mark := db.chain.mark
	if floor := later(a.ServerTime, a.DeviceTime); floor.Before(mark) {
		db.log.Warn("the latest wall time recorded was ahead of the server's time; lowering it", "latest", mark, "server_time", a.ServerTime)
		mark = floor
	}
	_, err := db.sql.ExecContext(ctx, `UPDATE device SET anchor_boot_id = ?, anchor_server_ns = ?, anchor_boot_ns = ?, anchor_device_ns = ?,
		wall_mark_ns = ?, wall_mark_seq = ? WHERE id = 1`,
		a.BootID, a.ServerTime.UnixNano(), int64(a.BootTime), a.DeviceTime.UnixNano(), mark.UnixNano(), db.chain.lastSeq)
	if err != nil {
		return db.wrap("record clock anchor", err)
	}
	db.chain.anchorBoot, db.chain.mark = a.BootID, mark
	return nil
}

// LatestAnchor returns the kiosk's latest clock anchor; ok is false when it
// never had one.
func (db *DB) LatestAnchor() (a Anchor, ok bool, err error) {
	var server, boot, dev sql.NullInt64
	err = db.sql.QueryRow(`SELECT anchor_boot_id, anchor_server_ns, anchor_boot_ns, anchor_device_ns FROM device WHERE id = 1`).
		Scan(&a.BootID, &server, &boot, &dev)
	if err != nil {
		return Anchor{}, false, db.wrap("read clock anchor", err)
	}
	if a.BootID == "" || !server.Valid {
		return Anchor{}, false, nil
	}
	a.ServerTime, a.BootTime = time.Unix(0, server.Int64), time.Duration(boot.Int64)
	if dev.Valid {
		a.DeviceTime = time.Unix(0, dev.Int64)
	}
	return a, true, nil
}

// WallMark returns the latest wall time the kiosk recorded (zero when
// none): a clock reading earlier than it has gone backwards.
func (db *DB) WallMark() (time.Time, error) {
	db.commitMu.Lock()
	defer db.commitMu.Unlock()
	if !db.chain.known {
		if err := db.loadChain(context.Background()); err != nil {
			return time.Time{}, db.wrap("read the chain state", err)
		}
	}
	return db.chain.mark, nil
}

// ChainID returns the ID of this database's punch chain.
func (db *DB) ChainID() (string, error) {
	var id string
	if err := db.sql.QueryRow(`SELECT chain_id FROM device WHERE id = 1`).Scan(&id); err != nil {
		return "", db.wrap("read chain ID", err)
	}
	return id, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
