package backoffice

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/sqlitedb"
)

// A foreman's Clock For punches are judged by the roster the kiosk held
// when they were made: made in good faith, they stay accepted when the
// role loses Clock For before they arrive; made under a roster that
// already took the right away, they are rejected.
func TestClockForJudgedByTheKiosksRoster(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	before, err := e.store.RosterVersion()
	if err != nil {
		t.Fatal(err)
	}
	// The office takes Clock For away from foremen; the kiosk, offline,
	// still holds the roster from before.
	if err := e.store.SetRoleFlags("foreman", true, false); err != nil {
		t.Fatal(err)
	}
	after, err := e.store.RosterVersion()
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Fatalf("roster version still %s after a role change", after)
	}
	crew := func(seq int64, rosterVersion string) protocol.Punch {
		p := newPunch(e.ben, seq, punch.In, int(seq))
		p.ClockedBy, p.NoPhoto, p.RosterVersion = e.ana.ID, punch.ClockFor, rosterVersion
		return p
	}
	goodFaith, late, unversioned, future := crew(1, before), crew(2, after), crew(3, ""), crew(4, "r999")
	want := []protocol.PunchResult{
		{Status: protocol.Accepted},
		{Status: protocol.Rejected, Reason: ReasonNotClockFor},
		{Status: protocol.Rejected, Reason: ReasonNotClockFor}, // no version: judged by today's roles
		{Status: protocol.Rejected, Reason: ReasonNotClockFor}, // a version never issued proves nothing
	}
	for i, res := range e.postPunches(token, goodFaith, late, unversioned, future) {
		if res.Status != want[i].Status || res.Reason != want[i].Reason {
			t.Errorf("punch %d: %+v, want %+v", i, res, want[i])
		}
	}
	if p, err := e.store.Punch(goodFaith.ID); err != nil || p.ClockedBy != e.ana.ID {
		t.Errorf("good-faith Clock For punch: %+v, %v", p, err)
	}

	// The right comes back: punches under the new roster pass, and the
	// gap in between stays closed.
	if err := e.store.SetRoleFlags("foreman", true, true); err != nil {
		t.Fatal(err)
	}
	again, _ := e.store.RosterVersion()
	res := e.postPunches(token, crew(5, again), crew(6, after))
	if res[0].Status != protocol.Accepted {
		t.Errorf("Clock For under the roster that gave the right back: %+v", res[0])
	}
	if res[1].Status != protocol.Rejected || res[1].Reason != ReasonNotClockFor {
		t.Errorf("Clock For under the roster without the right, sent now that it is back: %+v", res[1])
	}

	// A foreman made inactive loses the right from that roster on, even
	// though the role keeps it.
	ana := e.ana
	ana.Active = false
	if _, err := e.store.UpdateEmployee(ana, ""); err != nil {
		t.Fatal(err)
	}
	inactive, _ := e.store.RosterVersion()
	res = e.postPunches(token, crew(7, again), crew(8, inactive))
	if res[0].Status != protocol.Accepted || res[1].Status != protocol.Rejected {
		t.Errorf("after the foreman left: %+v", res)
	}
}

// A photo stored by one device cannot be claimed by another device's
// punch. Two punches of one device may carry the very same bytes (a
// covered lens gives the same black frame twice): both are accepted and
// share the photo.
func TestPunchPhotoOwnership(t *testing.T) {
	e := newEnv(t, ServerOptions{})
	_, token := e.enroll()
	_, other := e.enroll()
	jpg := testJPEG(7)
	sha := sha256hex(jpg)
	owner := newPunch(e.ben, 1, punch.In, 1)
	owner.PhotoSHA256, owner.NoPhoto = sha, punch.PhotoTaken
	e.putPhoto(token, sha, owner.ID, jpg).wantStatus(t, http.StatusOK)

	thief := newPunch(e.ana, 1, punch.In, 2)
	thief.PhotoSHA256, thief.NoPhoto = sha, punch.PhotoTaken
	if res := e.postPunches(other, thief); res[0].Status != protocol.Rejected || res[0].Reason != ReasonPhotoOtherDevice {
		t.Errorf("another device's punch naming this photo: %+v, want rejected (%s)", res[0], ReasonPhotoOtherDevice)
	}
	e.putPhoto(other, sha, thief.ID, jpg).wantStatus(t, http.StatusConflict)

	twin := newPunch(e.ben, 2, punch.Out, 3)
	twin.PhotoSHA256, twin.NoPhoto = sha, punch.PhotoTaken
	res := e.postPunches(token, owner, twin)
	if res[0].Status != protocol.Accepted || res[1].Status != protocol.Accepted {
		t.Errorf("a punch and its twin with the same photo: %+v, want both accepted", res)
	}
	// The twin's own photo upload is a duplicate of the stored one.
	e.putPhoto(token, sha, twin.ID, jpg).wantStatus(t, http.StatusOK)
	for _, id := range []string{owner.ID, twin.ID} {
		if p, err := e.store.Punch(id); err != nil || p.PhotoReceivedAt.IsZero() {
			t.Errorf("punch %s: %+v, %v; want its photo there", id, p, err)
		}
	}
	if n := count(t, e.store, "photos"); n != 1 {
		t.Errorf("%d photos stored, want the one shared", n)
	}
}

// A database from before schema 3 gets Clock For grants for the roster it
// had, so punches made under that roster are judged as they should be.
func TestClockForGrantsAfterUpgrade(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCompany("Acme Framing", t0); err != nil {
		t.Fatal(err)
	}
	ana, err := s.CreateEmployee(Employee{Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true}, "1111")
	if err != nil {
		t.Fatal(err)
	}
	ben, err := s.CreateEmployee(Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true}, "2222")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := s.RosterVersion()
	s.Close()
	// Take the database back to schema 2.
	db, err := sql.Open("sqlite3", sqlitedb.DSN(filepath.Join(dir, dbName)))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(append(undoSchema5, undoSchema4...), `DROP TABLE clock_for_grants`, `ALTER TABLE punches DROP COLUMN roster_version`, `PRAGMA user_version = 2`) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open a schema 2 database: %v", err)
	}
	defer s.Close()
	if err := s.SetRoleFlags("foreman", true, false); err != nil {
		t.Fatal(err)
	}
	dev, _, err := s.Enroll(enrollRequest(mustCode(t, s), "inst-1"), t0)
	if err != nil {
		t.Fatal(err)
	}
	p := newPunch(ben, 1, punch.In, 1)
	p.ClockedBy, p.NoPhoto, p.RosterVersion = ana.ID, punch.ClockFor, old
	res, err := s.IngestPunches(dev.ID, []protocol.Punch{p}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != protocol.Accepted {
		t.Errorf("Clock For made under the roster from before the upgrade: %+v, want accepted", res[0])
	}
}

func mustCode(t *testing.T, s *Store) string {
	t.Helper()
	c, err := s.SetupCode(t0)
	if err != nil {
		t.Fatal(err)
	}
	return c.Code
}
