package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
)

// TestRejectedPunchesAreShown: a punch the back office refused stays on the
// kiosk, and IT can see it and why.
func TestRejectedPunchesAreShown(t *testing.T) {
	state := t.TempDir()
	db, err := queue.Open(state, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)
	ps := []punch.Punch{
		{ID: "7b0c5a56-0000-4000-8000-000000000001", EmployeeID: "e9", EmployeeNumber: "9009", EmployeeName: "Gone Person", Direction: punch.In, At: at, NoPhoto: punch.RoleFaceFrontOff},
		{ID: "7b0c5a56-0000-4000-8000-000000000002", EmployeeID: "e1", EmployeeNumber: "1001", EmployeeName: "Ana Ruiz", Direction: punch.In, At: at, NoPhoto: punch.RoleFaceFrontOff},
	}
	for _, p := range ps {
		if _, err := db.Commit(context.Background(), []punch.Punch{p}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MarkRejected(ps[0].ID, "unknown employee", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	var out, errb bytes.Buffer
	if err := run([]string{"punches", "-rejected", "-state", state}, nil, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if got := out.String(); !strings.Contains(got, "9009") || !strings.Contains(got, "unknown employee") || strings.Contains(got, "Ana Ruiz") {
		t.Errorf("punches -rejected:\n%s\nwant the refused punch with its reason, and only it", got)
	}
	out.Reset()
	if err := run([]string{"status", "-state", state}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "1 refused by the back office") || !strings.Contains(got, "1 waiting") {
		t.Errorf("status:\n%s\nwant 1 refused and 1 waiting", got)
	}
}
