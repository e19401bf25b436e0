package backoffice_test

// Fuzz tests of the device API's request decoding and validation: whatever
// a kiosk (or anyone with its token) sends, the server answers 2xx or a
// 4xx with a protocol.Error in JSON, never a 5xx or a panic, and a refused
// request changes nothing. Seed corpora are in testdata/fuzz/<FuzzName>;
// `make fuzz-short` runs each target for a few seconds.
//
// Bodies may hold placeholders the test fills in with what the store
// holds, so that the fuzzer can reach the paths past validation: $CODE
// (the setup code), $ANA (a foreman), $BEN (a worker), $CARLA (office),
// $ROSTER (the roster version), $SHA and $PUNCH (a stored punch waiting
// for its photo, and that photo's hash), $PHOTO (that photo).

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
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
)

// fuzzOffice is a store with a company, three people, an enrolled device
// and a punch whose photo has not come yet, behind the device API.
type fuzzOffice struct {
	store      *backoffice.Store
	dir        string
	h          http.Handler
	token, id  string
	replacer   *strings.Replacer
	photo      []byte
	photoSHA   string
	photoPunch string
}

// fuzzDir is a temporary folder in memory (/dev/shm) where there is one:
// every accepted write is fsync'd, which on a disk would hold the fuzzer
// to a few dozen runs a second, and durability is not what this fuzzes.
func fuzzDir(f *testing.F) string {
	dir, err := os.MkdirTemp("/dev/shm", "siteclock-fuzz-")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newFuzzOffice(f *testing.F) *fuzzOffice {
	f.Helper()
	o := &fuzzOffice{dir: fuzzDir(f)}
	s, err := backoffice.Open(o.dir, backoffice.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	o.store = s
	now := time.Now()
	if _, err := s.CreateCompany("Fuzz Framing", now); err != nil {
		f.Fatal(err)
	}
	emp := func(e backoffice.Employee, pin string) backoffice.Employee {
		e, err := s.CreateEmployee(e, pin)
		if err != nil {
			f.Fatal(err)
		}
		return e
	}
	ana := emp(backoffice.Employee{Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true, PhotoConsent: true}, "1111")
	ben := emp(backoffice.Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true, PhotoConsent: true}, "2222")
	carla := emp(backoffice.Employee{Number: "1003", Name: "Carla Diaz", RoleID: "office", Active: true}, "3333")
	code, err := s.SetupCode(now)
	if err != nil {
		f.Fatal(err)
	}
	d, token, err := s.Enroll(protocol.EnrollRequest{SetupCode: code.Code, Nickname: "Fuzz trailer", Hardware: "Simulator",
		Version: "1.0", InstallationID: "fuzz-installation", PublicKey: make([]byte, 32)}, now)
	if err != nil {
		f.Fatal(err)
	}
	o.id, o.token = d.ID, token
	version, err := s.RosterVersion()
	if err != nil {
		f.Fatal(err)
	}

	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		f.Fatal(err)
	}
	o.photo = b.Bytes()
	sum := sha256.Sum256(o.photo)
	o.photoSHA = hex.EncodeToString(sum[:])
	o.photoPunch = uuid.NewString()
	res, err := s.IngestPunches(d.ID, []protocol.Punch{{ID: o.photoPunch, Seq: 1, EmployeeID: ben.ID, EmployeeNumber: ben.Number,
		Direction: punch.In, At: now, BootID: "boot-fuzz", PhotoSHA256: o.photoSHA}}, now)
	if err != nil || res[0].Status != protocol.Accepted {
		f.Fatalf("the punch waiting for its photo: %+v, %v", res, err)
	}

	// A release chosen for every device, so that check-ins that say
	// "arm64" and another version are offered it.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	bin := []byte("siteclockd 1.3.0 for arm64")
	binSum := sha256.Sum256(bin)
	manifest, err := firmware.Sign(firmware.Manifest{Product: firmware.Product, Version: "1.3.0", Arch: "arm64", Size: int64(len(bin)),
		SHA256: hex.EncodeToString(binSum[:]), Created: now}, key)
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := s.AddRelease(manifest, bytes.NewReader(bin), "fuzz", backoffice.ReleaseOptions{}, now); err != nil {
		f.Fatal(err)
	}
	if _, err := s.SetUpdateTarget("", "1.3.0", "fuzz", now); err != nil {
		f.Fatal(err)
	}

	o.replacer = strings.NewReplacer("$CODE", code.Code, "$ANA", ana.ID, "$BEN", ben.ID, "$CARLA", carla.ID,
		"$ROSTER", version, "$SHA", o.photoSHA, "$PUNCH", o.photoPunch)
	o.h = backoffice.NewServer(s, backoffice.ServerOptions{
		EnrollPerAddress: backoffice.Rate{PerMinute: 1e9, Burst: 1e9},
		EnrollTotal:      backoffice.Rate{PerMinute: 1e9, Burst: 1e9},
	}).Handler()
	return o
}

