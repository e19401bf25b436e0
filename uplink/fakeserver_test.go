package uplink

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/roster"
)

// fakeServer is a back office that speaks the device protocol faithfully
// enough for the kiosk's side: setup codes, tokens, check-in, a versioned
// roster with ETags, punches idempotent by ID with per-punch results,
// photos idempotent by hash and checked against it, disabling and goodbye.
// Tests poke its fields (under mu) to change its mind and read what it
// received. The real back office is tested against the kiosk elsewhere.
type fakeServer struct {
	t  testing.TB
	mu sync.Mutex

	// Enrolment.
	code        string          // the current setup code
	expired     map[string]bool // setup codes rotated away
	rateLimited bool
	enrolls     []protocol.EnrollRequest
	devices     map[string]*fakeDevice // by token

	// What the kiosk should get.
	roster         *roster.Roster
	checkinVersion string // if set, the check-in announces this instead of the roster's version
	syncEvery      time.Duration
	reject         map[string]string // employee ID → reason to refuse their punches
	// photoKey is the company's photo key, sent at check-in; nil plays an
	// older server, which has none and takes only plain JPEGs.
	photoKey *photoseal.PrivateKey

	// What the kiosk sent.
	checkins              []protocol.CheckIn
	checkinAt             []time.Time
	requests              map[string]int // by "METHOD /path" (photos without their hash)
	punches               map[string]protocol.Punch
	order                 []string             // punch IDs in the order first stored
	results               map[string]string    // punch ID → the status it got first (accepted or rejected)
	received              map[string]int       // punch ID → times sent
	dupes                 int                  // punches sent again after being stored
	batches               []int                // sizes of the punch batches
	photos                map[string]fakePhoto // the JPEGs, opened if they came sealed
	photoPuts             map[string]int       // hash → times sent
	sealedPuts, plainPuts int                  // photo uploads by kind
	// At goodbye: how many punches and photos the server held then.
	goodbyePunches, goodbyePhotos int

	// fault, if set, may make the server misbehave on a request.
	fault func(r *http.Request) fault
}

type fakeDevice struct {
	id       string
	disabled bool
	goodbye  bool
}

type fakePhoto struct {
	punchID string
	data    []byte
}

// fault is a way for the fake to misbehave on one request.
type fault int

const (
	noFault      fault = iota
	fail503            // answer 503 without doing anything
	fail503After       // do the work, then answer 503 (the answer is lost)
	resetBefore        // drop the connection without doing anything
	resetAfter         // do the work, then drop the connection
	unauthorized       // answer 401 as if the token were unknown
)

func newFakeServer(t testing.TB) *fakeServer {
	key, err := photoseal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeServer{
		photoKey:  key,
		t:         t,
		code:      "482913",
		expired:   map[string]bool{"111111": true},
		devices:   map[string]*fakeDevice{},
		syncEvery: time.Minute,
		reject:    map[string]string{},
		requests:  map[string]int{},
		punches:   map[string]protocol.Punch{},
		results:   map[string]string{},
		received:  map[string]int{},
		photos:    map[string]fakePhoto{},
		photoPuts: map[string]int{},
	}
}

// start serves the fake on a real loopback socket until the test ends.
func (s *fakeServer) start() *httptest.Server {
	srv := httptest.NewServer(s)
	s.t.Cleanup(srv.Close)
	return srv
}

func (s *fakeServer) lock() func() {
	s.mu.Lock()
	return s.mu.Unlock
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	key := r.Method + " " + r.URL.Path
	if strings.HasPrefix(r.URL.Path, protocol.PathPhotos) {
		key = r.Method + " " + protocol.PathPhotos
	}
	s.requests[key]++
	f := noFault
	if s.fault != nil {
		f = s.fault(r)
	}
	s.mu.Unlock()

	switch f {
	case fail503:
		writeError(w, http.StatusServiceUnavailable, protocol.ErrInternal, "try later")
		return
	case resetBefore:
		panic(http.ErrAbortHandler) // the server drops the connection
	case unauthorized:
		writeError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "unknown token")
		return
	case fail503After, resetAfter:
		s.route(httptest.NewRecorder(), r) // the work is done, the answer lost
		if f == resetAfter {
			panic(http.ErrAbortHandler)
		}
		writeError(w, http.StatusServiceUnavailable, protocol.ErrInternal, "try later")
		return
	}
	s.route(w, r)
}

