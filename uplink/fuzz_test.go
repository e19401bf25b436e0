package uplink_test

// FuzzServerAnswers feeds the kiosk's side of the protocol answers it
// cannot trust: one endpoint's answer (status, Retry-After and body) comes
// from the fuzzer, the others are a well-behaved back office's. Whatever
// comes, the sync ends without a panic, and the queue changes only as far
// as the answers really said: a punch leaves the waiting list only when an
// answer acknowledged it by ID, a photo only when its upload was answered
// accepted or duplicate, a roster is replaced only by one that parses, and
// the kiosk takes an identity only from a complete enrolment answer. Seed
// corpus: testdata/fuzz/FuzzServerAnswers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/uplink"
)

// The endpoints whose answer the fuzzer writes.
const (
	fuzzEnroll = iota
	fuzzCheckIn
	fuzzRoster
	fuzzPunches
	fuzzPhoto
	fuzzGoodbye // the check-in says the kiosk is disabled
	fuzzEndpoints
)

// The IDs of the two punches waiting in every run.
const (
	fuzzPunch1 = "00000000-0000-4000-8000-000000000001" // with a photo
	fuzzPunch2 = "00000000-0000-4000-8000-000000000002"
)

// fastDir is a temporary folder in memory (/dev/shm) where there is one:
// the queue and the identity files fsync every write, which would make
// each run cost tens of milliseconds on a disk, and durability is not what
// this fuzzes.
func fastDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "siteclock-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// doerFunc answers requests in memory: no sockets, so the fuzzer runs fast.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func answer(r *http.Request, status int, header http.Header, body []byte) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: r,
		ContentLength: int64(len(body))}
}

