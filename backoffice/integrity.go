package backoffice

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/siteclock/siteclock/protocol"
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

// chainRow is one punch_chain row: read from the table, or added by the
// batch being written.
type chainRow struct {
	seq      int64
	hash     []byte
	prev     []byte
	punchID  string
	link     string
	conflict string

	stored bool // read from the table (else added by this batch)
	relink bool // stored, and its link changed by this batch
	// Of a row added by this batch, what else it writes:
	chainID string
	sig     []byte
	punch   int // its punch's place in the batch, for its signature's check
	atNS    int64
}

// chainWriter records a batch's signed punches in punch_chain, inside the
// batch's write. It reads the rows around the batch's sequence numbers in
// as few queries as their spread allows, judges every punch against those
// rows and the ones the batch added before it, and writes the new rows and
// the changed links once at the end (flush). Inside the batch's
// transaction the result is the same as reading and writing punch by
// punch; the per-statement cost, which made a chain row cost more than
// its punch, is paid a few times a batch instead of twice a punch.
type chainWriter struct {
	tx       *sql.Tx
	deviceID string
	// rows holds, by chain and sequence number, the rows of every
	// sequence number read so far (a present key with no rows: none).
	rows  map[string]map[int64][]*chainRow
	added []*chainRow // in the order recorded
}

func newChainWriter(tx *sql.Tx, deviceID string) *chainWriter {
	return &chainWriter{tx: tx, deviceID: deviceID, rows: map[string]map[int64][]*chainRow{}}
}

// chainHole is the widest stretch of sequence numbers no punch of the
// batch needs that one read still spans: a batch's punches normally follow
// one another and are read in one query; a batch that skips around the
// chain is read in pieces rather than everything between its ends.
const chainHole = 16

// load reads the rows at the given sequence numbers of a chain (each
// punch's own and either side of it) that were not read yet.
func (w *chainWriter) load(chainID string, seqs []int64) error {
	have := w.rows[chainID]
	if have == nil {
		have = map[int64][]*chainRow{}
		w.rows[chainID] = have
	}
	var need []int64
	for _, q := range seqs {
		if _, ok := have[q]; !ok {
			need = append(need, q)
		}
	}
	if len(need) == 0 {
		return nil
	}
	slices.Sort(need)
	need = slices.Compact(need)
	for len(need) > 0 {
		// The longest run from need[0] whose holes stay small.
		n := 1
		for n < len(need) && need[n]-need[n-1] <= chainHole+1 {
			n++
		}
		lo, hi := need[0], need[n-1]
		rows, err := w.tx.Query(`SELECT seq, hash, prev_hash, punch_id, link, conflict FROM punch_chain
			WHERE device_id = ? AND chain_id = ? AND seq BETWEEN ? AND ?`, w.deviceID, chainID, lo, hi)
		if err != nil {
			return err
		}
		got := map[int64][]*chainRow{}
		for rows.Next() {
			r := &chainRow{stored: true}
			if err := rows.Scan(&r.seq, &r.hash, &r.prev, &r.punchID, &r.link, &r.conflict); err != nil {
				rows.Close()
				return err
			}
			got[r.seq] = append(got[r.seq], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Only the numbers not read before are taken: a number read
		// before may have rows this batch added or changed.
		for q := lo; ; q++ {
			if _, ok := have[q]; !ok {
				have[q] = got[q]
			}
			if q == hi { // not q <= hi: hi may be the largest int64
				break
			}
		}
		need = need[n:]
	}
	return nil
}

// record records signed punch i of the batch, whose hash is hash: its
// link to the punch before it, whether its sequence number was taken
// already, and the links of punches after it that came first. The same
// punch received again changes nothing. Its signature's check is read when
// the row is written (flush).
func (w *chainWriter) record(i int, p protocol.Punch, hash []byte, now time.Time) error {
	if err := w.load(p.ChainID, nearSeqs(p.Seq)); err != nil {
		return err
	}
	chain := w.rows[p.ChainID]
	before, same := chain[p.Seq-1], chain[p.Seq]
	var after []*chainRow
	if p.Seq < math.MaxInt64 {
		after = chain[p.Seq+1]
	}
	conflict := ""
	for _, r := range same {
		if bytes.Equal(r.hash, hash) {
			return nil // received before
		}
		if conflict == "" {
			conflict = conflictReplay
		}
		if r.punchID == p.ID {
			conflict = conflictEdit
		}
	}
	r := &chainRow{seq: p.Seq, hash: hash, prev: nonNilBytes(p.PrevHash), punchID: p.ID,
		link: linkFor(p.PrevHash, before), conflict: conflict, sig: p.Signature, punch: i, atNS: now.UnixNano(), chainID: p.ChainID}
	chain[p.Seq] = append(same, r)
	w.added = append(w.added, r)
	if conflict != "" {
		return nil // the punch after it links to the first holder of the seq
	}
	// A punch after this one that arrived first was judged without it.
	mine := []*chainRow{r}
	for _, a := range after {
		if a.link != linkGap && a.link != linkStart {
			continue
		}
		if link := linkFor(a.prev, mine); link != a.link {
			a.link = link
			a.relink = a.stored
		}
	}
	return nil
}

// nearSeqs is the sequence numbers a punch's record reads: its own and
// either side of it (seq is 1 or more).
func nearSeqs(seq int64) []int64 {
	if seq == math.MaxInt64 {
		return []int64{seq - 1, seq}
	}
	return []int64{seq - 1, seq, seq + 1}
}

// chainInsertRows is how many rows one INSERT writes.
const chainInsertRows = 50

// flush writes the rows the batch added, with their signatures' checks
// (waiting for those), and the links the batch changed.
func (w *chainWriter) flush(sigs *sigBatch) error {
	if len(w.added) > 0 {
		sigs.wait()
	}
	const cols = `INSERT INTO punch_chain (device_id, chain_id, seq, hash, punch_id, prev_hash, signature, sig_ok, link, conflict, received_at_ns) VALUES `
	const one = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, chainInsertRows*11)
	for rest := w.added; len(rest) > 0; {
		n := min(len(rest), chainInsertRows)
		args = args[:0]
		for _, r := range rest[:n] {
			args = append(args, w.deviceID, r.chainID, r.seq, r.hash, r.punchID, r.prev, r.sig, sigs.ok[r.punch], r.link, r.conflict, r.atNS)
		}
		var err error
		if n == chainInsertRows {
			if full == nil {
				if full, err = w.tx.Prepare(cols + strings.Repeat(one+", ", n-1) + one); err != nil {
					return err
				}
			}
			_, err = full.Exec(args...)
		} else {
			_, err = w.tx.Exec(cols+strings.Repeat(one+", ", n-1)+one, args...)
		}
		if err != nil {
			return err
		}
		rest = rest[n:]
	}
	for chainID, chain := range w.rows {
		for _, rs := range chain {
			for _, r := range rs {
				if !r.relink {
					continue
				}
				if _, err := w.tx.Exec(`UPDATE punch_chain SET link = ? WHERE device_id = ? AND chain_id = ? AND seq = ? AND hash = ?`,
					r.link, w.deviceID, chainID, r.seq, r.hash); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// linkFor judges a punch's previous hash against the punches received at
// the sequence number before it (the first holder of that number counts).
func linkFor(prev []byte, before []*chainRow) string {
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
