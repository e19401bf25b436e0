package backoffice

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

func TestEnroll(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	req := enrollRequest(e.code(), "install-1")

	r := e.do("POST", protocol.PathEnroll, "", req)
	r.wantStatus(t, http.StatusOK)
	var er protocol.EnrollResponse
	r.decode(t, &er)
	raw, err := base64.RawURLEncoding.DecodeString(er.Token)
	if err != nil || len(raw) != 32 {
		t.Errorf("token %q is not 32 bytes of base64url: %v", er.Token, err)
	}
	if er.DeviceID == "" || !er.ServerTime.Equal(t0) {
		t.Errorf("enroll response = %+v", er)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on a response with a token", cc)
	}
	d, err := e.store.Device(er.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Nickname != req.Nickname || d.Hardware != "Simulator" || d.Version != "1.0.0" ||
		d.InstallationID != "install-1" || !bytes.Equal(d.PublicKey, req.PublicKey) || !d.EnrolledAt.Equal(t0) {
		t.Errorf("device = %+v", d)
	}
	e.do("POST", protocol.PathCheckIn, er.Token, protocol.CheckIn{Version: "1.0.0"}).wantStatus(t, http.StatusOK)

	// Only the token's hash is stored.
	var stored []byte
	e.store.r.QueryRow(`SELECT token_sha256 FROM devices`).Scan(&stored)
	if !bytes.Equal(stored, tokenHash(er.Token)) {
		t.Errorf("stored token %x, want its SHA-256", stored)
	}
	for _, f := range []string{dbName, dbName + "-wal"} {
		b, _ := os.ReadFile(filepath.Join(e.store.Dir(), f))
		if bytes.Contains(b, []byte(er.Token)) || bytes.Contains(b, raw) {
			t.Errorf("%s holds the token", f)
		}
	}

	// The same installation enrolls again: same device, new token, the
	// old token is dead.
	e.clock.Advance(time.Hour)
	req.Nickname = "Yard gate"
	r = e.do("POST", protocol.PathEnroll, "", req)
	r.wantStatus(t, http.StatusOK)
	var er2 protocol.EnrollResponse
	r.decode(t, &er2)
	if er2.DeviceID != er.DeviceID || er2.Token == er.Token {
		t.Errorf("re-enrolment gave device %s token changed=%v; want the same device and a new token", er2.DeviceID, er2.Token != er.Token)
	}
	e.do("POST", protocol.PathCheckIn, er.Token, protocol.CheckIn{}).wantError(t, http.StatusUnauthorized, protocol.ErrUnauthorized)
	e.do("POST", protocol.PathCheckIn, er2.Token, protocol.CheckIn{}).wantStatus(t, http.StatusOK)
	if d, _ := e.store.Device(er.DeviceID); d.Nickname != "Yard gate" || !d.EnrolledAt.Equal(t0) || !d.TokenIssuedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("re-enrolled device = %+v", d)
	}
	if ds, _ := e.store.Devices(); len(ds) != 1 {
		t.Errorf("%d devices after re-enrolment, want 1", len(ds))
	}

	// A disabled device cannot come back by enrolling again.
	if err := e.store.DisableDevice(er.DeviceID, "Pat (office)", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	req.SetupCode = e.code()
	e.do("POST", protocol.PathEnroll, "", req).wantError(t, http.StatusForbidden, protocol.ErrDisabled)
}

func TestEnrollRefusals(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	good := func() protocol.EnrollRequest { return enrollRequest(e.code(), uuid.NewString()) }
	valid, _ := json.Marshal(good())

	old := e.code()
	if _, err := e.store.RotateSetupCode(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wrong := "12345678"
	if wrong == e.code() || wrong == old {
		wrong = "87654321"
	}
	with := func(f func(*protocol.EnrollRequest)) protocol.EnrollRequest {
		r := good()
		f(&r)
		return r
	}
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"wrong code", with(func(r *protocol.EnrollRequest) { r.SetupCode = wrong }), 403, protocol.ErrWrongCode},
		{"empty code", with(func(r *protocol.EnrollRequest) { r.SetupCode = "" }), 403, protocol.ErrWrongCode},
		{"expired code", with(func(r *protocol.EnrollRequest) { r.SetupCode = old }), 410, protocol.ErrExpiredCode},
		{"malformed JSON", `{"setup_code": "1234`, 400, protocol.ErrBadRequest},
		{"not JSON", "setup_code=1", 400, protocol.ErrBadRequest},
		{"empty body", "", 400, protocol.ErrBadRequest},
		{"two objects", string(valid) + string(valid), 400, protocol.ErrBadRequest},
		{"unknown field", strings.Replace(string(valid), `{`, `{"admin": true, `, 1), 400, protocol.ErrBadRequest},
		{"wrong type", strings.Replace(string(valid), `"nickname":"Main St trailer"`, `"nickname":7`, 1), 400, protocol.ErrBadRequest},
		{"oversized body", `{"nickname": "` + strings.Repeat("x", protocol.MaxBodyBytes) + `"}`, 413, protocol.ErrTooLarge},
		{"short key", with(func(r *protocol.EnrollRequest) { r.PublicKey = r.PublicKey[:31] }), 400, protocol.ErrBadRequest},
		{"long key", with(func(r *protocol.EnrollRequest) { r.PublicKey = append(r.PublicKey, 0) }), 400, protocol.ErrBadRequest},
		{"no key", with(func(r *protocol.EnrollRequest) { r.PublicKey = nil }), 400, protocol.ErrBadRequest},
		{"no nickname", with(func(r *protocol.EnrollRequest) { r.Nickname = " " }), 400, protocol.ErrBadRequest},
		{"no hardware", with(func(r *protocol.EnrollRequest) { r.Hardware = "" }), 400, protocol.ErrBadRequest},
		{"no version", with(func(r *protocol.EnrollRequest) { r.Version = "" }), 400, protocol.ErrBadRequest},
		{"no installation", with(func(r *protocol.EnrollRequest) { r.InstallationID = "" }), 400, protocol.ErrBadRequest},
		{"control characters", with(func(r *protocol.EnrollRequest) { r.Nickname = "a\x1b[2Jb" }), 400, protocol.ErrBadRequest},
		{"huge nickname", with(func(r *protocol.EnrollRequest) { r.Nickname = strings.Repeat("n", 201) }), 400, protocol.ErrBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", protocol.PathEnroll, "", c.body)
			pe := r.wantError(t, c.status, c.code)
			if strings.Contains(pe.Message, "backoffice:") {
				t.Errorf("message %q shows an internal prefix", pe.Message)
			}
		})
	}
	if ds, _ := e.store.Devices(); len(ds) != 0 {
		t.Errorf("%d devices enrolled by refused requests", len(ds))
	}
	e.do("GET", protocol.PathEnroll, "", nil).wantError(t, http.StatusMethodNotAllowed, protocol.ErrBadRequest)
}