func (o *fuzzOffice) fill(b []byte) []byte { return []byte(o.replacer.Replace(string(b))) }

// serve sends one request through the device API's handler.
func (o *fuzzOffice) serve(method, path, token, contentType string, body []byte, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	o.h.ServeHTTP(rec, req)
	return rec
}

// snapshot is what a refused request must leave as it was.
type snapshot struct {
	devices  []backoffice.Device
	punches  []backoffice.Punch
	rejected int
	photos   []string // files in the photos folder
}

func (o *fuzzOffice) snapshot(t *testing.T) snapshot {
	t.Helper()
	var s snapshot
	var err error
	if s.devices, err = o.store.Devices(); err != nil {
		t.Fatal(err)
	}
	if s.punches, err = o.store.Punches(backoffice.PunchFilter{}); err != nil {
		t.Fatal(err)
	}
	rj, err := o.store.RejectedPunches()
	if err != nil {
		t.Fatal(err)
	}
	s.rejected = len(rj)
	entries, err := os.ReadDir(filepath.Join(o.dir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		s.photos = append(s.photos, e.Name())
	}
	return s
}

// unchanged fails t if anything differs from before.
func (o *fuzzOffice) unchanged(t *testing.T, before snapshot, rec *httptest.ResponseRecorder) {
	t.Helper()
	after := o.snapshot(t)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("a refused request (%d %s) changed the store:\nbefore %+v\nafter  %+v", rec.Code, rec.Body, before, after)
	}
}

// knownCodes are the protocol's error codes.
var knownCodes = map[string]bool{
	protocol.ErrBadRequest: true, protocol.ErrTooLarge: true, protocol.ErrWrongCode: true, protocol.ErrExpiredCode: true,
	protocol.ErrRateLimited: true, protocol.ErrUnauthorized: true, protocol.ErrDisabled: true, protocol.ErrForbidden: true,
	protocol.ErrConflict: true, protocol.ErrNotFound: true,
}

// answered checks the answer's form and reports whether it was 2xx; a
// 4xx must be a protocol.Error, and nothing else may come back.
func answered(t *testing.T, rec *httptest.ResponseRecorder) bool {
	t.Helper()
	switch {
	case rec.Code >= 200 && rec.Code < 300:
		return true
	case rec.Code >= 400 && rec.Code < 500:
	default:
		t.Fatalf("answer %d %s; want 2xx or a 4xx refusal", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != protocol.ContentTypeJSON {
		t.Errorf("a %d answer of type %q; want JSON", rec.Code, ct)
	}
	var e protocol.Error
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || !knownCodes[e.Code] || strings.TrimSpace(e.Message) == "" {
		t.Errorf("a %d answer that is not a protocol error (%v): %s", rec.Code, err, rec.Body)
	}
	return false
}

func FuzzEnroll(f *testing.F) {
	o := newFuzzOffice(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := o.snapshot(t)
		rec := o.serve("POST", protocol.PathEnroll, "", protocol.ContentTypeJSON, o.fill(body))
		if !answered(t, rec) {
			o.unchanged(t, before, rec)
			return
		}
		var er protocol.EnrollResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.DeviceID == "" || er.Token == "" {
			t.Fatalf("enrolment answer %s (%v)", rec.Body, err)
		}
		if n := len(o.snapshot(t).devices); n != len(before.devices) && n != len(before.devices)+1 {
			t.Errorf("one enrolment took the devices from %d to %d", len(before.devices), n)
		}
		// The new token works.
		if c := o.serve("POST", protocol.PathCheckIn, er.Token, protocol.ContentTypeJSON, []byte(`{}`)); c.Code != http.StatusOK {
			t.Errorf("check-in with the new token: %d %s", c.Code, c.Body)
		}
	})
}

func FuzzCheckIn(f *testing.F) {
	o := newFuzzOffice(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := o.snapshot(t)
		rec := o.serve("POST", protocol.PathCheckIn, o.token, protocol.ContentTypeJSON, o.fill(body))
		if !answered(t, rec) {
			o.unchanged(t, before, rec)
			return
		}
		var ans protocol.CheckInResponse
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ans); err != nil || ans.ServerTime.IsZero() || ans.RosterVersion == "" || ans.SyncEvery <= 0 || ans.Disabled {
			t.Errorf("check-in answer %+v (%v)", ans, err)
		}
		if u := ans.Update; u != nil && (!strings.HasPrefix(u.Path, protocol.PathRelease) || len(u.Manifest) == 0) {
			t.Errorf("update offer %+v", u)
		}
	})
}

