package backoffice

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// The back office does not take a kiosk's SD card at its word. Two checks,
// both made when punches arrive and kept for the Devices page and the
// timecard:
//
// Time. A Raspberry Pi has no battery-backed clock, so the wall time a
// punch carries may be hours or decades off. At every check-in the server
// pairs its own time with the kiosk's boot clock (CLOCK_BOOTTIME), per boot
// (clock_anchors: the boot's first pairing and its latest). A punch of a
// boot with an anchor gets a trusted time: the anchor's server time plus
// the boot clock's time from the anchor to the punch, whether the anchor
// came before the punch or after it. Of the two anchors the one nearer the
// punch in boot time is used, because a Pi's crystal drifts (tens of parts
// per million: seconds a day), so the error grows with the distance; the
// pairing itself is off by the check-in's network delay. The trusted time
// is computed when the punch arrives (normally just after a check-in of its
// boot, so the latest anchor is as near as any later one would be) and, for
// a punch that arrived before its boot's first anchor was written, when that
// anchor is (a trigger, schema step 4). The device's own wall time is kept
// beside it. A punch of a boot that never reached the server (the kiosk
// rebooted before it got online) has no trusted time: it is shown with the
// device's time, flagged "time unverified".
//
// Tamper evidence. Every punch a kiosk commits is signed with its device key
// and chained: it names its chain (one per kiosk database), its sequence
// number and the hash of the punch before it (punch/chain.go). The server
// verifies the signature with the key the device enrolled with and the link
// with the punch it holds at the previous sequence number, and records every
// signed punch it receives in punch_chain, accepted or not. What it finds:
//
//   - bad signature: the punch was changed after it was signed (or signed by
//     another key);
//   - broken link: the punch names a previous hash other than that of the
//     punch the server holds before it: that one was changed, or replaced;
//   - gap: punches before it never arrived (removed from the kiosk);
//   - replay: its sequence number was already used by another punch;
//   - edit: the same punch was sent again with different contents (the
//     first copy stands; the edited one is rejected as a reused ID).
//
// A punch with a bad signature, a broken link or a replayed sequence number
// is still accepted and counted, flagged for a person to judge: refusing it
// would drop a worker's hours on the strength of what may be a damaged SD
// card, and a kiosk must never be stuck on a punch the server will not
// take. Punches committed before kiosks signed them have no signature and
// are shown as "unsigned", which is not a problem; an unsigned punch from a
// device that had already sent signed ones is (someone may have stripped
// the signature of a punch they changed).

// Integrity statuses of a punch.
const (
	IntegrityVerified     = "verified"      // signature good, linked to the punch before it
	IntegrityUnsigned     = "unsigned"      // made before the kiosk signed punches
	IntegrityUnsignedLate = "unsigned_late" // unsigned, though the device had already sent signed punches
	IntegrityBadSignature = "bad_signature" // changed after it was signed
	IntegrityBrokenLink   = "broken_link"   // does not follow the punch the office holds before it
	IntegrityGap          = "gap"           // punches before it never arrived
	IntegrityReplay       = "replay"        // its sequence number was used by another punch first
	IntegrityContested    = "contested"     // another punch, or an edited copy of this one, later claimed its sequence number
)

// Chain links and conflicts, as punch_chain stores them.
const (
	linkOK     = "ok"
	linkStart  = "start" // names no previous punch: the first of its chain
	linkGap    = "gap"
	linkBroken = "broken"

	conflictReplay = "replay"
	conflictEdit   = "edit"
)

// Integrity is what the back office can tell of one punch's integrity.
type Integrity struct {
	Status string // one of the Integrity* statuses
	// For a gap: the missing sequence numbers, From to To inclusive;
	// From is 0 when no signed punch of the chain came before them.
	MissingFrom, MissingTo int64
}

// Problem reports whether the status is something a person should look at.
func (i Integrity) Problem() bool {
	return i.Status != IntegrityVerified && i.Status != IntegrityUnsigned && i.Status != ""
}

