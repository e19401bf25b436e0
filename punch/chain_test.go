package punch

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"
)

func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

func samplePunch() Punch {
	return Punch{
		ID: "3b241101-e2bb-4255-8caf-4136c566a962", Seq: 42, EmployeeID: "emp-1", EmployeeNumber: "1002", EmployeeName: "Ben Cole",
		Direction: In, At: time.Date(2026, 11, 23, 6, 58, 10, 5, time.FixedZone("", -6*3600)),
		BootTime: time.Hour, BootID: "boot-1", ClockedBy: "emp-9", RosterVersion: "r42",
		PhotoSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Clock:       Clock{Synced: true, Behind: true},
		ChainID:     "c0ffee", PrevHash: bytes.Repeat([]byte{1}, 32),
	}
}

// The message is a published format (docs/protocol.md): other kiosks and
// the back office compute it, so its bytes must not change by accident.
// The hash below was computed from the documented layout by a separate
// implementation (a few lines of Python's struct and hashlib).
func TestMessageKnownAnswer(t *testing.T) {
	p := samplePunch()
	p.Sign(testKey())
	const wantHash = "90e62a6153b035e20839a47bd48fcbb0fc5511204a8c27bd6e5cc95f7ff4faf9"
	if got := hex.EncodeToString(p.Hash); got != wantHash {
		t.Errorf("hash = %s, want %s (the message format changed: update docs/protocol.md and bump the magic)", got, wantHash)
	}
	msg := p.Message()
	// Spot checks of the layout: the magic first, the flags byte last.
	if !bytes.HasPrefix(msg, append([]byte{0, 0, 0, 18}, "siteclock punch v1"...)) {
		t.Errorf("message starts %q", msg[:22])
	}
	if msg[len(msg)-1] != flagSynced|flagBehind {
		t.Errorf("flags byte = %#x", msg[len(msg)-1])
	}
	if !p.Verify(testKey().Public().(ed25519.PublicKey)) {
		t.Error("a punch does not verify with its own key")
	}
}

// Every field the kiosk sends is covered: changing any of them breaks the
// signature and changes the hash. What is not sent (the name, the local
// photo file) or only decides how the time is shown (the zone) is not.
func TestMessageCoversEveryField(t *testing.T) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	orig := samplePunch()
	orig.Sign(key)
	edits := map[string]func(*Punch){
		"chain":           func(p *Punch) { p.ChainID = "c0ffef" },
		"seq":             func(p *Punch) { p.Seq++ },
		"prev hash":       func(p *Punch) { p.PrevHash = bytes.Repeat([]byte{2}, 32) },
		"id":              func(p *Punch) { p.ID = "3b241101-e2bb-4255-8caf-4136c566a963" },
		"employee":        func(p *Punch) { p.EmployeeID = "emp-2" },
		"employee number": func(p *Punch) { p.EmployeeNumber = "1003" },
		"direction":       func(p *Punch) { p.Direction = Out },
		"time":            func(p *Punch) { p.At = p.At.Add(time.Nanosecond) },
		"boot id":         func(p *Punch) { p.BootID = "boot-2" },
		"boot time":       func(p *Punch) { p.BootTime += time.Second },
		"clocked by":      func(p *Punch) { p.ClockedBy = "" },
		"roster":          func(p *Punch) { p.RosterVersion = "r43" },
		"photo":           func(p *Punch) { p.PhotoSHA256 = "" },
		"no photo":        func(p *Punch) { p.NoPhoto = NoCamera },
		"synced":          func(p *Punch) { p.Clock.Synced = false },
		"anchored":        func(p *Punch) { p.Clock.Anchored = true },
		"behind":          func(p *Punch) { p.Clock.Behind = false },
		// Moving bytes between neighbouring fields must not give the
		// same message: the lengths are part of it.
		"field boundary": func(p *Punch) { p.EmployeeID, p.EmployeeNumber = "emp-11", "002" },
	}
	for name, edit := range edits {
		p := orig
		edit(&p)
		if p.Verify(pub) {
			t.Errorf("%s: an edited punch still verifies", name)
		}
		if bytes.Equal(HashMessage(p.Message()), orig.Hash) {
			t.Errorf("%s: an edited punch has the same hash", name)
		}
	}
	same := map[string]func(*Punch){
		"name":  func(p *Punch) { p.EmployeeName = "Benjamin Cole" },
		"file":  func(p *Punch) { p.Photo = "x.jpg" },
		"zone":  func(p *Punch) { p.At = p.At.UTC() },
		"stamp": func(p *Punch) { p.Hash = nil },
	}
	for name, edit := range same {
		p := orig
		edit(&p)
		if !p.Verify(pub) {
			t.Errorf("%s: changing it broke the signature", name)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	key := testKey()
	p := samplePunch()
	p.Sign(key)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	if p.Verify(other.Public().(ed25519.PublicKey)) {
		t.Error("verifies with another device's key")
	}
	if p.Verify(nil) {
		t.Error("verifies with no key")
	}
	short := p
	short.Signature = p.Signature[:10]
	if short.Verify(key.Public().(ed25519.PublicKey)) {
		t.Error("a cut signature verifies")
	}
	unsigned := samplePunch()
	unsigned.Sign(nil)
	if unsigned.Signed() || len(unsigned.Hash) != 32 {
		t.Errorf("Sign(nil): signed %v, hash %x", unsigned.Signed(), unsigned.Hash)
	}
	if unsigned.Verify(key.Public().(ed25519.PublicKey)) {
		t.Error("an unsigned punch verifies")
	}
}