func (s *fakeServer) route(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == protocol.PathEnroll:
		s.enroll(w, r)
		return
	case strings.HasPrefix(r.URL.Path, protocol.PathPhotos) && r.Method == http.MethodPut:
		s.withDevice(w, r, s.photo)
	case r.Method == http.MethodPost && r.URL.Path == protocol.PathCheckIn:
		s.withDevice(w, r, s.checkIn)
	case r.Method == http.MethodGet && r.URL.Path == protocol.PathRoster:
		s.withDevice(w, r, s.rosterGet)
	case r.Method == http.MethodPost && r.URL.Path == protocol.PathPunches:
		s.withDevice(w, r, s.punchBatch)
	case r.Method == http.MethodPost && r.URL.Path == protocol.PathGoodbye:
		s.withDevice(w, r, s.goodbye)
	default:
		writeError(w, http.StatusNotFound, protocol.ErrNotFound, "no such endpoint")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, protocol.Error{Code: code, Message: msg})
}

// decode reads a JSON body strictly, as the real server does.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, protocol.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, err.Error())
		return false
	}
	return true
}

func (s *fakeServer) enroll(w http.ResponseWriter, r *http.Request) {
	var req protocol.EnrollRequest
	if !decode(w, r, &req) {
		return
	}
	defer s.lock()()
	s.enrolls = append(s.enrolls, req)
	switch {
	case s.rateLimited:
		w.Header().Set("Retry-After", "60")
		writeError(w, http.StatusTooManyRequests, protocol.ErrRateLimited, "too many attempts")
		return
	case s.expired[req.SetupCode]:
		writeError(w, http.StatusGone, protocol.ErrExpiredCode, "that setup code was rotated")
		return
	case req.SetupCode != s.code:
		writeError(w, http.StatusForbidden, protocol.ErrWrongCode, "no such setup code")
		return
	case len(req.PublicKey) != 32 || req.InstallationID == "" || req.Hardware == "" || req.Version == "":
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, "incomplete enrolment")
		return
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	d := &fakeDevice{id: fmt.Sprintf("dev-%d", len(s.devices)+1)}
	token := "tok-" + hex.EncodeToString(tok)
	s.devices[token] = d
	writeJSON(w, http.StatusOK, protocol.EnrollResponse{DeviceID: d.id, Token: token, ServerTime: time.Now()})
}

func (s *fakeServer) withDevice(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request, *fakeDevice)) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	d := s.devices[tok]
	s.mu.Unlock()
	switch {
	case !ok || d == nil:
		writeError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "unknown token")
	case d.goodbye:
		writeError(w, http.StatusForbidden, protocol.ErrDisabled, "this device is disabled")
	default:
		h(w, r, d)
	}
}