// goodRoster is what the well-behaved office sends.
func goodRoster(t *testing.T) []byte {
	kdf := roster.KDF{Salt: []byte("0123456789abcdef"), Iterations: roster.MinIterations}
	r, err := roster.New("r7", kdf, roster.Settings{},
		[]roster.Role{{ID: "worker", Name: "Worker", FaceFront: true}},
		[]roster.Employee{{ID: "e1", Number: "1001", Name: "Ana Ruiz", RoleID: "worker", Active: true, PhotoConsent: true,
			PINHash: roster.HashPIN(kdf, "1111")}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := roster.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzServerAnswers(f *testing.F) {
	f.Fuzz(func(t *testing.T, endpoint uint8, status int, retryAfter string, body []byte) {
		which := int(endpoint) % fuzzEndpoints
		if status < 100 || status > 999 {
			status = 200 + (status%100+100)%100 // net/http would refuse such a status line
		}
		fuzzed := func(r *http.Request) *http.Response {
			h := http.Header{}
			h.Set("Content-Type", protocol.ContentTypeJSON)
			if retryAfter != "" {
				h.Set("Retry-After", retryAfter)
			}
			return answer(r, status, h, body)
		}
		rosterJSON := goodRoster(t)
		doer := doerFunc(func(r *http.Request) (*http.Response, error) {
			var in []byte
			if r.Body != nil {
				in, _ = io.ReadAll(r.Body)
			}
			switch {
			case r.URL.Path == protocol.PathEnroll:
				if which == fuzzEnroll {
					return fuzzed(r), nil
				}
				return answer(r, 200, nil, []byte(`{"device_id":"dev-1","token":"tok-1","server_time":"2026-11-22T07:00:00Z"}`)), nil
			case r.URL.Path == protocol.PathCheckIn:
				switch which {
				case fuzzCheckIn:
					return fuzzed(r), nil
				case fuzzGoodbye:
					return answer(r, 200, nil, []byte(`{"server_time":"2026-11-22T07:00:00Z","roster_version":"r7","disabled":true,"sync_every":300}`)), nil
				}
				return answer(r, 200, nil, []byte(`{"server_time":"2026-11-22T07:00:00Z","roster_version":"r7","disabled":false,"sync_every":300}`)), nil
			case r.URL.Path == protocol.PathRoster:
				if which == fuzzRoster {
					return fuzzed(r), nil
				}
				return answer(r, 200, nil, rosterJSON), nil
			case r.URL.Path == protocol.PathPunches:
				if which == fuzzPunches {
					return fuzzed(r), nil
				}
				var b protocol.PunchBatch
				if err := json.Unmarshal(in, &b); err != nil {
					t.Fatalf("the kiosk sent a batch that is not JSON: %v", err)
				}
				var res protocol.PunchBatchResponse
				for _, p := range b.Punches {
					res.Results = append(res.Results, protocol.PunchResult{ID: p.ID, Status: protocol.Accepted})
				}
				out, _ := json.Marshal(res)
				return answer(r, 200, nil, out), nil
			case strings.HasPrefix(r.URL.Path, protocol.PathPhotos):
				if which == fuzzPhoto {
					return fuzzed(r), nil
				}
				return answer(r, 200, nil, []byte(`{"status":"accepted"}`)), nil
			case r.URL.Path == protocol.PathGoodbye:
				if which == fuzzGoodbye {
					return fuzzed(r), nil
				}
				return answer(r, 204, nil, nil), nil
			}
			return nil, fmt.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		})

		dir := fastDir(t)
		q, err := queue.Open(dir, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		up, err := uplink.New(uplink.Options{ServerURL: "https://office.example", Queue: q, HTTP: doer, Version: "fuzz",
			Hardware: "Simulator", Nickname: "Fuzz", BootID: func() string { return "boot" }, BootTime: func() time.Duration { return time.Hour }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Two punches wait, one with a photo.
		at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
		photo := []byte("\xff\xd8\xff\xe0 a photo")
		// Fixed IDs, so that the corpus can answer for them.
		p1 := punch.Punch{ID: fuzzPunch1, EmployeeID: "e1", EmployeeNumber: "1001", Direction: punch.In, At: at, BootID: "boot"}
		p2 := punch.Punch{ID: fuzzPunch2, EmployeeID: "e1", EmployeeNumber: "1001", Direction: punch.Out, At: at.Add(time.Hour),
			BootID: "boot", NoPhoto: punch.NoCamera}
		if _, err := q.Commit(ctx, []punch.Punch{p1}, photo); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Commit(ctx, []punch.Punch{p2}, nil); err != nil {
			t.Fatal(err)
		}

		enrolled := up.Enroll(ctx, "12345678") == kiosk.EnrollOK
		if err := up.SyncOnce(ctx); err != nil && ctx.Err() != nil {
			t.Fatalf("the sync hung: %v", err)
		}
		_, idErr := os.Stat(filepath.Join(dir, "device.json"))

		// Did the fuzzed answer say yes? The kiosk takes a 2xx, and a
		// 304 (meant for the roster), as an answer to read.
		answered := status >= 200 && status < 300 || status == http.StatusNotModified
		if which == fuzzEnroll {
			var er protocol.EnrollResponse
			complete := answered && json.Unmarshal(body, &er) == nil && er.DeviceID != "" && er.Token != ""
			if enrolled != complete || (idErr == nil) != complete {
				t.Fatalf("enrolment answer %d %q: enrolled %v, identity saved %v; want both %v", status, body, enrolled, idErr == nil, complete)
			}
		} else if !enrolled {
			t.Fatal("the well-behaved enrolment failed")
		}

		waiting, err := q.Unsent(0)
		if err != nil {
			t.Fatal(err)
		}
		isWaiting := map[string]bool{}
		for _, p := range waiting {
			isWaiting[p.ID] = true
		}
		rejected, err := q.Rejected()
		if err != nil {
			t.Fatal(err)
		}
		punchRejected, photoRejected := map[string]bool{}, map[string]bool{}
		for _, r := range rejected {
			if r.Reason != "" {
				punchRejected[r.Punch.ID] = true
			}
			if r.PhotoReason != "" {
				photoRejected[r.Punch.ID] = true
			}
		}
		st, err := q.Stats()
		if err != nil {
			t.Fatal(err)
		}

		switch which {
		case fuzzEnroll, fuzzCheckIn:
			// Without a readable check-in answer nothing is uploaded;
			// with one, everything is (the rest of the office behaves).
			var ci protocol.CheckInResponse
			usable := enrolled && (which == fuzzEnroll || answered && json.Unmarshal(body, &ci) == nil)
			if want := map[bool]int{true: 0, false: 2}[usable]; len(waiting) != want {
				t.Errorf("after check-in answer %d %q: %d punches waiting, want %d", status, body, len(waiting), want)
			}
		case fuzzRoster:
			held, err := q.RosterVersion()
			if err != nil {
				t.Fatal(err)
			}
			r, perr := roster.Parse(bytes.NewReader(body))
			valid := status >= 200 && status < 300 && perr == nil && r.Version != ""
			switch {
			case held != "" && (!valid || r.Version != held):
				t.Errorf("the kiosk took roster %q from answer %d (parse: %v)", held, status, perr)
			case held == "" && valid:
				t.Errorf("the kiosk refused roster %q from answer %d", r.Version, status)
			}
			if len(waiting) != 0 {
				t.Errorf("a bad roster answer held up the punches: %d waiting", len(waiting))
			}
		case fuzzPunches:
			var res protocol.PunchBatchResponse
			acked, refused := map[string]bool{}, map[string]bool{}
			if answered && json.Unmarshal(body, &res) == nil {
				for _, r := range res.Results {
					switch r.Status {
					case protocol.Accepted, protocol.Duplicate:
						acked[r.ID] = true
					case protocol.Rejected:
						refused[r.ID] = true
					}
				}
			}
			for _, p := range []punch.Punch{p1, p2} {
				switch {
				case isWaiting[p.ID]:
				case punchRejected[p.ID]:
					if !refused[p.ID] {
						t.Errorf("punch %s marked refused; the answer %d %q did not refuse it", p.ID, status, body)
					}
				case !acked[p.ID]:
					t.Errorf("punch %s left the queue; the answer %d %q did not acknowledge it", p.ID, status, body)
				}
			}
		case fuzzPhoto:
			var pr protocol.PhotoResponse
			said := answered && json.Unmarshal(body, &pr) == nil && (pr.Status == protocol.Accepted || pr.Status == protocol.Duplicate)
			if len(waiting) != 0 {
				t.Errorf("punches still waiting after well-behaved answers: %d", len(waiting))
			}
			var pe protocol.Error
			refusal := status >= 400 && status < 500 && json.Unmarshal(body, &pe) == nil && pe.Code != ""
			switch {
			case photoRejected[p1.ID]:
				if !refusal {
					t.Errorf("photo given up after answer %d %q, which is no refusal", status, body)
				}
			case st.PhotosWaiting == 0 && !said:
				t.Errorf("photo marked sent after answer %d %q", status, body)
			}
		case fuzzGoodbye:
			d, err := q.Device()
			if err != nil {
				t.Fatal(err)
			}
			if len(waiting) != 0 || st.PhotosWaiting != 0 {
				t.Errorf("the last transmission left %d punches and %d photos", len(waiting), st.PhotosWaiting)
			}
			var pe protocol.Error
			gone := status == http.StatusForbidden && json.Unmarshal(body, &pe) == nil && pe.Code == protocol.ErrDisabled
			if d.Disabled != (answered || gone) {
				t.Errorf("goodbye answered %d %q: the kiosk records disabled %v", status, body, d.Disabled)
			}
		}
	})
}