// Words says in words what the status means, for the timecard.
func (i Integrity) Words() string {
	switch i.Status {
	case IntegrityVerified:
		return "signed by the kiosk and in sequence"
	case IntegrityUnsigned:
		return "unsigned: made before the kiosk signed its punches"
	case IntegrityUnsignedLate:
		return "unsigned, though this kiosk had already sent signed punches: it may have been changed on the kiosk"
	case IntegrityBadSignature:
		return "changed after the kiosk signed it: the signature does not match"
	case IntegrityBrokenLink:
		return "out of sequence: the punch before it on the kiosk is not the one the office holds, so one of them was changed or replaced"
	case IntegrityGap:
		return "the kiosk's " + missingWords(i.MissingFrom, i.MissingTo) + " before it never arrived"
	case IntegrityReplay:
		return "replayed: another punch had its sequence number first"
	case IntegrityContested:
		return "another punch, or an edited copy of this one, later claimed its sequence number"
	}
	return ""
}

// integrityOf is a stored punch's status from its punch_chain row (chain:
// false when it has none).
func integrityOf(chain, sigOK bool, link, conflict string, claimants int, unsignedLate bool) string {
	switch {
	case !chain && unsignedLate:
		return IntegrityUnsignedLate
	case !chain:
		return IntegrityUnsigned
	case !sigOK:
		return IntegrityBadSignature
	case conflict != "":
		return IntegrityReplay
	case link == linkBroken:
		return IntegrityBrokenLink
	case claimants > 1:
		return IntegrityContested
	case link == linkGap:
		return IntegrityGap
	}
	return IntegrityVerified
}

// chainCheck is what is known of an uploaded punch before the write.
type chainCheck struct {
	signed bool
	hash   []byte
	sigOK  bool
}

// checkSignatures hashes each signed punch of a batch and checks its
// signature with the device's key. It runs before the write: verifying
// costs far more than storing, and the single writer serves every kiosk.
// A large batch is checked on every core: a kiosk back from days offline
// sends hundreds of punches at once.
func (s *Store) checkSignatures(deviceID string, ps []protocol.Punch) ([]chainCheck, error) {
	out := make([]chainCheck, len(ps))
	if !slices.ContainsFunc(ps, func(w protocol.Punch) bool { return len(w.Signature) > 0 }) {
		return out, nil
	}
	var key ed25519.PublicKey
	err := s.r.QueryRow(`SELECT public_key FROM devices WHERE id = ?`, deviceID).Scan(&key)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, s.wrap("read the key of device "+deviceID, err)
	}
	check := func(i int) {
		w := ps[i]
		if len(w.Signature) == 0 {
			return
		}
		p := w.Punch()
		msg := p.Message()
		out[i] = chainCheck{signed: true, hash: punch.HashMessage(msg)}
		if len(key) == ed25519.PublicKeySize && len(w.Signature) == ed25519.SignatureSize {
			out[i].sigOK = ed25519.Verify(key, msg, w.Signature)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(ps)/minPerVerifier)
	if workers < 2 {
		for i := range ps {
			check(i)
		}
		return out, nil
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ps); i += workers {
				check(i)
			}
		})
	}
	wg.Wait()
	return out, nil
}

// minPerVerifier is the fewest signatures worth a goroutine of their own.
const minPerVerifier = 16

// chainRow is one punch_chain row as the link check reads it.
type chainRow struct {
	seq      int64
	hash     []byte
	prev     []byte
	punchID  string
	link     string
	conflict string
}

// chainWriter records a batch's signed punches in punch_chain, inside the
// batch's write, with its statements prepared once.
type chainWriter struct {
	tx                *sql.Tx
	deviceID          string
	near, add, relink *sql.Stmt
}

