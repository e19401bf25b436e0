package backoffice

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// undoSchema4 takes a database back from schema step 4, for the tests that
// build an older database by undoing steps.
var undoSchema4 = []string{
	`DROP TRIGGER clock_anchors_first`,
	`DROP TABLE punch_chain`,
	`DROP INDEX punches_employee_time`,
	`DROP INDEX punches_unverified`,
	`DROP INDEX punches_unsigned_late`,
	`ALTER TABLE punches DROP COLUMN clock_synced`,
	`ALTER TABLE punches DROP COLUMN clock_anchored`,
	`ALTER TABLE punches DROP COLUMN clock_behind`,
	`ALTER TABLE punches DROP COLUMN trusted_at_ns`,
	`ALTER TABLE punches DROP COLUMN chain_id`,
	`ALTER TABLE punches DROP COLUMN hash`,
	`ALTER TABLE punches DROP COLUMN unsigned_late`,
	`ALTER TABLE clock_anchors DROP COLUMN first_server_time_ns`,
	`ALTER TABLE clock_anchors DROP COLUMN first_boot_time_ns`,
}

// signer is a simulated kiosk's signing side: its device key and the tail
// of its chain, as its queue keeps them.
type signer struct {
	key   ed25519.PrivateKey
	chain string
	seq   int64
	prev  []byte
}

func newSigner() *signer {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return &signer{key: key, chain: strings.ReplaceAll(uuid.NewString(), "-", "")}
}

// next chains and signs w as the kiosk's next punch.
func (s *signer) next(w protocol.Punch) protocol.Punch {
	s.seq++
	w.Seq, w.ChainID, w.PrevHash = s.seq, s.chain, s.prev
	p := w.Punch()
	p.Sign(s.key)
	s.prev = p.Hash
	w.Signature = p.Signature
	return w
}

// resign signs w again as it is (after a test changed it), as someone
// holding the kiosk's key could.
func (s *signer) resign(w protocol.Punch) protocol.Punch {
	p := w.Punch()
	p.Sign(s.key)
	w.Signature = p.Signature
	return w
}

