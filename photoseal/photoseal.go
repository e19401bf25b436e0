// Package photoseal seals punch photos to the company's photo key, so that
// a kiosk's SD card holds no viewable faces: the kiosk seals each photo the
// moment it is stored, with the company's public key only, and the back
// office opens it with the private key it keeps.
//
// A sealed photo is
//
//	"siteclock sealed photo v1\n"   Magic, 26 bytes
//	SHA-256 of the JPEG inside       32 bytes, in the clear
//	NaCl anonymous sealed box        the JPEG sealed to the company key
//
// The sealed box is libsodium's crypto_box_seal: a fresh X25519 key pair
// per photo, its public half (32 bytes), then the JPEG encrypted and
// authenticated with XSalsa20-Poly1305 under the shared key (16 bytes of
// tag). Only the holder of the company's private key can open it; the
// kiosk that sealed it cannot.
//
// Why NaCl's sealed box (golang.org/x/crypto/nacl/box) and not age: the
// module is already a dependency, the format is a few lines anyone can
// reimplement from this comment (libsodium, PyNaCl and TweetNaCl have it),
// and a photo is small enough to seal in memory, so age's streaming,
// several recipients and passphrases would be weight without use. Several
// recipients would be age's advantage for key rotation, which siteclock
// does not do yet (see PrivateKey).
//
// Why the hash is in the clear: the kiosk names a photo by the SHA-256 of
// its JPEG (the protocol's idempotency key, which links a punch to its
// photo) and must know it without being able to open the photo. A hash
// shows nothing of the face. Open checks it against the JPEG inside, so an
// edited header is caught like an edited box.
package photoseal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// Magic starts every sealed photo. A JPEG starts with FF D8 FF, so the two
// never look alike.
const Magic = "siteclock sealed photo v1\n"

// Overhead is how many bytes longer a sealed photo is than its JPEG.
const Overhead = len(Magic) + sha256.Size + box.AnonymousOverhead

// Errors that tell why a sealed photo cannot be used.
var (
	// ErrNotSealed means the bytes are not a sealed photo (no Magic, or too
	// short to hold one).
	ErrNotSealed = errors.New("photoseal: not a sealed photo")
	// ErrCannotOpen means the box does not open with the key: it was
	// altered after sealing, or sealed to another key.
	ErrCannotOpen = errors.New("photoseal: sealed photo cannot be opened")
	// ErrHashMismatch means the box opened but its JPEG does not have the
	// hash written in the clear before it: the header was altered.
	ErrHashMismatch = errors.New("photoseal: sealed photo does not match its hash")
)

// Key file texts: a label, a space, base64 of the 32 bytes. The label
// tells the two halves apart, so that a private key copied where a public
// one belongs is refused rather than used as a public key (photos sealed
// to it could never be opened).
const (
	publicLabel  = "siteclock-photo-public-key"
	privateLabel = "siteclock-photo-private-key"
)

// PublicKey is the company's X25519 public photo key, to which kiosks seal.
type PublicKey [32]byte

// PrivateKey is the company's X25519 photo key pair, kept by the back
// office only. There is one per company; rotating it is not supported yet
// (a new key would have to be sent to every kiosk, and photos already
// sealed to the old one still opened with it).
type PrivateKey struct {
	pub, priv [32]byte
}

// GenerateKey makes a new key pair from r (crypto/rand when nil).
func GenerateKey(r io.Reader) (*PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	pub, priv, err := box.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("photoseal: generate key: %w", err)
	}
	return &PrivateKey{pub: *pub, priv: *priv}, nil
}

// Public returns the public half, for kiosks.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// NewPublicKey checks b as a public key: 32 bytes, not all zero (the
// point at infinity, to which sealing would be no secret at all).
func NewPublicKey(b []byte) (PublicKey, error) {
	var k PublicKey
	if len(b) != len(k) {
		return PublicKey{}, fmt.Errorf("photoseal: a public key is %d bytes, not %d", len(k), len(b))
	}
	copy(k[:], b)
	if k == (PublicKey{}) {
		return PublicKey{}, errors.New("photoseal: the public key is all zeros")
	}
	return k, nil
}