func newChainWriter(tx *sql.Tx, deviceID string) (*chainWriter, error) {
	w := &chainWriter{tx: tx, deviceID: deviceID}
	for _, st := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		// The rows at the punch's sequence number and either side of it,
		// in one read.
		{&w.near, `SELECT seq, hash, prev_hash, punch_id, link, conflict FROM punch_chain
			WHERE device_id = ? AND chain_id = ? AND seq BETWEEN ? AND ?`},
		{&w.add, `INSERT INTO punch_chain (device_id, chain_id, seq, hash, punch_id, prev_hash, signature, sig_ok, link, conflict, received_at_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.relink, `UPDATE punch_chain SET link = ? WHERE device_id = ? AND chain_id = ? AND seq = ? AND hash = ?`},
	} {
		var err error
		if *st.stmt, err = tx.Prepare(st.sql); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

func (w *chainWriter) close() {
	for _, st := range []*sql.Stmt{w.near, w.add, w.relink} {
		if st != nil {
			st.Close()
		}
	}
}

// record records a signed punch: its link to the punch before it, whether
// its sequence number was taken already, and the links of punches after
// it that came first. The same punch received again changes nothing.
func (w *chainWriter) record(p protocol.Punch, c chainCheck, now time.Time) error {
	rows, err := w.near.Query(w.deviceID, p.ChainID, p.Seq-1, p.Seq+1)
	if err != nil {
		return err
	}
	var before, same, after []chainRow
	for rows.Next() {
		var r chainRow
		if err := rows.Scan(&r.seq, &r.hash, &r.prev, &r.punchID, &r.link, &r.conflict); err != nil {
			rows.Close()
			return err
		}
		switch r.seq {
		case p.Seq - 1:
			before = append(before, r)
		case p.Seq:
			same = append(same, r)
		default:
			after = append(after, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	conflict := ""
	for _, r := range same {
		if bytes.Equal(r.hash, c.hash) {
			return nil // received before
		}
		if conflict == "" {
			conflict = conflictReplay
		}
		if r.punchID == p.ID {
			conflict = conflictEdit
		}
	}
	link := linkFor(p.PrevHash, before)
	if _, err := w.add.Exec(w.deviceID, p.ChainID, p.Seq, c.hash, p.ID, nonNilBytes(p.PrevHash), p.Signature,
		c.sigOK, link, conflict, now.UnixNano()); err != nil {
		return err
	}
	if conflict != "" {
		return nil // the punch after it links to the first holder of the seq
	}
	// A punch after this one that arrived first was judged without it.
	mine := []chainRow{{hash: c.hash, punchID: p.ID}}
	for _, r := range after {
		if r.link != linkGap && r.link != linkStart {
			continue
		}
		if _, err := w.relink.Exec(linkFor(r.prev, mine), w.deviceID, p.ChainID, r.seq, r.hash); err != nil {
			return err
		}
	}
	return nil
}

// linkFor judges a punch's previous hash against the punches received at
// the sequence number before it (the first holder of that number counts).
func linkFor(prev []byte, before []chainRow) string {
	var first []byte
	for _, r := range before {
		if r.conflict == "" {
			first = r.hash
		}
	}
	switch {
	case len(prev) == 0 && first == nil:
		return linkStart
	case len(prev) == 0:
		return linkBroken // a chain does not start again in the middle
	case first == nil:
		return linkGap
	case bytes.Equal(prev, first):
		return linkOK
	}
	return linkBroken
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// bootAnchors are the first and latest clock anchors of one boot.
type bootAnchors struct {
	ok                       bool
	firstServer, firstBoot   int64
	latestServer, latestBoot int64
}

// trusted is the server's time for boot time bootNS by the anchor nearer
// to it in boot time.
func (a bootAnchors) trusted(bootNS int64) (int64, bool) {
	if !a.ok {
		return 0, false
	}
	server, boot := a.latestServer, a.latestBoot
	if absNS(bootNS-a.firstBoot) < absNS(bootNS-a.latestBoot) {
		server, boot = a.firstServer, a.firstBoot
	}
	return server + (bootNS - boot), true
}

func absNS(d int64) int64 {
	if d < 0 {
		return -d
	}
	return d
}

// anchorsOf reads a boot's anchors inside a write.
func anchorsOf(tx *sql.Tx, deviceID, bootID string) (bootAnchors, error) {
	var a bootAnchors
	var firstServer, firstBoot sql.NullInt64
	err := tx.QueryRow(`SELECT server_time_ns, boot_time_ns, first_server_time_ns, first_boot_time_ns
		FROM clock_anchors WHERE device_id = ? AND boot_id = ?`, deviceID, bootID).
		Scan(&a.latestServer, &a.latestBoot, &firstServer, &firstBoot)
	if errors.Is(err, sql.ErrNoRows) {
		return bootAnchors{}, nil
	}
	if err != nil {
		return bootAnchors{}, err
	}
	a.ok = true
	a.firstServer, a.firstBoot = a.latestServer, a.latestBoot
	if firstServer.Valid && firstBoot.Valid {
		a.firstServer, a.firstBoot = firstServer.Int64, firstBoot.Int64
	}
	return a, nil
}

// ChainProblem is one thing found wrong in a device's signed punches.
type ChainProblem struct {
	Kind     string // IntegrityGap, IntegrityBadSignature, IntegrityBrokenLink, IntegrityReplay, "edit"
	ChainID  string
	Seq      int64
	PunchID  string
	Received time.Time
	// For a gap: the missing sequence numbers, From to To inclusive
	// (From 0: from the start of the chain).
	MissingFrom, MissingTo int64
}

// missingWords names missing punches by their sequence numbers.
func missingWords(from, to int64) string {
	switch {
	case from == 0:
		return fmt.Sprintf("punches up to #%d", to)
	case from == to:
		return fmt.Sprintf("punch #%d", from)
	}
	return fmt.Sprintf("punches #%d–#%d", from, to)
}

// Words says what the problem is, for the Devices page.
func (p ChainProblem) Words() string {
	switch p.Kind {
	case IntegrityGap:
		return missingWords(p.MissingFrom, p.MissingTo) + " missing"
	case IntegrityBadSignature:
		return fmt.Sprintf("punch #%d changed after it was signed", p.Seq)
	case IntegrityBrokenLink:
		return fmt.Sprintf("punch #%d does not follow #%d as the office holds it", p.Seq, p.Seq-1)
	case IntegrityReplay:
		return fmt.Sprintf("punch #%d replayed: its number was already used", p.Seq)
	case conflictEdit:
		return fmt.Sprintf("punch #%d sent again with different contents (the first copy stands)", p.Seq)
	}
	return p.Kind
}

// ChainReport is what the back office found in a device's signed punches.
type ChainReport struct {
	Signed       bool           // the device has sent signed punches
	Problems     []ChainProblem // in order of chain and sequence number
	UnsignedLate int            // unsigned punches it sent after signed ones
}

// OK reports whether nothing was found wrong.
func (r ChainReport) OK() bool { return len(r.Problems) == 0 && r.UnsignedLate == 0 }

// ChainReport returns what was found in the signed punches of a device.
func (s *Store) ChainReport(deviceID string) (ChainReport, error) {
	var r ChainReport
	err := s.r.QueryRow(`SELECT EXISTS (SELECT 1 FROM punch_chain WHERE device_id = ?1),
		(SELECT count(*) FROM punches WHERE device_id = ?1 AND unsigned_late = 1)`, deviceID).Scan(&r.Signed, &r.UnsignedLate)
	if err != nil {
		return ChainReport{}, s.wrap("read the punch chain of device "+deviceID, err)
	}
	if !r.Signed {
		return r, nil
	}
	// The WHERE repeats the partial index's condition, so only problem
	// rows are read.
	rows, err := s.r.Query(`SELECT chain_id, seq, punch_id, received_at_ns, sig_ok, link, conflict,
		CASE WHEN link = 'gap' THEN (SELECT max(b.seq) FROM punch_chain b
			WHERE b.device_id = c.device_id AND b.chain_id = c.chain_id AND b.seq < c.seq) END
		FROM punch_chain c WHERE device_id = ? AND (sig_ok = 0 OR link IN ('gap', 'broken') OR conflict <> '')
		ORDER BY chain_id, seq, received_at_ns`, deviceID)
	if err != nil {
		return ChainReport{}, s.wrap("read the punch chain of device "+deviceID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p          ChainProblem
			recv       int64
			sigOK      bool
			link, conf string
			below      sql.NullInt64
		)
		if err := rows.Scan(&p.ChainID, &p.Seq, &p.PunchID, &recv, &sigOK, &link, &conf, &below); err != nil {
			return ChainReport{}, s.wrap("read the punch chain of device "+deviceID, err)
		}
		p.Received = time.Unix(0, recv)
		// One row may show several things; each is listed.
		add := func(kind string) {
			q := p
			q.Kind = kind
			r.Problems = append(r.Problems, q)
		}
		if !sigOK {
			add(IntegrityBadSignature)
		}
		switch conf {
		case conflictReplay:
			add(IntegrityReplay)
		case conflictEdit:
			add(conflictEdit)
		}
		switch link {
		case linkBroken:
			add(IntegrityBrokenLink)
		case linkGap:
			p.MissingFrom, p.MissingTo = gapRange(below, p.Seq)
			add(IntegrityGap)
		}
	}
	if err := rows.Err(); err != nil {
		return ChainReport{}, s.wrap("read the punch chain of device "+deviceID, err)
	}
	return r, nil
}

// gapRange is the missing sequence numbers before seq, given the highest
// number of the chain received below it (NULL: none; the punches before
// may be unsigned ones that are not in the chain, so From is 0, unknown).
func gapRange(below sql.NullInt64, seq int64) (from, to int64) {
	if !below.Valid {
		return 0, seq - 1
	}
	return below.Int64 + 1, seq - 1
}

// gapBefore returns the missing sequence numbers before a punch whose link
// is a gap.
func (s *Store) gapBefore(deviceID, chainID string, seq int64) (from, to int64, err error) {
	var below sql.NullInt64
	err = s.r.QueryRow(`SELECT max(seq) FROM punch_chain WHERE device_id = ? AND chain_id = ? AND seq < ?`, deviceID, chainID, seq).Scan(&below)
	from, to = gapRange(below, seq)
	return from, to, err
}

// batchTrust computes, inside a batch's write, a punch's trusted time and
// whether an unsigned punch comes after signed ones, reading each boot's
// anchors once.
type batchTrust struct {
	tx       *sql.Tx
	deviceID string
	anchors  map[string]bootAnchors
	signed   bool // the device has sent signed punches
	known    bool // signed is known (read once a batch)
}

// sawSigned notes that a signed punch of the device was recorded.
func (b *batchTrust) sawSigned() { b.signed, b.known = true, true }

// at is the punch's trusted time, NULL when its boot has no anchor yet.
func (b *batchTrust) at(p protocol.Punch) (sql.NullInt64, error) {
	if p.BootID == "" {
		return sql.NullInt64{}, nil
	}
	a, ok := b.anchors[p.BootID]
	if !ok {
		var err error
		if a, err = anchorsOf(b.tx, b.deviceID, p.BootID); err != nil {
			return sql.NullInt64{}, err
		}
		b.anchors[p.BootID] = a
	}
	ns, ok := a.trusted(p.BootTimeNS)
	return sql.NullInt64{Int64: ns, Valid: ok}, nil
}

// signedBefore reports whether the device has sent a signed punch (this
// batch's signed punches are recorded before the punches after them are
// stored).
func (b *batchTrust) signedBefore() (bool, error) {
	if b.known {
		return b.signed, nil
	}
	err := b.tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM punch_chain WHERE device_id = ?)`, b.deviceID).Scan(&b.signed)
	b.known = err == nil
	return b.signed, err
}

// fillGaps works out the missing sequence numbers of punches that follow a
// gap in their chain.
func (s *Store) fillGaps(ps []Punch) error {
	for i := range ps {
		p := &ps[i]
		if p.Integrity.Status != IntegrityGap {
			continue
		}
		var err error
		if p.Integrity.MissingFrom, p.Integrity.MissingTo, err = s.gapBefore(p.DeviceID, p.ChainID, p.Seq); err != nil {
			return err
		}
	}
	return nil
}
