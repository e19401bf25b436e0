package backoffice

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/protocol"
)

// Default enrolment rate limits: a technician typing codes never meets
// them; a guesser gets 60 tries a minute at most, against 10^8 codes.
var (
	DefaultEnrollPerAddress = Rate{PerMinute: 10, Burst: 5}
	DefaultEnrollTotal      = Rate{PerMinute: 60, Burst: 20}
)

// ServerOptions tune NewServer. The zero value is ready to use.
type ServerOptions struct {
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// Logger receives errors and notable events; nil discards them.
	Logger *slog.Logger
	// EnrollPerAddress limits enrolment attempts per source address;
	// zero means DefaultEnrollPerAddress.
	EnrollPerAddress Rate
	// EnrollTotal limits enrolment attempts from everywhere together;
	// zero means DefaultEnrollTotal.
	EnrollTotal Rate
}

// Server answers the device API (docs/protocol.md) from a Store.
type Server struct {
	store   *Store
	now     func() time.Time
	log     *slog.Logger
	limiter *limiter
	handler http.Handler
}

// NewServer returns the device API server for store.
func NewServer(store *Store, opts ServerOptions) *Server {
	s := &Server{store: store, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	per, total := opts.EnrollPerAddress, opts.EnrollTotal
	if per.PerMinute <= 0 || per.Burst <= 0 {
		per = DefaultEnrollPerAddress
	}
	if total.PerMinute <= 0 || total.Burst <= 0 {
		total = DefaultEnrollTotal
	}
	s.limiter = newLimiter(per, total)

	mux := http.NewServeMux()
	routes := []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{"POST", protocol.PathEnroll, s.enroll},
		{"POST", protocol.PathCheckIn, s.auth(s.checkIn)},
		{"GET", protocol.PathRoster, s.auth(s.roster)},
		{"POST", protocol.PathPunches, s.auth(s.punches)},
		{"PUT", protocol.PathPhotos + "{sha256}", s.auth(s.photo)},
		{"POST", protocol.PathGoodbye, s.auth(s.goodbye)},
		{"GET", protocol.PathRelease + "{id}", s.auth(s.release)},
	}
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, rt.h)
		// The same path without a method catches the other methods, so
		// that they too get a JSON error.
		mux.HandleFunc(rt.path, methodNotAllowed(rt.method))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, protocol.ErrNotFound,
			fmt.Sprintf("no such endpoint %s; the device API is described in docs/protocol.md (protocol %s)", r.URL.Path, protocol.Version))
	})
	s.handler = s.recoverer(cleanPaths(mux))
	return s
}

// cleanPaths refuses a path with empty, "." or ".." segments with a JSON
// error. ServeMux would answer it with a redirect to the cleaned path,
// which a kiosk's client may follow with its body to another endpoint
// than the one it meant.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || path.Clean(p) != p && path.Clean(p)+"/" != p {
			writeError(w, http.StatusBadRequest, protocol.ErrBadRequest,
				fmt.Sprintf("the path %q has empty, \".\" or \"..\" segments; see docs/protocol.md for the endpoints", p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Handler returns the device API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// recoverer turns a panic in a handler into a 500 with a JSON body.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(p))
				writeError(w, http.StatusInternalServerError, protocol.ErrInternal, "the back office failed; keep your data and retry later")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, protocol.ErrBadRequest, fmt.Sprintf("use %s for %s", allow, r.URL.Path))
	}
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", protocol.ContentTypeJSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with a protocol.Error.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, protocol.Error{Code: code, Message: msg})
}

