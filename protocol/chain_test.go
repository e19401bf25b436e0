package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// A signed punch survives the trip through JSON: what the server rebuilds
// from the wire has the kiosk's message, so the signature verifies, in any
// zone and to the nanosecond.
func TestSignedPunchThroughJSON(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		chicago = time.FixedZone("CST", -6*3600)
	}
	p := punch.Punch{
		ID: "3b241101-e2bb-4255-8caf-4136c566a962", Seq: 7, EmployeeID: "e1", EmployeeNumber: "1002", EmployeeName: "not sent",
		Direction: punch.Out, At: time.Date(2026, 3, 8, 1, 59, 59, 999999999, chicago), BootTime: 90*time.Second + 1,
		BootID: "boot", ClockedBy: "e9", RosterVersion: "r3", NoPhoto: punch.ClockFor, Photo: "local.jpg",
		Clock:   punch.Clock{Synced: true, Anchored: true},
		ChainID: "0123456789abcdef0123456789abcdef", PrevHash: bytes.Repeat([]byte{9}, 32),
	}
	p.Sign(key)
	b, err := json.Marshal(WirePunch(p))
	if err != nil {
		t.Fatal(err)
	}
	var w Punch
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	got := w.Punch()
	if !got.Verify(key.Public().(ed25519.PublicKey)) {
		t.Errorf("the punch rebuilt from %s does not verify", b)
	}
	if !bytes.Equal(punch.HashMessage(got.Message()), p.Hash) {
		t.Error("the punch rebuilt from the wire has another hash")
	}
	// An unsigned punch from before the chain leaves the fields out.
	var legacy map[string]any
	b, _ = json.Marshal(WirePunch(punch.Punch{ID: "x", Direction: punch.In, At: p.At}))
	json.Unmarshal(b, &legacy)
	for _, f := range []string{"chain_id", "prev_hash", "signature", "clock_synced", "clock_anchored", "clock_behind"} {
		if _, ok := legacy[f]; ok {
			t.Errorf("an unsigned punch sends %q: %s", f, b)
		}
	}
}
