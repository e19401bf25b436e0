package punch

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
)

// A kiosk's punches form a signed hash chain. Each punch's message (its
// canonical bytes, below) includes its chain, its sequence number and the
// hash of the punch before it in the chain; the punch's hash is the
// SHA-256 of its message and the kiosk signs the message with its ed25519
// device key when the punch is committed. The back office checks the
// signature with the public key the kiosk enrolled with and the link with
// the punch it holds at the previous sequence number, so a punch changed,
// removed or replayed after it was committed shows, rather than the SD card
// being taken at its word.
//
// A chain is one kiosk database: a kiosk that starts a new database (after
// moving a damaged one aside) starts a new chain with a new ChainID, its
// sequence numbers from 1 again.

// messageMagic starts every punch message, so that a signature over a punch
// can never be read as a signature over anything else.
const messageMagic = "siteclock punch v1"

// Clock flags as they appear in the message.
const (
	flagSynced   = 1 << 0
	flagAnchored = 1 << 1
	flagBehind   = 1 << 2
)

// Message returns the canonical bytes of p that its hash and signature
// cover: every field the kiosk sends to the back office, in a fixed order,
// strings and byte strings as a 4-byte big-endian length and the bytes,
// integers as 8-byte big-endian two's complement:
//
//	"siteclock punch v1", ChainID, Seq, PrevHash, ID, EmployeeID,
//	EmployeeNumber, Direction, At (Unix ns), BootID, BootTime (ns),
//	ClockedBy, RosterVersion, PhotoSHA256, NoPhoto, and one byte of clock
//	flags (1 Synced, 2 Anchored, 4 Behind).
//
// At counts as an instant: its zone offset, which only decides how it is
// shown, is left out. EmployeeName, Photo (a local file name), Hash and
// Signature are not part of it. docs/protocol.md documents the same bytes
// for other kiosks.
func (p Punch) Message() []byte {
	b := make([]byte, 0, 320)
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { b = binary.BigEndian.AppendUint64(b, uint64(n)) }
	str(messageMagic)
	str(p.ChainID)
	num(p.Seq)
	str(string(p.PrevHash))
	str(p.ID)
	str(p.EmployeeID)
	str(p.EmployeeNumber)
	str(string(p.Direction))
	num(p.At.UnixNano())
	str(p.BootID)
	num(int64(p.BootTime))
	str(p.ClockedBy)
	str(p.RosterVersion)
	str(p.PhotoSHA256)
	str(string(p.NoPhoto))
	var flags byte
	if p.Clock.Synced {
		flags |= flagSynced
	}
	if p.Clock.Anchored {
		flags |= flagAnchored
	}
	if p.Clock.Behind {
		flags |= flagBehind
	}
	return append(b, flags)
}

// HashMessage returns the SHA-256 of a punch message: the punch's hash,
// which the next punch in the chain carries as its PrevHash.
func HashMessage(msg []byte) []byte {
	h := sha256.Sum256(msg)
	return h[:]
}

// Sign sets p's Hash from its message and, when key is not nil, its
// Signature; ChainID, Seq and PrevHash must be set first. With a nil key
// the punch is chained but unsigned.
func (p *Punch) Sign(key ed25519.PrivateKey) {
	msg := p.Message()
	p.Hash = HashMessage(msg)
	p.Signature = nil
	if key != nil {
		p.Signature = ed25519.Sign(key, msg)
	}
}

// Signed reports whether p carries a signature.
func (p Punch) Signed() bool { return len(p.Signature) > 0 }

// Verify reports whether p's signature is the device key pub's signature
// of p's message. A malformed key or signature does not verify.
func (p Punch) Verify(pub ed25519.PublicKey) bool {
	if len(pub) != ed25519.PublicKeySize || len(p.Signature) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, p.Message(), p.Signature)
}
