package backoffice

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the settings tests name IANA zones

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

// t0 is the start of every test's clock.
var t0 = time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)

// clock is a settable clock for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a store in a new temporary folder with a company.
func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateCompany("Acme Framing", t0); err != nil {
		t.Fatal(err)
	}
	return s
}

// env is a store, its device API over real HTTP, and a clock.
type env struct {
	t     testing.TB
	store *Store
	srv   *httptest.Server
	clock *clock
	// Ana (foreman), Ben (worker) and Carla (office) exist in every env.
	ana, ben, carla Employee
}

func newEnv(t testing.TB, opts ServerOptions) *env {
	t.Helper()
	e := &env{t: t, store: openStore(t), clock: &clock{t: t0}}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.EnrollPerAddress == (Rate{}) {
		opts.EnrollPerAddress = Rate{PerMinute: 1e6, Burst: 1e6}
	}
	if opts.EnrollTotal == (Rate{}) {
		opts.EnrollTotal = Rate{PerMinute: 1e6, Burst: 1e6}
	}
	e.srv = httptest.NewServer(NewServer(e.store, opts).Handler())
	t.Cleanup(e.srv.Close)
	e.ana = e.employee(Employee{Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true, PhotoConsent: true}, "1111")
	e.ben = e.employee(Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true, PhotoConsent: true}, "2222")
	e.carla = e.employee(Employee{Number: "1003", Name: "Carla Diaz", RoleID: "office", Active: true}, "3333")
	return e
}

func (e *env) employee(emp Employee, pin string) Employee {
	e.t.Helper()
	emp, err := e.store.CreateEmployee(emp, pin)
	if err != nil {
		e.t.Fatal(err)
	}
	return emp
}

func (e *env) code() string {
	e.t.Helper()
	c, err := e.store.SetupCode(e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Code
}

// reply is an HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes the body as a protocol.Error and checks it is one.
func (r reply) apiError(t testing.TB) protocol.Error {
	t.Helper()
	var pe protocol.Error
	if err := json.Unmarshal(r.body, &pe); err != nil || pe.Code == "" || pe.Message == "" {
		t.Fatalf("status %d: body %q is not a protocol.Error (%v)", r.status, r.body, err)
	}
	return pe
}

func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d: decode %q: %v", r.status, r.body, err)
	}
}

// wantError checks an error answer's status and code.
func (r reply) wantError(t testing.TB, status int, code string) protocol.Error {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	pe := r.apiError(t)
	if pe.Code != code {
		t.Fatalf("error code %q, want %q (message %q)", pe.Code, code, pe.Message)
	}
	return pe
}

// do sends a request; body is raw bytes, a string, or a value sent as JSON.
func (e *env) do(method, path, token string, body any, header ...string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func enrollRequest(code, installation string) protocol.EnrollRequest {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return protocol.EnrollRequest{
		SetupCode: code, Nickname: "Main St trailer", Hardware: "Simulator", Version: "1.0.0",
		InstallationID: installation, PublicKey: pub,
	}
}

// enroll enrolls a new simulated kiosk and returns its ID and token.
func (e *env) enroll() (id, token string) {
	e.t.Helper()
	r := e.do("POST", protocol.PathEnroll, "", enrollRequest(e.code(), uuid.NewString()))
	if r.status != http.StatusOK {
		e.t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	var er protocol.EnrollResponse
	r.decode(e.t, &er)
	return er.DeviceID, er.Token
}

// newPunch is a punch of emp at t0+min minutes, with no photo.
func newPunch(emp Employee, seq int64, dir punch.Direction, min int) protocol.Punch {
	return protocol.Punch{
		ID: uuid.NewString(), Seq: seq, EmployeeID: emp.ID, EmployeeNumber: emp.Number, Direction: dir,
		At:         t0.Add(time.Duration(min) * time.Minute).In(time.FixedZone("CST", -6*3600)),
		BootTimeNS: int64(time.Hour) + int64(min)*int64(time.Minute), BootID: "boot-1",
		NoPhoto: punch.RoleFaceFrontOff,
	}
}

func (e *env) postPunches(token string, ps ...protocol.Punch) []protocol.PunchResult {
	e.t.Helper()
	r := e.do("POST", protocol.PathPunches, token, protocol.PunchBatch{Punches: ps})
	if r.status != http.StatusOK {
		e.t.Fatalf("punches: %d %s", r.status, r.body)
	}
	var resp protocol.PunchBatchResponse
	r.decode(e.t, &resp)
	if len(resp.Results) != len(ps) {
		e.t.Fatalf("%d results for %d punches", len(resp.Results), len(ps))
	}
	for i, res := range resp.Results {
		if res.ID != ps[i].ID {
			e.t.Fatalf("result %d is for %s, want %s (results must be in order)", i, res.ID, ps[i].ID)
		}
	}
	return resp.Results
}

// count counts the rows of a table.
func count(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRoster(t testing.TB, s *Store) *roster.Roster {
	t.Helper()
	r, err := s.Roster()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testJPEG returns a small real JPEG that differs for each n.
func testJPEG(n int) []byte {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(n*31 + i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (e *env) putPhoto(token, sha, punchID string, body []byte) reply {
	e.t.Helper()
	return e.do("PUT", protocol.PathPhotos+sha, token, body, "Content-Type", "image/jpeg", protocol.HeaderPunchID, punchID)
}

func (r reply) wantStatus(t testing.TB, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