// signedDevice enrolls a kiosk whose key is k's.
func signedDevice(t testing.TB, e *env, k *signer) string {
	t.Helper()
	req := enrollRequest(e.code(), uuid.NewString())
	req.PublicKey = k.key.Public().(ed25519.PublicKey)
	d, _, err := e.store.Enroll(req, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// ingest stores punches from a device, and fails unless every one gets
// the status want: a kiosk is never stuck on a punch.
func ingest(t testing.TB, e *env, dev string, want string, ps ...protocol.Punch) {
	t.Helper()
	res, err := e.store.IngestPunches(dev, ps, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != want {
			t.Errorf("punch %d (seq %d): %s %q, want %s", i, ps[i].Seq, r.Status, r.Reason, want)
		}
	}
}

func readPunch(t testing.TB, s *Store, id string) Punch {
	t.Helper()
	p, err := s.Punch(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantIntegrity(t testing.TB, s *Store, w protocol.Punch, status string) Punch {
	t.Helper()
	p := readPunch(t, s, w.ID)
	if p.Integrity.Status != status {
		t.Errorf("punch seq %d: integrity %q, want %q", w.Seq, p.Integrity.Status, status)
	}
	return p
}

func report(t testing.TB, s *Store, dev string) ChainReport {
	t.Helper()
	r, err := s.ChainReport(dev)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func problemKinds(r ChainReport) string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.Kind+"@"+p.PunchID[:4])
	}
	return strings.Join(out, " ")
}

// checkIn records a check-in of boot at the env's time with boot time
// boot, and makes sure it is written (check-ins may be written in
// batches).
func checkIn(t testing.TB, e *env, dev, bootID string, boot time.Duration, deviceTime time.Time) {
	t.Helper()
	if _, err := e.store.CheckIn(dev, protocol.CheckIn{BootID: bootID, BootTimeNS: int64(boot), DeviceTime: deviceTime}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ClockAnchors(dev); err != nil { // reads flush what is pending
		t.Fatal(err)
	}
}

// A clean chain verifies, and a crew (several punches in one batch) is
// chained in order; sending the batch again changes nothing.
func TestChainVerified(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	first := k.next(newPunch(e.ben, 0, punch.In, 0))
	crew := []protocol.Punch{
		k.next(newPunch(e.ben, 0, punch.Out, 60)),
		k.next(newPunch(e.carla, 0, punch.Out, 60)),
		k.next(newPunch(e.ana, 0, punch.Out, 60)),
	}
	ingest(t, e, dev, protocol.Accepted, first)
	ingest(t, e, dev, protocol.Accepted, crew...)
	ingest(t, e, dev, protocol.Accepted, crew...) // a retry
	for _, w := range append([]protocol.Punch{first}, crew...) {
		wantIntegrity(t, e.store, w, IntegrityVerified)
	}
	if r := report(t, e.store, dev); !r.Signed || !r.OK() {
		t.Errorf("report of a clean chain = %+v", r)
	}
	if n := count(t, e.store, "punch_chain"); n != 4 {
		t.Errorf("%d chain rows after a retry, want 4", n)
	}
}

// Punches removed from the kiosk leave a gap, shown with the missing
// numbers; if they turn up after all, the gap closes.
func TestChainGap(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	var ps []protocol.Punch
	for i := range 5 {
		ps = append(ps, k.next(newPunch(e.ben, 0, []punch.Direction{punch.In, punch.Out}[i%2], i*60)))
	}
	ingest(t, e, dev, protocol.Accepted, ps[0], ps[1], ps[4])
	p := wantIntegrity(t, e.store, ps[4], IntegrityGap)
	if p.Integrity.MissingFrom != 3 || p.Integrity.MissingTo != 4 || !strings.Contains(p.Integrity.Words(), "#3 to #4") && !strings.Contains(p.Integrity.Words(), "#3–#4") {
		t.Errorf("gap = %+v (%s)", p.Integrity, p.Integrity.Words())
	}
	r := report(t, e.store, dev)
	if len(r.Problems) != 1 || r.Problems[0].Kind != IntegrityGap || r.Problems[0].Words() != "punches #3–#4 missing" {
		t.Errorf("report = %+v", r)
	}
	ingest(t, e, dev, protocol.Accepted, ps[2], ps[3])
	for _, w := range ps {
		wantIntegrity(t, e.store, w, IntegrityVerified)
	}
	if r := report(t, e.store, dev); !r.OK() {
		t.Errorf("report after the missing punches came = %+v", r)
	}
}

// A punch changed on the SD card after it was signed is accepted (a
// worker's hours are not dropped on the word of a damaged card) and
// flagged; so is one signed with another key.
func TestChainEditedPunch(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	a := k.next(newPunch(e.ben, 0, punch.In, 0))
	b := k.next(newPunch(e.ben, 0, punch.Out, 8*60))
	b.At = b.At.Add(2 * time.Hour) // a longer day, written on the card
	c := k.next(newPunch(e.ben, 0, punch.In, 24*60))
	other := newSigner()
	other.chain, other.seq, other.prev = k.chain, k.seq, k.prev
	d := other.next(newPunch(e.ben, 0, punch.Out, 32*60))
	ingest(t, e, dev, protocol.Accepted, a, b, c, d)
	wantIntegrity(t, e.store, a, IntegrityVerified)
	wantIntegrity(t, e.store, b, IntegrityBadSignature)
	// c names the hash b had when it was signed, not the edited one's:
	// its link is broken too.
	wantIntegrity(t, e.store, c, IntegrityBrokenLink)
	wantIntegrity(t, e.store, d, IntegrityBadSignature)
	r := report(t, e.store, dev)
	if got := problemKinds(r); got != "bad_signature@"+b.ID[:4]+" broken_link@"+c.ID[:4]+" bad_signature@"+d.ID[:4] {
		t.Errorf("problems = %s", got)
	}
}

// A punch the office already holds, sent again changed, is refused as a
// reused ID (the first copy stands) and recorded: the first copy shows as
// contested and the Devices page lists the edit.
func TestChainEditedAfterUpload(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	a := k.next(newPunch(e.ben, 0, punch.Out, 8*60))
	ingest(t, e, dev, protocol.Accepted, a)
	edited := a
	edited.Direction = punch.In
	edited = k.resign(edited) // even re-signed with the kiosk's own key
	ingest(t, e, dev, protocol.Rejected, edited)
	p := wantIntegrity(t, e.store, a, IntegrityContested)
	if p.Direction != punch.Out {
		t.Errorf("the stored punch changed: %+v", p)
	}
	r := report(t, e.store, dev)
	if len(r.Problems) != 1 || r.Problems[0].Kind != conflictEdit || !strings.Contains(r.Problems[0].Words(), "different contents") {
		t.Errorf("report = %+v", r)
	}
}

// A sequence number used again by another punch (a replay, or a forged
// punch slipped into the chain) is accepted and flagged; the punch after
// it, chained to the forged one, no longer follows what the office holds.
func TestChainReplay(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	a := k.next(newPunch(e.ben, 0, punch.In, 0))
	b := k.next(newPunch(e.ben, 0, punch.Out, 8*60))
	ingest(t, e, dev, protocol.Accepted, a, b)
	// Someone with the card and its key replaces b after it was sent.
	k.seq, k.prev = a.Seq, readPunch(t, e.store, a.ID).Hash
	forged := k.next(newPunch(e.ben, 0, punch.Out, 10*60))
	c := k.next(newPunch(e.ben, 0, punch.In, 24*60))
	ingest(t, e, dev, protocol.Accepted, forged, c)
	wantIntegrity(t, e.store, a, IntegrityVerified)
	wantIntegrity(t, e.store, b, IntegrityContested)
	wantIntegrity(t, e.store, forged, IntegrityReplay)
	wantIntegrity(t, e.store, c, IntegrityBrokenLink)
	r := report(t, e.store, dev)
	if got := problemKinds(r); got != "replay@"+forged.ID[:4]+" broken_link@"+c.ID[:4] {
		t.Errorf("problems = %s", got)
	}
}

// Punches from before kiosks signed them are "unsigned", not a problem, and
// the chain that starts after them verifies. An unsigned punch after signed
// ones is a problem: its signature may have been stripped.
func TestChainAfterUnsignedPunches(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	old1, old2 := newPunch(e.ben, 1, punch.In, 0), newPunch(e.ben, 2, punch.Out, 60)
	k.seq = 2
	signed := k.next(newPunch(e.ben, 0, punch.In, 120))
	ingest(t, e, dev, protocol.Accepted, old1, old2, signed)
	wantIntegrity(t, e.store, old1, IntegrityUnsigned)
	wantIntegrity(t, e.store, old2, IntegrityUnsigned)
	wantIntegrity(t, e.store, signed, IntegrityVerified)
	if r := report(t, e.store, dev); !r.OK() {
		t.Errorf("report = %+v", r)
	}
	stripped := newPunch(e.ben, 4, punch.Out, 180)
	ingest(t, e, dev, protocol.Accepted, stripped)
	p := wantIntegrity(t, e.store, stripped, IntegrityUnsignedLate)
	if !p.Integrity.Problem() {
		t.Error("an unsigned punch after signed ones is not a problem")
	}
	if r := report(t, e.store, dev); r.UnsignedLate != 1 || r.OK() {
		t.Errorf("report = %+v", r)
	}
}

// The trusted time of a punch comes from its boot's anchor, before or
// after it, the nearer of the boot's first and latest; a boot without an
// anchor is unverified, with the device's time.
func TestTrustedTime(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	epoch := time.Unix(1000, 0).UTC() // a Pi that booted at 1970

	// Anchor before: the kiosk checked in at boot time 1h, when the
	// server said t0; the punch is 10 minutes later by the boot clock.
	checkIn(t, e, dev, "b1", time.Hour, epoch)
	w := newPunch(e.ben, 0, punch.In, 0)
	w.BootID, w.BootTimeNS, w.At, w.ClockBehind = "b1", int64(time.Hour+10*time.Minute), epoch.Add(10*time.Minute), true
	w = k.next(w)
	ingest(t, e, dev, protocol.Accepted, w)
	p := readPunch(t, e.store, w.ID)
	if !p.TimeVerified() || !p.TrustedAt.Equal(t0.Add(10*time.Minute)) || !p.At.Equal(epoch.Add(10*time.Minute)) || !p.Clock.Behind {
		t.Errorf("anchored before: trusted %v, device %v, clock %+v", p.TrustedAt, p.At, p.Clock)
	}
	if !p.Time().Equal(p.TrustedAt) {
		t.Errorf("Time() = %v, want the trusted time", p.Time())
	}

	// Anchor after: the punch arrives before its boot's first check-in
	// is written (a kiosk offline, then online in the same boot).
	w2 := newPunch(e.ben, 0, punch.Out, 0)
	w2.BootID, w2.BootTimeNS, w2.At = "b2", int64(30*time.Minute), epoch.Add(30*time.Minute)
	w2 = k.next(w2)
	ingest(t, e, dev, protocol.Accepted, w2)
	if p := readPunch(t, e.store, w2.ID); p.TimeVerified() || !p.Time().Equal(w2.At) {
		t.Errorf("before its boot's anchor: trusted %v, Time %v", p.TrustedAt, p.Time())
	}
	e.clock.Advance(9 * time.Hour)
	checkIn(t, e, dev, "b2", 5*time.Hour, epoch.Add(5*time.Hour))
	if p := readPunch(t, e.store, w2.ID); !p.TrustedAt.Equal(e.clock.Now().Add(-4*time.Hour - 30*time.Minute)) {
		t.Errorf("after its boot's anchor: trusted %v, want %v", p.TrustedAt, e.clock.Now().Add(-4*time.Hour-30*time.Minute))
	}

	// The nearer anchor: boot b3 checked in at boot 1h and again three
	// days later, when its crystal had gained 30 s. A punch near either
	// is placed by that one.
	start := e.clock.Now()
	checkIn(t, e, dev, "b3", time.Hour, time.Time{})
	e.clock.Advance(72 * time.Hour)
	checkIn(t, e, dev, "b3", time.Hour+72*time.Hour+30*time.Second, time.Time{})
	early, late := newPunch(e.ben, 0, punch.In, 0), newPunch(e.ben, 0, punch.Out, 0)
	early.BootID, early.BootTimeNS = "b3", int64(time.Hour+10*time.Minute)
	late.BootID, late.BootTimeNS = "b3", int64(time.Hour+72*time.Hour+30*time.Second-10*time.Minute)
	early, late = k.next(early), k.next(late)
	ingest(t, e, dev, protocol.Accepted, early, late)
	if p := readPunch(t, e.store, early.ID); !p.TrustedAt.Equal(start.Add(10 * time.Minute)) {
		t.Errorf("punch near the first anchor: %v, want %v", p.TrustedAt, start.Add(10*time.Minute))
	}
	if p := readPunch(t, e.store, late.ID); !p.TrustedAt.Equal(e.clock.Now().Add(-10 * time.Minute)) {
		t.Errorf("punch near the latest anchor: %v, want %v", p.TrustedAt, e.clock.Now().Add(-10*time.Minute))
	}

	// A boot that never reached the office.
	lost := newPunch(e.ben, 0, punch.In, 0)
	lost.BootID, lost.At = "b4", epoch
	lost = k.next(lost)
	ingest(t, e, dev, protocol.Accepted, lost)
	if p := readPunch(t, e.store, lost.ID); p.TimeVerified() || !p.Time().Equal(epoch) {
		t.Errorf("punch of a boot without an anchor: trusted %v, Time %v", p.TrustedAt, p.Time())
	}

	// Timecards select by the trusted time: the punch the kiosk dated
	// 1970 is in the week it really happened.
	ps, err := e.store.Punches(PunchFilter{EmployeeID: e.ben.ID, From: t0, To: t0.Add(time.Hour)})
	if err != nil || len(ps) != 1 || ps[0].ID != w.ID {
		t.Errorf("punches in the hour after t0: %d (%v), want the first punch", len(ps), err)
	}
}

// The timecard, in the API and the web page, shows the trusted time, the
// kiosk's beside it, and flags what it cannot vouch for.
func TestTimecardShowsTimeAndIntegrity(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	k := newSigner()
	req := enrollRequest(e.code(), uuid.NewString())
	req.PublicKey = k.key.Public().(ed25519.PublicKey)
	d, _, err := e.store.Enroll(req, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	dev := d.ID
	// The kiosk's clock is 3 hours slow; the office knows its boot.
	slow := -3 * time.Hour
	if _, err := e.store.CheckIn(dev, protocol.CheckIn{BootID: "b1", BootTimeNS: int64(time.Hour), DeviceTime: e.clock.Now().Add(slow)}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.store.ClockAnchors(dev)
	in := newPunch(e.ben, 0, punch.In, 0)
	in.BootID, in.BootTimeNS, in.At = "b1", int64(time.Hour), t0.Add(slow)
	in = k.next(in)
	out := newPunch(e.ben, 0, punch.Out, 0) // another boot, never anchored, and its signature broken
	out.BootID, out.BootTimeNS, out.At = "b2", int64(time.Minute), t0.Add(8*time.Hour)
	out = k.next(out)
	out.EmployeeNumber = "9999"
	if _, err := e.store.IngestPunches(dev, []protocol.Punch{in, out}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}

	r := e.api("GET", "employees/"+e.ben.ID+"/timecard?week="+t0.Format(time.DateOnly), token, nil)
	r.wantStatus(t, http.StatusOK)
	var tc timecardJSON
	r.decode(t, &tc)
	var pair *pairJSON
	for _, day := range tc.Days {
		for i := range day.Pairs {
			pair = &day.Pairs[i]
		}
	}
	if pair == nil || pair.In == nil || pair.Out == nil {
		t.Fatalf("timecard %s", r.body)
	}
	if !pair.In.TimeVerified || !pair.In.At.Equal(t0) || !pair.In.DeviceAt.Equal(t0.Add(slow)) ||
		pair.In.Integrity.Status != IntegrityVerified || !strings.Contains(pair.In.TimeNote, "the kiosk's clock said") {
		t.Errorf("IN = %+v", pair.In)
	}
	if pair.Out.TimeVerified || pair.TimeVerified || !strings.HasPrefix(pair.Out.TimeNote, "time unverified") ||
		pair.Out.Integrity.Status != IntegrityBadSignature || !pair.Out.Integrity.Problem {
		t.Errorf("OUT = %+v, pair verified %v", pair.Out, pair.TimeVerified)
	}

	page := e.signedIn().get("/timecards?employee=" + e.ben.ID + "&week=" + t0.Format(time.DateOnly))
	for _, want := range []string{"time unverified", "signature broken", "the kiosk&#39;s clock said"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("timecard page lacks %q", want)
		}
	}

	// The Devices page and the API name the problem.
	page = e.signedIn().get("/devices")
	if !strings.Contains(page.body, "1 problem") || !strings.Contains(page.body, "changed after it was signed") {
		t.Errorf("Devices page lacks the chain problem")
	}
	r = e.api("GET", "devices/"+dev, token, nil)
	var dj deviceJSON
	r.decode(t, &dj)
	if dj.PunchChain == nil || dj.PunchChain.OK || len(dj.PunchChain.Problems) != 1 || dj.PunchChain.Problems[0].Kind != IntegrityBadSignature ||
		dj.PunchChain.Problems[0].Seq != out.Seq {
		t.Errorf("device punch_chain = %+v", dj.PunchChain)
	}
}

// The punch chain is kept for every signed punch, so the office can check
// it later: the stored hash is the punch's.
func TestChainRowHoldsTheEvidence(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	k := newSigner()
	dev := signedDevice(t, e, k)
	w := k.next(newPunch(e.ben, 0, punch.In, 0))
	ingest(t, e, dev, protocol.Accepted, w)
	var hash, sig []byte
	if err := e.store.r.QueryRow(`SELECT hash, signature FROM punch_chain WHERE punch_id = ?`, w.ID).Scan(&hash, &sig); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hash, punch.HashMessage(w.Punch().Message())) || !bytes.Equal(sig, w.Signature) {
		t.Error("the chain row does not hold the punch's hash and signature")
	}
}

// A batch is judged as if its punches had come one request each, in the
// batch's order: the chain rows, links and flags come out the same. The
// punches are a kiosk's chain with what goes wrong with one: changed after
// signing, replayed and edited copies, punches out of order, in the same
// batch or not, missing for a while, resent, unsigned among them, far
// apart in the chain, and a second chain.
func TestChainBatchSameAsOneByOne(t *testing.T) {
	batched, single := newEnv(t, ServerOptions{}), newEnv(t, ServerOptions{})
	// The punches name the same employee in both stores.
	if err := single.store.write(func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE employees SET id = ? WHERE id = ?`, batched.ben.ID, single.ben.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	k, k2 := newSigner(), newSigner()
	k2.key = k.key // a second chain of the same kiosk
	devB, devS := signedDevice(t, batched, k), signedDevice(t, single, k)
	rnd := mrand.New(mrand.NewPCG(1, 2))
	dir := func() punch.Direction { return []punch.Direction{punch.In, punch.Out}[rnd.IntN(2)] }
	var ps []protocol.Punch
	for i := range 300 {
		var w protocol.Punch
		switch x := rnd.IntN(20); {
		case x == 0 && len(ps) > 0: // a replay: another punch at a number already used
			old := ps[rnd.IntN(len(ps))]
			w = newPunch(batched.ben, 0, dir(), i)
			w.Seq, w.ChainID, w.PrevHash = old.Seq, old.ChainID, old.PrevHash
			w = k.resign(w)
		case x == 1 && len(ps) > 0: // an edited copy of an earlier punch
			w = ps[rnd.IntN(len(ps))]
			w.At = w.At.Add(time.Minute)
			if rnd.IntN(2) == 0 {
				w = k.resign(w)
			}
		case x == 2 && len(ps) > 0: // the same punch again
			w = ps[rnd.IntN(len(ps))]
		case x == 3: // changed after it was signed
			w = k.next(newPunch(batched.ben, 0, dir(), i))
			w.Direction = map[punch.Direction]punch.Direction{punch.In: punch.Out, punch.Out: punch.In}[w.Direction]
		case x == 4: // far ahead in the chain
			k.seq += 1000
			w = k.next(newPunch(batched.ben, 0, dir(), i))
		case x == 5: // the kiosk's other chain
			w = k2.next(newPunch(batched.ben, 0, dir(), i))
		case x == 6: // unsigned
			w = newPunch(batched.ben, int64(1+rnd.IntN(2000)), dir(), i)
		default:
			w = k.next(newPunch(batched.ben, 0, dir(), i))
		}
		ps = append(ps, w)
	}
	// The last possible sequence number, twice.
	last := k2.next(newPunch(batched.ben, 0, punch.In, 400))
	last.Seq = math.MaxInt64
	last = k.resign(last)
	ps = append(ps, last, last)
	// Out of order: some punches swap places with one nearby.
	for i := range ps {
		if j := i + rnd.IntN(8); j < len(ps) && rnd.IntN(3) == 0 {
			ps[i], ps[j] = ps[j], ps[i]
		}
	}
	now := batched.clock.Now()
	for rest := ps; len(rest) > 0; {
		n := min(len(rest), 1+rnd.IntN(60))
		if _, err := batched.store.IngestPunches(devB, rest[:n], now); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	for _, w := range ps {
		if _, err := single.store.IngestPunches(devS, []protocol.Punch{w}, now); err != nil {
			t.Fatal(err)
		}
	}
	dump := func(s *Store, q string) []string {
		rows, err := s.r.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out = append(out, line)
		}
		return out
	}
	for _, q := range []string{
		`SELECT concat_ws(' ', chain_id, seq, hex(hash), punch_id, hex(prev_hash), hex(signature), sig_ok, link, conflict, received_at_ns)
			FROM punch_chain ORDER BY chain_id, seq, hash`,
		`SELECT concat_ws(' ', id, seq, direction, at_ns, chain_id, hex(hash), unsigned_late) FROM punches ORDER BY id`,
	} {
		b, o := dump(batched.store, q), dump(single.store, q)
		if len(b) == 0 || !slices.Equal(b, o) {
			t.Errorf("%s\nin batches (%d rows):\n%s\none by one (%d rows):\n%s", q, len(b), strings.Join(b, "\n"), len(o), strings.Join(o, "\n"))
		}
	}
	// What went wrong shows.
	kinds := map[string]bool{}
	for _, p := range report(t, batched.store, devB).Problems {
		kinds[p.Kind] = true
	}
	for _, kind := range []string{IntegrityGap, IntegrityBadSignature, IntegrityBrokenLink, IntegrityReplay, conflictEdit} {
		if !kinds[kind] {
			t.Errorf("no %s among the problems: the test lacks a case", kind)
		}
	}
}

// BenchmarkIngestSigned measures storing batches of 500 punches, signed
// and chained (each checked: ed25519, hash, link) against unsigned ones,
// through the store (no HTTP), one device, one batch after another (a
// kiosk catching up).
func BenchmarkIngestSigned(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := map[bool]string{false: "unsigned", true: "signed"}[signed]
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, ServerOptions{})
			k := newSigner()
			dev := signedDevice(b, e, k)
			checkIn(b, e, dev, "boot-1", time.Hour, time.Time{})
			const perBatch = 500
			batches := make([][]protocol.Punch, b.N)
			n := 0
			for i := range batches {
				for range perBatch {
					n++
					p := newPunch(e.ben, int64(n), []punch.Direction{punch.In, punch.Out}[n%2], n)
					if signed {
						p = k.next(p)
					}
					batches[i] = append(batches[i], p)
				}
			}
			b.ResetTimer()
			cpu0 := processCPU()
			for i := range b.N {
				if _, err := e.store.IngestPunches(dev, batches[i], e.clock.Now()); err != nil {
					b.Fatal(err)
				}
			}
			cpu := processCPU() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "punches/s")
			// The CPU time a punch took, on every core: a figure other
			// work on a shared machine disturbs less than the rate.
			b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N*perBatch), "cpu-µs/punch")
		})
	}
}