// fail answers with the error err stands for. Store errors carry messages
// meant for people; anything unexpected is logged and answered with a
// generic "retry later".
func (s *Server) fail(w http.ResponseWriter, r *http.Request, deviceID string, err error) {
	msg := strings.TrimPrefix(err.Error(), "backoffice: ")
	switch {
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, msg+" (refused as it is: do not send it again unchanged)")
	case errors.Is(err, ErrWrongCode):
		writeError(w, http.StatusForbidden, protocol.ErrWrongCode, "wrong setup code; check the code with the office and type it again")
	case errors.Is(err, ErrExpiredCode):
		writeError(w, http.StatusGone, protocol.ErrExpiredCode, "this setup code has expired; ask the office for the current one")
	case errors.Is(err, ErrDisabled):
		writeError(w, http.StatusForbidden, protocol.ErrDisabled, "this device is disabled; it may not be used to punch, and its installation cannot enroll again (reinstall it to enroll it as a new device)")
	case errors.Is(err, ErrUnauthorized):
		writeError(w, http.StatusUnauthorized, protocol.ErrUnauthorized, "unknown device token; enroll the device again with the company setup code")
	case errors.Is(err, ErrNotDisabled):
		writeError(w, http.StatusForbidden, protocol.ErrForbidden, "this device is not disabled; only a disabled device says goodbye")
	case errors.Is(err, ErrKeyMismatch):
		writeError(w, http.StatusConflict, protocol.ErrConflict, "this installation is already enrolled with another device key; if this is a new kiosk, reinstall its software (a new installation ID); if the kiosk lost its key, disable the old device in the office first")
	case errors.Is(err, ErrPhotoConflict):
		writeError(w, http.StatusConflict, protocol.ErrConflict, msg+"; do not send this photo again, keep it for a person to look at")
	case errors.Is(err, ErrNoCompany):
		w.Header().Set("Retry-After", "300")
		writeError(w, http.StatusServiceUnavailable, protocol.ErrInternal, "the back office has no company set up yet; ask the office to finish setting it up, then retry")
	case errors.Is(err, ErrDiskFull):
		s.log.Error("request failed", "path", r.URL.Path, "device_id", deviceID, "err", err)
		w.Header().Set("Retry-After", "300")
		writeError(w, http.StatusServiceUnavailable, protocol.ErrInternal, "the back office is out of disk space; keep your data and retry later")
	default:
		s.log.Error("request failed", "path", r.URL.Path, "device_id", deviceID, "err", err)
		writeError(w, http.StatusInternalServerError, protocol.ErrInternal, "the back office failed; keep your data and retry later")
	}
}

// decode reads a JSON body into v strictly: at most MaxBodyBytes, no
// unknown fields, nothing after the value. It answers the request itself
// and returns false when the body is refused.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	e := decodeStrict(http.MaxBytesReader(w, r.Body, protocol.MaxBodyBytes), v)
	switch {
	case e == nil:
		return true
	case e.tooLarge:
		writeError(w, http.StatusRequestEntityTooLarge, protocol.ErrTooLarge,
			fmt.Sprintf("request body over %d bytes; send less at once (punches in smaller batches)", protocol.MaxBodyBytes))
		return false
	case e.unknown:
		e.msg += fmt.Sprintf(" (this server speaks protocol %s; see docs/protocol.md)", protocol.Version)
	}
	writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, e.msg+"; fix the request, do not retry it as it is")
	return false
}

// clientAddr is the address enrolment is rate-limited by.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if ok, wait := s.limiter.allow(addr, s.now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.log.Warn("enrolment rate-limited", "remote", addr)
		writeError(w, http.StatusTooManyRequests, protocol.ErrRateLimited,
			fmt.Sprintf("too many enrolment attempts; wait %d seconds and try again", secs))
		return
	}
	var req protocol.EnrollRequest
	if !decode(w, r, &req) {
		return
	}
	d, token, err := s.store.Enroll(req, s.now())
	if err != nil {
		if errors.Is(err, ErrWrongCode) || errors.Is(err, ErrExpiredCode) {
			s.log.Warn("enrolment refused", "remote", addr, "err", err)
		}
		s.fail(w, r, "", err)
		return
	}
	// The token is a secret: no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, protocol.EnrollResponse{DeviceID: d.ID, Token: token, ServerTime: s.now()})
}

// auth authenticates the device by its bearer token (the token alone says
// which device it is) and refuses one that has said goodbye.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, deviceAuth)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			writeError(w, http.StatusUnauthorized, protocol.ErrUnauthorized,
				"send the device token as \"Authorization: Bearer TOKEN\"; a device without one enrolls first with the setup code")
			return
		}
		d, err := s.store.authenticate(strings.TrimSpace(token))
		if err != nil {
			s.fail(w, r, "", err)
			return
		}
		if d.Gone {
			s.fail(w, r, d.ID, errDisabled())
			return
		}
		h(w, r, d)
	}
}

