package timecard

import (
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// A pair with a punch whose time the office could not verify says so; its
// hours count as usual.
func TestPairTimeUnverified(t *testing.T) {
	mon := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	ps := []Punch{
		{ID: "1", Direction: punch.In, At: mon},
		{ID: "2", Direction: punch.Out, At: mon.Add(8 * time.Hour)},
		{ID: "3", Direction: punch.In, At: mon.Add(24 * time.Hour), TimeUnverified: true},
		{ID: "4", Direction: punch.Out, At: mon.Add(32 * time.Hour)},
		{ID: "5", Direction: punch.Out, At: mon.Add(50 * time.Hour), TimeUnverified: true},
	}
	weeks := Build(ps, time.UTC, time.Monday, mon.Add(72*time.Hour), 16*time.Hour)
	if len(weeks) != 1 || len(weeks[0].Days) != 3 {
		t.Fatalf("weeks = %+v", weeks)
	}
	days := weeks[0].Days
	want := []bool{false, true, true}
	for i, d := range days {
		if got := d.Pairs[0].TimeUnverified(); got != want[i] {
			t.Errorf("day %d: TimeUnverified %v, want %v", i, got, want[i])
		}
	}
	if weeks[0].Total != 16*time.Hour {
		t.Errorf("total %v: unverified hours must still count", weeks[0].Total)
	}
}