func (s *fakeServer) checkIn(w http.ResponseWriter, r *http.Request, d *fakeDevice) {
	var ci protocol.CheckIn
	if !decode(w, r, &ci) {
		return
	}
	defer s.lock()()
	s.checkins = append(s.checkins, ci)
	s.checkinAt = append(s.checkinAt, time.Now())
	v := s.checkinVersion
	if v == "" && s.roster != nil {
		v = s.roster.Version
	}
	ans := protocol.CheckInResponse{
		ServerTime: time.Now(), RosterVersion: v, Disabled: d.disabled, SyncEvery: protocol.Duration(s.syncEvery),
	}
	if s.photoKey != nil {
		pub := s.photoKey.Public()
		ans.PhotoKey = pub[:]
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *fakeServer) rosterGet(w http.ResponseWriter, r *http.Request, _ *fakeDevice) {
	defer s.lock()()
	if s.roster == nil {
		writeError(w, http.StatusNotFound, protocol.ErrNotFound, "no roster")
		return
	}
	etag := protocol.RosterETag(s.roster.Version)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b, err := roster.Marshal(s.roster)
	if err != nil {
		s.t.Errorf("fake: marshal roster: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *fakeServer) punchBatch(w http.ResponseWriter, r *http.Request, d *fakeDevice) {
	var b protocol.PunchBatch
	if !decode(w, r, &b) {
		return
	}
	if len(b.Punches) == 0 || len(b.Punches) > protocol.MaxBatchPunches {
		writeError(w, http.StatusRequestEntityTooLarge, protocol.ErrTooLarge, "1 to 500 punches")
		return
	}
	defer s.lock()()
	s.batches = append(s.batches, len(b.Punches))
	var ans protocol.PunchBatchResponse
	for _, p := range b.Punches {
		s.received[p.ID]++
		res := protocol.PunchResult{ID: p.ID}
		switch first, seen := s.results[p.ID]; {
		case !validUUID(p.ID) || !p.Direction.Valid() || p.At.IsZero():
			res.Status, res.Reason = protocol.Rejected, "malformed punch"
		case seen && first == protocol.Rejected:
			res.Status, res.Reason = protocol.Rejected, s.reject[p.EmployeeID]
		case seen:
			s.dupes++
			res.Status = protocol.Duplicate
		case s.reject[p.EmployeeID] != "":
			s.results[p.ID] = protocol.Rejected
			res.Status, res.Reason = protocol.Rejected, s.reject[p.EmployeeID]
		default:
			s.results[p.ID] = protocol.Accepted
			s.punches[p.ID] = p
			s.order = append(s.order, p.ID)
			res.Status = protocol.Accepted
		}
		ans.Results = append(ans.Results, res)
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *fakeServer) photo(w http.ResponseWriter, r *http.Request, d *fakeDevice) {
	want := strings.TrimPrefix(r.URL.Path, protocol.PathPhotos)
	punchID := r.Header.Get(protocol.HeaderPunchID)
	switch {
	case len(want) != 64 || strings.ToLower(want) != want:
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, "the path must end in the hex SHA-256 of the photo")
		return
	case !validUUID(punchID):
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, "X-Punch-ID is not a lowercase UUID")
		return
	}
	sealed := r.Header.Get("Content-Type") == protocol.ContentTypeSealedPhoto
	if !sealed && r.Header.Get("Content-Type") != protocol.ContentTypeJPEG || sealed && s.photoKey == nil {
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, "photos are image/jpeg, or sealed to the photo key")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(protocol.MaxPhotoBytes+photoseal.Overhead+1)))
	if err != nil {
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, err.Error())
		return
	}
	if sealed {
		// The key never changes while the fake runs: no lock needed.
		if data, err = s.photoKey.Open(data); err != nil {
			writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, "the sealed photo cannot be opened: "+err.Error())
			return
		}
	}
	if len(data) > protocol.MaxPhotoBytes {
		writeError(w, http.StatusRequestEntityTooLarge, protocol.ErrTooLarge, "photo over 4 MiB")
		return
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, fmt.Sprintf("unexpected checksum: got %s, want %s", got, want))
		return
	}
	defer s.lock()()
	s.photoPuts[want]++
	if sealed {
		s.sealedPuts++
	} else {
		s.plainPuts++
	}
	if _, ok := s.photos[want]; ok {
		writeJSON(w, http.StatusOK, protocol.PhotoResponse{Status: protocol.Duplicate})
		return
	}
	s.photos[want] = fakePhoto{punchID: punchID, data: data}
	writeJSON(w, http.StatusOK, protocol.PhotoResponse{Status: protocol.Accepted})
}

func (s *fakeServer) goodbye(w http.ResponseWriter, r *http.Request, d *fakeDevice) {
	var body struct{}
	if !decode(w, r, &body) {
		return
	}
	defer s.lock()()
	if !d.disabled {
		writeError(w, http.StatusForbidden, protocol.ErrForbidden, "this device is not disabled")
		return
	}
	d.goodbye = true
	s.goodbyePunches, s.goodbyePhotos = len(s.punches), len(s.photos)
	w.WriteHeader(http.StatusNoContent)
}

// count returns how many requests of the kind ("POST /api/...") came.
func (s *fakeServer) count(key string) int {
	defer s.lock()()
	return s.requests[key]
}

// stored returns how many punches the server holds.
func (s *fakeServer) stored() int {
	defer s.lock()()
	return len(s.punches)
}

// disableAll marks every enrolled device disabled in the office.
func (s *fakeServer) disableAll() {
	defer s.lock()()
	for _, d := range s.devices {
		d.disabled = true
	}
}

// forget drops every token, as a server restored from an old backup would.
func (s *fakeServer) forget() {
	defer s.lock()()
	s.devices = map[string]*fakeDevice{}
}

func validUUID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// handlerDoer sends requests straight to a handler, in the process: for
// tests in a synctest bubble, where a real socket would keep fake time from
// advancing. A dropped connection becomes a transport error.
type handlerDoer struct{ h http.Handler }

func (d handlerDoer) Do(req *http.Request) (resp *http.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			if r != http.ErrAbortHandler {
				panic(r)
			}
			resp, err = nil, errors.New("fake: connection reset by peer")
		}
	}()
	if req.Body == nil {
		req.Body = http.NoBody
	}
	// The server side reads its own copy, as over a socket.
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	sreq := req.Clone(req.Context())
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	d.h.ServeHTTP(rec, sreq)
	return rec.Result(), nil
}