func (s *Server) checkIn(w http.ResponseWriter, r *http.Request, d deviceAuth) {
	var c protocol.CheckIn
	if !decode(w, r, &c) {
		return
	}
	resp, err := s.store.CheckIn(d.ID, c, s.now())
	if err != nil {
		s.fail(w, r, d.ID, err)
		return
	}
	key := s.store.PhotoKey()
	resp.PhotoKey = key[:]
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) roster(w http.ResponseWriter, r *http.Request, d deviceAuth) {
	if d.Disabled {
		// A disabled device may be a stolen one: it gets no PIN hashes.
		writeError(w, http.StatusForbidden, protocol.ErrForbidden,
			"this device is disabled and gets no roster; send what it holds, then say goodbye")
		return
	}
	version, body, err := s.store.RosterJSON()
	if err != nil {
		s.fail(w, r, d.ID, err)
		return
	}
	etag := protocol.RosterETag(version)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", protocol.ContentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

func (s *Server) punches(w http.ResponseWriter, r *http.Request, d deviceAuth) {
	var b protocol.PunchBatch
	if !decode(w, r, &b) {
		return
	}
	if len(b.Punches) > protocol.MaxBatchPunches {
		writeError(w, http.StatusRequestEntityTooLarge, protocol.ErrTooLarge,
			fmt.Sprintf("%d punches in one batch; send at most %d per request", len(b.Punches), protocol.MaxBatchPunches))
		return
	}
	results, err := s.store.IngestPunches(d.ID, b.Punches, s.now())
	if err != nil {
		s.fail(w, r, d.ID, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.PunchBatchResponse{Results: results})
}

func (s *Server) photo(w http.ResponseWriter, r *http.Request, d deviceAuth) {
	sha := r.PathValue("sha256")
	if !ValidSHA256(sha) {
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest,
			fmt.Sprintf("%q is not a SHA-256; put the photo at %s followed by the 64 lowercase hex digits of its SHA-256", sha, protocol.PathPhotos))
		return
	}
	// A kiosk with the company's photo key sends photos sealed to it; an
	// older kiosk, or a photo that could not be sealed, comes as the JPEG.
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	sealed := err == nil && mt == protocol.ContentTypeSealedPhoto
	if !sealed && (err != nil || mt != protocol.ContentTypeJPEG) {
		writeError(w, http.StatusUnsupportedMediaType, protocol.ErrBadRequest,
			fmt.Sprintf("Content-Type %q; photos are sent as %s, or sealed to the company's photo key as %s", r.Header.Get("Content-Type"), protocol.ContentTypeJPEG, protocol.ContentTypeSealedPhoto))
		return
	}
	limit := int64(protocol.MaxPhotoBytes)
	if sealed {
		limit += int64(photoseal.Overhead)
	}
	punchID := r.Header.Get(protocol.HeaderPunchID)
	if !ValidPunchID(punchID) {
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest,
			fmt.Sprintf("header %s %q is not a lowercase UUID; name the punch the photo belongs to", protocol.HeaderPunchID, punchID))
		return
	}
	tooLarge := func() {
		writeError(w, http.StatusRequestEntityTooLarge, protocol.ErrTooLarge,
			fmt.Sprintf("photo over %d bytes; this photo cannot be uploaded, keep it for a person", protocol.MaxPhotoBytes))
	}
	if r.ContentLength > limit {
		tooLarge()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge()
			return
		}
		writeError(w, http.StatusBadRequest, protocol.ErrBadRequest, "the photo upload broke off; send it again")
		return
	}
	put := s.store.PutPhoto
	if sealed {
		put = s.store.PutSealedPhoto
	}
	dup, err := put(d.ID, sha, punchID, body, s.now())
	if err != nil {
		s.fail(w, r, d.ID, err)
		return
	}
	status := protocol.Accepted
	if dup {
		status = protocol.Duplicate
	}
	writeJSON(w, http.StatusOK, protocol.PhotoResponse{Status: status})
}

func (s *Server) goodbye(w http.ResponseWriter, r *http.Request, d deviceAuth) {
	if err := s.store.Goodbye(d.ID, s.now()); err != nil {
		s.fail(w, r, d.ID, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