func TestEnrollRateLimit(t *testing.T) {
	e := newEnv(t, ServerOptions{EnrollPerAddress: Rate{PerMinute: 10, Burst: 5}, EnrollTotal: Rate{PerMinute: 60, Burst: 8}})
	wrong := protocol.EnrollRequest{SetupCode: "x"}
	for i := range 5 {
		if r := e.do("POST", protocol.PathEnroll, "", wrong); r.status == http.StatusTooManyRequests {
			t.Fatalf("attempt %d rate-limited", i+1)
		}
	}
	r := e.do("POST", protocol.PathEnroll, "", enrollRequest(e.code(), "i-1"))
	r.wantError(t, http.StatusTooManyRequests, protocol.ErrRateLimited)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra != 6 {
		t.Errorf("Retry-After %q, want 6 (one attempt per 6 s)", r.header.Get("Retry-After"))
	}
	e.clock.Advance(6 * time.Second)
	e.do("POST", protocol.PathEnroll, "", enrollRequest(e.code(), "i-1")).wantStatus(t, http.StatusOK)
	e.do("POST", protocol.PathEnroll, "", wrong).wantError(t, http.StatusTooManyRequests, protocol.ErrRateLimited)

	// The total limit holds across addresses: 8 at once, then one a
	// second. Each address below is new, so only the total limits it.
	h := NewServer(e.store, ServerOptions{Now: e.clock.Now, EnrollTotal: Rate{PerMinute: 60, Burst: 8}}).Handler()
	limited := 0
	for i := range 20 {
		req := httptest.NewRequest("POST", protocol.PathEnroll, strings.NewReader(`{"setup_code": "1"}`))
		req.RemoteAddr = "10.0.0." + strconv.Itoa(i) + ":5555"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 12 {
		t.Errorf("%d of 20 attempts from 20 addresses limited, want 12", limited)
	}
}

func TestTokenAuth(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	idA, tokenA := e.enroll()
	idB, tokenB := e.enroll()
	for _, c := range []struct {
		name, auth string
	}{
		{"none", ""},
		{"empty bearer", "Bearer "},
		{"basic", "Basic " + tokenA},
		{"unknown token", "Bearer " + strings.Repeat("A", 43)},
		{"token with junk", "Bearer " + tokenA + "x"},
	} {
		for _, ep := range []struct{ method, path string }{
			{"POST", protocol.PathCheckIn}, {"GET", protocol.PathRoster}, {"POST", protocol.PathPunches},
			{"PUT", protocol.PathPhotos + strings.Repeat("a", 64)}, {"POST", protocol.PathGoodbye},
		} {
			r := e.do(ep.method, ep.path, "", "{}", "Authorization", c.auth)
			if r.status != http.StatusUnauthorized || r.apiError(t).Code != protocol.ErrUnauthorized {
				t.Errorf("%s: %s %s: %d %s", c.name, ep.method, ep.path, r.status, r.body)
			}
		}
	}
	// The token alone says which device speaks: B's token checks in as B.
	e.do("POST", protocol.PathCheckIn, tokenB, protocol.CheckIn{Version: "2.0", Waiting: 7}).wantStatus(t, 200)
	a, _ := e.store.Device(idA)
	b, _ := e.store.Device(idB)
	if !a.LastCheckIn.IsZero() || a.Waiting != 0 || b.Waiting != 7 || b.Version != "2.0" {
		t.Errorf("after B's check-in: A = %+v, B = %+v", a, b)
	}
	// B cannot upload a photo for A's punch.
	jpg := testJPEG(3)
	p := newPunch(e.ben, 1, punch.In, 0)
	p.NoPhoto, p.PhotoSHA256 = "", sha256hex(jpg)
	e.postPunches(tokenA, p)
	e.putPhoto(tokenB, p.PhotoSHA256, p.ID, jpg).wantError(t, http.StatusConflict, protocol.ErrConflict)
	e.putPhoto(tokenA, p.PhotoSHA256, p.ID, jpg).wantStatus(t, 200)
	// And B sending A's punch is refused, not told "duplicate" (which
	// would make B forget a punch of its own that shares the ID); the
	// punch stays A's.
	if res := e.postPunches(tokenB, p); res[0].Status != protocol.Rejected || res[0].Reason != ReasonOtherDevice {
		t.Errorf("A's punch from B: %+v", res[0])
	}
	if got, _ := e.store.Punch(p.ID); got.DeviceID != idA {
		t.Errorf("punch device %s, want A", got.DeviceID)
	}
}

func TestCheckIn(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	id, token := e.enroll()
	e.clock.Advance(90 * time.Second)
	oldest := t0.Add(-time.Hour).In(time.FixedZone("", -6*3600))
	devTime := t0.Add(88 * time.Second)
	c := protocol.CheckIn{
		Version: "1.2.3", RosterVersion: "r0", Waiting: 12, OldestWaiting: oldest, Camera: punch.NoCamera,
		LastUsedBy: e.ben.ID, DeviceTime: devTime, BootID: "boot-a", BootTimeNS: int64(5 * time.Hour),
	}
	r := e.do("POST", protocol.PathCheckIn, token, c)
	r.wantStatus(t, 200)
	var resp protocol.CheckInResponse
	r.decode(t, &resp)
	want := protocol.CheckInResponse{ServerTime: e.clock.Now(), RosterVersion: "r4", SyncEvery: protocol.Duration(5 * time.Minute)}
	if !resp.ServerTime.Equal(want.ServerTime) || resp.RosterVersion != want.RosterVersion || resp.SyncEvery != want.SyncEvery || resp.Disabled {
		t.Errorf("check-in response = %+v, want %+v", resp, want)
	}
	d, _ := e.store.Device(id)
	if d.Version != "1.2.3" || d.RosterVersion != "r0" || d.Waiting != 12 || !d.OldestWaiting.Equal(oldest) ||
		d.Camera != punch.NoCamera || !d.LastCheckIn.Equal(e.clock.Now()) {
		t.Errorf("device after check-in = %+v", d)
	}

	// The clock anchor is kept per boot, the latest one.
	e.clock.Advance(time.Minute)
	c.BootTimeNS += int64(time.Minute)
	c.DeviceTime = c.DeviceTime.Add(time.Minute)
	e.do("POST", protocol.PathCheckIn, token, c).wantStatus(t, 200)
	e.clock.Advance(time.Minute)
	c.BootID, c.BootTimeNS = "boot-b", int64(time.Second)
	e.do("POST", protocol.PathCheckIn, token, c).wantStatus(t, 200)
	as, err := e.store.ClockAnchors(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].BootID != "boot-b" || as[1].BootID != "boot-a" ||
		as[1].BootTime != 5*time.Hour+time.Minute || !as[1].ServerTime.Equal(t0.Add(150*time.Second)) ||
		!as[1].FirstSeen.Equal(t0.Add(90*time.Second)) || !as[1].DeviceTime.Equal(devTime.Add(time.Minute)) {
		t.Errorf("anchors = %+v", as)
	}

	for name, body := range map[string]string{
		"negative waiting": `{"waiting": -1}`,
		"unknown camera":   `{"camera": "on_fire"}`,
		"unknown field":    `{"battery": 80}`,
		"malformed":        `{"waiting": }`,
	} {
		e.do("POST", protocol.PathCheckIn, token, body).wantError(t, 400, protocol.ErrBadRequest)
		_ = name
	}
}

func TestRosterETag(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	r := e.do("GET", protocol.PathRoster, token, nil)
	r.wantStatus(t, 200)
	if et := r.header.Get("ETag"); et != `"r4"` {
		t.Errorf("ETag %s, want \"r4\" (company, then three employees)", et)
	}
	ro, err := roster.Parse(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if emp, ok := ro.MatchPIN("1111"); !ok || emp.ID != e.ana.ID || ro.Version != "r4" {
		t.Errorf("roster: version %s, PIN 1111 = %+v %v", ro.Version, emp, ok)
	}
	if strings.Contains(string(r.body), `"pin"`) {
		t.Errorf("roster carries clear PINs: %s", r.body)
	}

	for _, inm := range []string{`"r4"`, `W/"r4"`, `"r1", "r4"`, `*`} {
		r = e.do("GET", protocol.PathRoster, token, nil, "If-None-Match", inm)
		if r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("If-None-Match %s: %d %q, want 304", inm, r.status, r.body)
		}
	}
	e.do("GET", protocol.PathRoster, token, nil, "If-None-Match", `"r3"`).wantStatus(t, 200)

	// A change bumps the version; the kiosk holding r4 gets the new roster.
	ben := e.ben
	ben.Language = roster.Spanish
	if _, err := e.store.UpdateEmployee(ben, ""); err != nil {
		t.Fatal(err)
	}
	var ci protocol.CheckInResponse
	e.do("POST", protocol.PathCheckIn, token, protocol.CheckIn{RosterVersion: "r4"}).decode(t, &ci)
	if ci.RosterVersion != "r5" {
		t.Errorf("check-in says roster %s, want r5", ci.RosterVersion)
	}
	r = e.do("GET", protocol.PathRoster, token, nil, "If-None-Match", `"r4"`)
	r.wantStatus(t, 200)
	ro, _ = roster.Parse(bytes.NewReader(r.body))
	if b, _ := ro.ByID(e.ben.ID); b.Language != roster.Spanish || r.header.Get("ETag") != `"r5"` {
		t.Errorf("new roster: ETag %s, Ben %+v", r.header.Get("ETag"), b)
	}
}

func TestPunchBatch(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	id, token := e.enroll()
	var batch []protocol.Punch
	for i := range 10 {
		batch = append(batch, newPunch(e.ben, int64(i+1), []punch.Direction{punch.In, punch.Out}[i%2], i*60))
	}
	for i, res := range e.postPunches(token, batch...) {
		if res.Status != protocol.Accepted {
			t.Errorf("punch %d: %+v", i, res)
		}
	}
	got, err := e.store.Punch(batch[3].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeviceID != id || got.Seq != 4 || got.EmployeeID != e.ben.ID || got.Direction != punch.Out ||
		!got.At.Equal(batch[3].At) || got.At.Format(time.RFC3339) != batch[3].At.Format(time.RFC3339) ||
		got.BootID != "boot-1" || got.BootTime != time.Duration(batch[3].BootTimeNS) || !got.ReceivedAt.Equal(t0) {
		t.Errorf("stored punch = %+v\nsent %+v", got, batch[3])
	}

	// The same batch again (a retry after a lost answer): the same
	// answers, nothing new.
	for i, res := range e.postPunches(token, batch...) {
		if res.Status != protocol.Accepted || res.ID != batch[i].ID {
			t.Errorf("again, punch %d: %+v, want accepted as the first time", i, res)
		}
	}
	if n := count(t, e.store, "punches"); n != 10 {
		t.Errorf("%d punches stored, want 10", n)
	}

	// A mixed batch: each punch answered on its own.
	ghost := Employee{ID: uuid.NewString(), Number: "4040"}
	clockFor := newPunch(e.carla, 20, punch.In, 5)
	clockFor.ClockedBy, clockFor.NoPhoto = e.ana.ID, punch.ClockFor
	notForeman := newPunch(e.carla, 21, punch.In, 6)
	notForeman.ClockedBy = e.ben.ID
	unknownForeman := newPunch(e.carla, 22, punch.In, 6)
	unknownForeman.ClockedBy = uuid.NewString()
	badDir := newPunch(e.ben, 23, "sideways", 7)
	badNoPhoto := newPunch(e.ben, 24, punch.In, 7)
	badNoPhoto.NoPhoto = "shy"
	both := newPunch(e.ben, 25, punch.In, 7)
	both.PhotoSHA256 = strings.Repeat("a", 64)
	noID := newPunch(e.ben, 26, punch.In, 7)
	noID.ID = ""
	upperID := newPunch(e.ben, 27, punch.In, 7)
	upperID.ID = strings.ToUpper(upperID.ID)
	noTime := newPunch(e.ben, 28, punch.In, 7)
	noTime.At = time.Time{}
	fine := newPunch(e.ana, 30, punch.In, 8)
	inBatchDup := fine
	// A stored punch's ID on a different punch: the stored one stands.
	reused := batch[1]
	reused.Direction = punch.In
	// A stored punch sent again with a roster-independent problem now
	// (its employee gone from the roster would be one): still accepted.
	resentPhotoless := batch[2]
	resentPhotoless.EmployeeNumber = "renumbered"
	badRoster := newPunch(e.ben, 31, punch.In, 9)
	badRoster.RosterVersion = "v7"
	mixed := []protocol.Punch{newPunch(ghost, 19, punch.In, 4), clockFor, notForeman, unknownForeman, badDir, badNoPhoto,
		both, noID, upperID, noTime, fine, inBatchDup, batch[0], reused, resentPhotoless, badRoster}
	want := []protocol.PunchResult{
		{Status: protocol.Rejected, Reason: ReasonUnknownEmployee},
		{Status: protocol.Accepted},
		{Status: protocol.Rejected, Reason: ReasonNotClockFor},
		{Status: protocol.Rejected, Reason: ReasonUnknownClockedBy},
		{Status: protocol.Rejected, Reason: ReasonBadDirection},
		{Status: protocol.Rejected, Reason: ReasonBadNoPhoto},
		{Status: protocol.Rejected, Reason: ReasonPhotoAndNoPhoto},
		{Status: protocol.Rejected, Reason: ReasonMissingID},
		{Status: protocol.Rejected, Reason: ReasonBadID},
		{Status: protocol.Rejected, Reason: ReasonMissingTime},
		{Status: protocol.Accepted},
		{Status: protocol.Duplicate},
		{Status: protocol.Accepted},
		{Status: protocol.Rejected, Reason: ReasonIDReused},
		{Status: protocol.Accepted},
		{Status: protocol.Rejected, Reason: ReasonBadRosterVersion},
	}
	for i, res := range e.postPunches(token, mixed...) {
		if res.Status != want[i].Status || res.Reason != want[i].Reason {
			t.Errorf("mixed punch %d: %+v, want %+v", i, res, want[i])
		}
	}
	if n := count(t, e.store, "punches"); n != 12 {
		t.Errorf("%d punches stored, want 12", n)
	}
	rej, err := e.store.RejectedPunches()
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 11 {
		t.Errorf("%d rejected punches kept, want 11", len(rej))
	}
	if stored, _ := e.store.Punch(batch[1].ID); stored.Direction != batch[1].Direction {
		t.Errorf("a reused ID changed the stored punch: %+v", stored)
	}
	// The whole mixed batch again: every answer as before.
	for i, res := range e.postPunches(token, mixed...) {
		if res.Status != want[i].Status || res.Reason != want[i].Reason {
			t.Errorf("mixed again, punch %d: %+v, want %+v", i, res, want[i])
		}
	}
	if cf, _ := e.store.Punch(clockFor.ID); cf.ClockedBy != e.ana.ID || cf.NoPhoto != punch.ClockFor {
		t.Errorf("Clock For punch = %+v", cf)
	}

	// Last Used By follows the newest punch by sequence number, whatever
	// order batches arrive in.
	if d, _ := e.store.Device(id); d.LastUsedBy != e.ana.ID || d.LastUsedByName != "Ana Ruiz" {
		t.Errorf("last used by %q (%s), want Ana", d.LastUsedBy, d.LastUsedByName)
	}
	e.postPunches(token, newPunch(e.carla, 2, punch.In, 1))
	if d, _ := e.store.Device(id); d.LastUsedBy != e.ana.ID {
		t.Errorf("an older punch changed Last Used By to %s", d.LastUsedByName)
	}

	// The unknown employee is added; the kiosk's retry is now accepted
	// and leaves the rejected list.
	if _, err := e.store.CreateEmployee(Employee{Number: "4040", Name: "Gus", RoleID: "worker", Active: true}, "4040"); err != nil {
		t.Fatal(err)
	}
	if res := e.postPunches(token, notForeman); res[0].Status != protocol.Rejected {
		t.Errorf("resent rejected punch: %+v", res[0])
	}
	if err := e.store.SetRoleFlags("worker", true, true); err != nil {
		t.Fatal(err)
	}
	if res := e.postPunches(token, notForeman); res[0].Status != protocol.Accepted {
		t.Errorf("resent punch after the role allows Clock For: %+v", res[0])
	}
	// 11 kept, less the one accepted now, plus the second ID-less punch
	// (one without an ID cannot be recognised when it comes again).
	if rej, _ := e.store.RejectedPunches(); len(rej) != 11 {
		t.Errorf("%d rejected punches kept, want 11", len(rej))
	}
}

func TestPunchBatchRefusedWhole(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	good, _ := json.Marshal(protocol.PunchBatch{Punches: []protocol.Punch{newPunch(e.ben, 1, punch.In, 0)}})
	big := make([]protocol.Punch, protocol.MaxBatchPunches+1)
	for i := range big {
		big[i] = newPunch(e.ben, int64(i), punch.In, i)
	}
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed", string(good[:len(good)-5]), 400, protocol.ErrBadRequest},
		{"unknown field in a punch", strings.Replace(string(good), `"seq"`, `"mood":"happy","seq"`, 1), 400, protocol.ErrBadRequest},
		{"unknown top-level field", strings.Replace(string(good), `{"punches"`, `{"device":"x","punches"`, 1), 400, protocol.ErrBadRequest},
		{"bad time", strings.Replace(string(good), `"at":"`, `"at":"yesterday`, 1), 400, protocol.ErrBadRequest},
		{"trailing junk", string(good) + "]", 400, protocol.ErrBadRequest},
		{"too many punches", protocol.PunchBatch{Punches: big}, 413, protocol.ErrTooLarge},
		{"oversized body", `{"punches": [], "x": "` + strings.Repeat("x", protocol.MaxBodyBytes) + `"}`, 413, protocol.ErrTooLarge},
	} {
		e.do("POST", protocol.PathPunches, token, c.body).wantError(t, c.status, c.code)
	}
	if n := count(t, e.store, "punches") + count(t, e.store, "rejected_punches"); n != 0 {
		t.Errorf("%d rows written by refused batches", n)
	}
	var resp protocol.PunchBatchResponse
	e.do("POST", protocol.PathPunches, token, `{"punches": []}`).decode(t, &resp)
	if len(resp.Results) != 0 {
		t.Errorf("empty batch: %+v", resp)
	}
}

// The same batch sent by 8 connections at once is stored once: every punch
// is accepted by exactly one of them and a duplicate for the others.
func TestConcurrentSameBatch(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	var batch []protocol.Punch
	for i := range 50 {
		batch = append(batch, newPunch(e.ben, int64(i+1), punch.In, i))
	}
	body, _ := json.Marshal(protocol.PunchBatch{Punches: batch})
	const senders = 8
	results := make([]protocol.PunchBatchResponse, senders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", e.srv.URL+protocol.PathPunches, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("sender %d: status %d", i, resp.StatusCode)
			}
			json.NewDecoder(resp.Body).Decode(&results[i])
		}()
	}
	close(start)
	wg.Wait()
	// Every sender hears the same answer for every punch, and each punch
	// is stored once.
	for p := range batch {
		for s := range senders {
			if r := results[s].Results[p]; r.Status != protocol.Accepted || r.ID != batch[p].ID {
				t.Errorf("sender %d punch %d: %+v, want accepted", s, p, r)
			}
		}
	}
	if n := count(t, e.store, "punches"); n != len(batch) {
		t.Errorf("%d punches stored, want %d", n, len(batch))
	}
}