// String is the key as a key file holds it, without the newline.
func (k PublicKey) String() string {
	return publicLabel + " " + base64.StdEncoding.EncodeToString(k[:])
}

// Fingerprint is a short name for the key, for logs and status lines: the
// first 8 bytes of its SHA-256 in hex.
func (k PublicKey) Fingerprint() string {
	sum := sha256.Sum256(k[:])
	return fmt.Sprintf("%x", sum[:8])
}

// MarshalText is the key file's content.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String() + "\n"), nil }

// MarshalText is the private key file's content. It is the secret: keep it
// in a file only the server can read.
func (k *PrivateKey) MarshalText() ([]byte, error) {
	return []byte(privateLabel + " " + base64.StdEncoding.EncodeToString(k.priv[:]) + "\n"), nil
}

// ParsePublicKey reads a public key file's content.
func ParsePublicKey(text []byte) (PublicKey, error) {
	b, err := parseKey(text, publicLabel)
	if err != nil {
		return PublicKey{}, err
	}
	return NewPublicKey(b)
}

// ParsePrivateKey reads a private key file's content.
func ParsePrivateKey(text []byte) (*PrivateKey, error) {
	b, err := parseKey(text, privateLabel)
	if err != nil {
		return nil, err
	}
	k := &PrivateKey{}
	copy(k.priv[:], b)
	pub, err := curve25519.X25519(k.priv[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("photoseal: unusable private key: %w", err)
	}
	copy(k.pub[:], pub)
	return k, nil
}

func parseKey(text []byte, label string) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	want, other, otherLabel := "public", "private", privateLabel
	if label == privateLabel {
		want, other, otherLabel = "private", "public", publicLabel
	}
	got, enc, _ := strings.Cut(s, " ")
	switch {
	case s == "":
		return nil, errors.New("photoseal: the key file is empty")
	case got == otherLabel:
		return nil, fmt.Errorf("photoseal: this is a %s photo key, not a %s one", other, want)
	case got != label:
		return nil, fmt.Errorf("photoseal: not a %s photo key (it should start with %q)", want, label)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(enc))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("photoseal: the %s photo key is not 32 bytes of base64", want)
	}
	return b, nil
}

// Seal seals jpeg to the key, with randomness from r (crypto/rand when
// nil). The result is Overhead bytes longer than jpeg; jpeg is not
// changed.
func Seal(jpeg []byte, to PublicKey, r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	if to == (PublicKey{}) {
		return nil, errors.New("photoseal: seal: no key")
	}
	out := make([]byte, 0, len(jpeg)+Overhead)
	out = append(out, Magic...)
	sum := sha256.Sum256(jpeg)
	out = append(out, sum[:]...)
	key := [32]byte(to)
	out, err := box.SealAnonymous(out, jpeg, &key, r)
	if err != nil {
		return nil, fmt.Errorf("photoseal: seal: %w", err)
	}
	return out, nil
}

// IsSealed reports whether b starts like a sealed photo.
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, []byte(Magic)) }

// Hash returns the SHA-256 of the JPEG inside a sealed photo, as written in
// its header; only Open proves it right.
func Hash(sealed []byte) ([sha256.Size]byte, error) {
	if !IsSealed(sealed) || len(sealed) < Overhead {
		return [sha256.Size]byte{}, ErrNotSealed
	}
	return [sha256.Size]byte(sealed[len(Magic) : len(Magic)+sha256.Size]), nil
}

// Open returns the JPEG inside a sealed photo. It fails with ErrNotSealed,
// ErrCannotOpen (altered, or sealed to another key) or ErrHashMismatch
// (the header's hash is not the JPEG's).
func (k *PrivateKey) Open(sealed []byte) ([]byte, error) {
	want, err := Hash(sealed)
	if err != nil {
		return nil, err
	}
	jpeg, ok := box.OpenAnonymous(nil, sealed[len(Magic)+sha256.Size:], &k.pub, &k.priv)
	if !ok {
		return nil, ErrCannotOpen
	}
	got := sha256.Sum256(jpeg)
	if got != want {
		return nil, ErrHashMismatch
	}
	return jpeg, nil
}