func FuzzPunchBatch(f *testing.F) {
	o := newFuzzOffice(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		body = o.fill(body)
		before := o.snapshot(t)
		rec := o.serve("POST", protocol.PathPunches, o.token, protocol.ContentTypeJSON, body)
		if !answered(t, rec) {
			o.unchanged(t, before, rec)
			return
		}
		// The server took the batch as it is: so does this.
		var batch protocol.PunchBatch
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Fatalf("the server accepted a batch json refuses: %v", err)
		}
		var ans protocol.PunchBatchResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
			t.Fatalf("answer %s: %v", rec.Body, err)
		}
		if len(ans.Results) != len(batch.Punches) {
			t.Fatalf("%d results for %d punches", len(ans.Results), len(batch.Punches))
		}
		seen := map[string]bool{}
		for i, r := range ans.Results {
			p := batch.Punches[i]
			if r.ID != p.ID {
				t.Errorf("result %d names %q, the punch is %q", i, r.ID, p.ID)
			}
			switch r.Status {
			case protocol.Accepted:
				sp, err := o.store.Punch(p.ID)
				if err != nil || sp.DeviceID != o.id || sp.EmployeeID != p.EmployeeID || sp.Seq != p.Seq || sp.Direction != p.Direction || !sp.At.Equal(p.At) {
					t.Errorf("accepted punch %d is not stored as sent: %+v, %v", i, sp, err)
				}
			case protocol.Duplicate:
				if !seen[p.ID] {
					t.Errorf("punch %d answered duplicate without an earlier copy in the batch", i)
				}
			case protocol.Rejected:
				if strings.TrimSpace(r.Reason) == "" {
					t.Errorf("punch %d rejected without a reason", i)
				}
			default:
				t.Errorf("punch %d: status %q", i, r.Status)
			}
			seen[p.ID] = true
		}
	})
}

func FuzzPhotoUpload(f *testing.F) {
	o := newFuzzOffice(f)
	f.Fuzz(func(t *testing.T, sha, punchID, contentType string, body []byte) {
		if string(body) == "$PHOTO" {
			body = o.photo
		}
		sha, punchID = o.replacer.Replace(sha), o.replacer.Replace(punchID)
		before := o.snapshot(t)
		rec := o.serve("PUT", protocol.PathPhotos+url.PathEscape(sha), o.token, contentType, body, protocol.HeaderPunchID, punchID)
		if !answered(t, rec) {
			o.unchanged(t, before, rec)
			return
		}
		var ans protocol.PhotoResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || (ans.Status != protocol.Accepted && ans.Status != protocol.Duplicate) {
			t.Fatalf("photo answer %s (%v)", rec.Body, err)
		}
		got, err := o.store.Photo(sha)
		if err != nil && !errors.Is(err, backoffice.ErrPhotoDeleted) {
			t.Errorf("photo %s acknowledged (%s) but not stored: %v", sha, ans.Status, err)
		}
		if err == nil && ans.Status == protocol.Accepted && !bytes.Equal(got, body) {
			t.Errorf("photo %s stored as %d bytes, %d sent", sha, len(got), len(body))
		}
		if n := len(o.snapshot(t).photos); n > len(before.photos)+1 {
			t.Errorf("one upload added %d files", n-len(before.photos))
		}
	})
}