func TestPhotoUpload(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	jpg := testJPEG(1)
	sha := sha256hex(jpg)
	withPhoto := func(emp Employee, seq int64, sha string) protocol.Punch {
		p := newPunch(emp, seq, punch.In, int(seq))
		p.NoPhoto, p.PhotoSHA256 = punch.PhotoTaken, sha
		return p
	}

	// Punch first, then its photo.
	p1 := withPhoto(e.ben, 1, sha)
	e.postPunches(token, p1)
	if got, _ := e.store.Punch(p1.ID); got.PhotoSHA256 != sha || !got.PhotoReceivedAt.IsZero() {
		t.Errorf("punch before its photo: %+v", got)
	}
	var pr protocol.PhotoResponse
	e.putPhoto(token, sha, p1.ID, jpg).decode(t, &pr)
	if pr.Status != protocol.Accepted {
		t.Errorf("photo: %+v", pr)
	}
	if got, _ := e.store.Punch(p1.ID); !got.PhotoReceivedAt.Equal(t0) {
		t.Errorf("punch not linked to its photo: %+v", got)
	}
	if b, err := e.store.Photo(sha); err != nil || !bytes.Equal(b, jpg) {
		t.Errorf("stored photo: %d bytes, %v", len(b), err)
	}
	// Again: a duplicate.
	e.putPhoto(token, sha, p1.ID, jpg).decode(t, &pr)
	if pr.Status != protocol.Duplicate {
		t.Errorf("photo again: %+v", pr)
	}

	// Photo first, then its punch.
	jpg2 := testJPEG(2)
	sha2 := sha256hex(jpg2)
	p2 := withPhoto(e.ana, 2, sha2)
	e.putPhoto(token, sha2, p2.ID, jpg2).decode(t, &pr)
	if pr.Status != protocol.Accepted {
		t.Errorf("photo before punch: %+v", pr)
	}
	e.postPunches(token, p2)
	if got, _ := e.store.Punch(p2.ID); got.PhotoSHA256 != sha2 || got.PhotoReceivedAt.IsZero() {
		t.Errorf("punch after its photo not linked: %+v", got)
	}
	var owner string
	e.store.r.QueryRow(`SELECT punch_id FROM photos WHERE sha256 = ?`, sha2).Scan(&owner)
	if owner != p2.ID {
		t.Errorf("photo names punch %s, want %s", owner, p2.ID)
	}

	jpg3 := testJPEG(3)
	sha3 := sha256hex(jpg3)
	big := append(append([]byte{}, jpg3...), make([]byte, protocol.MaxPhotoBytes)...)
	for _, c := range []struct {
		name    string
		sha     string
		punchID string
		ctype   string
		body    []byte
		status  int
		code    string
	}{
		{"hash mismatch", sha3, uuid.NewString(), "image/jpeg", jpg2, 400, protocol.ErrBadRequest},
		{"not a JPEG", sha256hex([]byte("GIF89a")), uuid.NewString(), "image/jpeg", []byte("GIF89a"), 400, protocol.ErrBadRequest},
		{"oversized", sha256hex(big), uuid.NewString(), "image/jpeg", big, 413, protocol.ErrTooLarge},
		{"wrong content type", sha3, uuid.NewString(), "image/png", jpg3, 415, protocol.ErrBadRequest},
		{"bad hash in path", "abc", uuid.NewString(), "image/jpeg", jpg3, 400, protocol.ErrBadRequest},
		{"uppercase hash", strings.ToUpper(sha3), uuid.NewString(), "image/jpeg", jpg3, 400, protocol.ErrBadRequest},
		{"no punch ID", sha3, "", "image/jpeg", jpg3, 400, protocol.ErrBadRequest},
		{"punch names another photo", sha3, p1.ID, "image/jpeg", jpg3, 409, protocol.ErrConflict},
	} {
		r := e.do("PUT", protocol.PathPhotos+c.sha, token, c.body, "Content-Type", c.ctype, protocol.HeaderPunchID, c.punchID)
		r.wantError(t, c.status, c.code)
		if c.name == "hash mismatch" && !strings.Contains(r.apiError(t).Message, "unexpected checksum") {
			t.Errorf("hash mismatch message: %s", r.body)
		}
	}
	if n := count(t, e.store, "photos"); n != 2 {
		t.Errorf("%d photos stored, want 2", n)
	}
	ents, _ := os.ReadDir(e.store.photoDir)
	if len(ents) != 2 {
		t.Errorf("%d files in photos/, want 2: %v", len(ents), ents)
	}
}

func TestDisableLastTransmissionGoodbye(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	id, token := e.enroll()
	e.do("POST", protocol.PathGoodbye, token, nil).wantError(t, http.StatusForbidden, protocol.ErrForbidden)

	e.clock.Advance(time.Hour)
	if err := e.store.DisableDevice(id, "Pat Office", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DisableDevice(id, "Someone Else", e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, _ := e.store.Device(id)
	if !d.Disabled() || d.DisabledBy != "Pat Office" || !d.DisabledAt.Equal(t0.Add(time.Hour)) || d.Gone() {
		t.Errorf("disabled device = %+v", d)
	}
	wantErr(t, e.store.DisableDevice("nope", "Pat", t0), ErrNotFound)

	// Next contact: the kiosk learns it is disabled.
	var ci protocol.CheckInResponse
	r := e.do("POST", protocol.PathCheckIn, token, protocol.CheckIn{Waiting: 2})
	r.wantStatus(t, 200)
	r.decode(t, &ci)
	if !ci.Disabled {
		t.Errorf("check-in of a disabled device: %+v", ci)
	}
	// No roster for a disabled device.
	e.do("GET", protocol.PathRoster, token, nil).wantError(t, http.StatusForbidden, protocol.ErrForbidden)
	// Its last transmission is accepted.
	jpg := testJPEG(9)
	p := newPunch(e.ben, 1, punch.Out, 30)
	p.NoPhoto, p.PhotoSHA256 = "", sha256hex(jpg)
	if res := e.postPunches(token, p, newPunch(e.carla, 2, punch.Out, 31)); res[0].Status != protocol.Accepted || res[1].Status != protocol.Accepted {
		t.Errorf("last transmission: %+v", res)
	}
	e.putPhoto(token, p.PhotoSHA256, p.ID, jpg).wantStatus(t, 200)
	// But not a punch made well after the device was disabled (the kiosk
	// was stolen and kept punching).
	late := newPunch(e.ben, 3, punch.In, int((time.Hour+DisabledGrace+time.Minute)/time.Minute))
	if res := e.postPunches(token, late); res[0].Status != protocol.Rejected || res[0].Reason != ReasonAfterDisabled {
		t.Errorf("punch a day after disabling: %+v", res[0])
	}
	r = e.do("POST", protocol.PathGoodbye, token, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("goodbye: %d %s", r.status, r.body)
	}
	if d, _ := e.store.Device(id); !d.GoodbyeAt.Equal(e.clock.Now()) {
		t.Errorf("goodbye not recorded: %+v", d)
	}
	// After goodbye, the token is refused everywhere.
	for _, ep := range []struct {
		method, path string
		body         any
	}{
		{"POST", protocol.PathCheckIn, protocol.CheckIn{}},
		{"GET", protocol.PathRoster, nil},
		{"POST", protocol.PathPunches, protocol.PunchBatch{Punches: []protocol.Punch{newPunch(e.ben, 3, punch.In, 40)}}},
		{"PUT", protocol.PathPhotos + p.PhotoSHA256, jpg},
		{"POST", protocol.PathGoodbye, nil},
	} {
		e.do(ep.method, ep.path, token, ep.body, "Content-Type", "image/jpeg", protocol.HeaderPunchID, p.ID).
			wantError(t, http.StatusForbidden, protocol.ErrDisabled)
	}
	if n := count(t, e.store, "punches"); n != 2 {
		t.Errorf("%d punches, want the 2 of the last transmission", n)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	e.do("GET", "/api/device/v1/nothing", token, nil).wantError(t, http.StatusNotFound, protocol.ErrNotFound)
	e.do("GET", "/", "", nil).wantError(t, http.StatusNotFound, protocol.ErrNotFound)
	r := e.do("DELETE", protocol.PathPunches, token, nil)
	r.wantError(t, http.StatusMethodNotAllowed, protocol.ErrBadRequest)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	e.do("GET", protocol.PathPhotos+strings.Repeat("a", 64), token, nil).wantError(t, http.StatusMethodNotAllowed, protocol.ErrBadRequest)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestReenrollNeedsTheSameKey: knowing a kiosk's installation ID and the
// setup code is not enough to take over its identity.
func TestReenrollNeedsTheSameKey(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	req := enrollRequest(e.code(), "install-victim")
	d, token, err := e.store.Enroll(req, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	thief := enrollRequest(e.code(), "install-victim") // another key
	if _, _, err := e.store.Enroll(thief, e.clock.Now()); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("enroll with another key: %v, want ErrKeyMismatch", err)
	}
	if got, err := e.store.authenticate(token); err != nil || got.ID != d.ID {
		t.Errorf("the kiosk's own token after the attempt: %+v, %v", got, err)
	}
	// The kiosk itself, with its key, may enroll again.
	if d2, _, err := e.store.Enroll(req, e.clock.Now()); err != nil || d2.ID != d.ID {
		t.Errorf("re-enroll with the same key: %+v, %v", d2, err)
	}
}

// TestPhotosWithoutPunchesAreBounded: a device cannot fill the disk with
// photos for punches it never sends, nor claim another punch's photo.
func TestPhotosWithoutPunchesAreBounded(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	id, _ := e.enroll()
	other, _ := e.enroll()
	now := e.clock.Now()
	first := testJPEG(0)
	if _, err := e.store.PutPhoto(id, sha256hex(first), uuid.NewString(), first, now); err != nil {
		t.Fatal(err)
	}
	for n := 1; n < MaxUnlinkedPhotos; n++ {
		jpg := testJPEG(n)
		if _, err := e.store.PutPhoto(id, sha256hex(jpg), uuid.NewString(), jpg, now); err != nil {
			t.Fatalf("photo %d: %v", n, err)
		}
	}
	extra := testJPEG(MaxUnlinkedPhotos)
	if _, err := e.store.PutPhoto(id, sha256hex(extra), uuid.NewString(), extra, now); !errors.Is(err, ErrPhotoConflict) {
		t.Errorf("photo %d without punches: %v, want ErrPhotoConflict", MaxUnlinkedPhotos+1, err)
	}
	if _, err := e.store.PutPhoto(other, sha256hex(first), uuid.NewString(), first, now); !errors.Is(err, ErrPhotoConflict) {
		t.Errorf("another device re-sending a stored photo for another punch: %v, want ErrPhotoConflict", err)
	}
}
