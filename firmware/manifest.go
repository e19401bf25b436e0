package firmware

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// Product is the program a release replaces; a manifest for anything else
// is refused.
const Product = "siteclockd"

// MaxManifestBytes bounds a signed manifest: it is a few hundred bytes.
const MaxManifestBytes = 16 << 10

// MaxBinaryBytes bounds a release's binary (siteclockd is about 15 MB).
const MaxBinaryBytes = 256 << 20

// A Manifest describes one release of siteclockd for one architecture.
// Nothing in it is trusted before its signature is verified (Verify).
type Manifest struct {
	Product string    `json:"product"` // always Product
	Version string    `json:"version"` // semantic version: "1.4.0", "1.5.0-rc.1"
	Arch    string    `json:"arch"`    // "arm64", "armv7", "amd64" (Arch)
	Size    int64     `json:"size"`    // of the binary, in bytes
	SHA256  string    `json:"sha256"`  // of the binary, lowercase hex
	Created time.Time `json:"created"` // when it was signed
}

// Signed is a manifest as it travels: the manifest's exact bytes and the
// release key's ed25519 signature of them. The signature covers bytes, not
// a re-encoding, so nothing is parsed before it is checked.
type Signed struct {
	Manifest  []byte `json:"manifest"`  // JSON of a Manifest (base64 in the envelope)
	Signature []byte `json:"signature"` // ed25519, 64 bytes
}

// Errors a caller may need to tell apart.
var (
	// ErrBadSignature: the manifest is not signed by any trusted release
	// key: tampered with, or signed by another key.
	ErrBadSignature = errors.New("firmware: the manifest's signature does not verify with any trusted release key: it was altered or signed with another key; sign the release again with the release key (siteclockd release sign)")
	// ErrNoKeys: the kiosk trusts no release key, so it takes no updates.
	ErrNoKeys = errors.New("firmware: no release key is configured, so no update can be trusted; set [update] release_keys in the configuration to the key `siteclockd release keygen` printed")
)

// Sign signs m with key and returns the envelope (JSON of a Signed).
func Sign(m Manifest, key ed25519.PrivateKey) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("firmware: encode manifest: %w", err)
	}
	return json.Marshal(Signed{Manifest: body, Signature: ed25519.Sign(key, body)})
}

// Verify checks the envelope's signature against the trusted keys, and
// only then parses and checks the manifest inside it.
func Verify(envelope []byte, keys []ed25519.PublicKey) (Manifest, error) {
	if len(keys) == 0 {
		return Manifest{}, ErrNoKeys
	}
	s, err := parseSigned(envelope)
	if err != nil {
		return Manifest{}, err
	}
	ok := false
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, s.Manifest, s.Signature) {
			ok = true
			break
		}
	}
	if !ok {
		return Manifest{}, ErrBadSignature
	}
	return parseManifest(s.Manifest)
}

// Peek parses the manifest in an envelope WITHOUT verifying its signature:
// for the back office, which hosts releases but holds no release key and
// does not need to trust them (the kiosk verifies). Never act on what
// Peek returns on a kiosk.
func Peek(envelope []byte) (Manifest, error) {
	s, err := parseSigned(envelope)
	if err != nil {
		return Manifest{}, err
	}
	return parseManifest(s.Manifest)
}

func parseSigned(envelope []byte) (Signed, error) {
	var s Signed
	if len(envelope) > MaxManifestBytes {
		return s, fmt.Errorf("firmware: signed manifest of %d bytes is over the %d-byte limit: not a siteclock manifest", len(envelope), MaxManifestBytes)
	}
	d := json.NewDecoder(bytes.NewReader(envelope))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return s, fmt.Errorf("firmware: signed manifest is not valid (%v): use the file `siteclockd release sign` wrote", err)
	}
	if d.More() {
		return s, errors.New("firmware: signed manifest has data after its end: use the file `siteclockd release sign` wrote")
	}
	if len(s.Signature) != ed25519.SignatureSize || len(s.Manifest) == 0 {
		return s, errors.New("firmware: signed manifest lacks its manifest or a 64-byte signature: use the file `siteclockd release sign` wrote")
	}
	return s, nil
}

func parseManifest(b []byte) (Manifest, error) {
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return m, fmt.Errorf("firmware: manifest is not valid JSON of a manifest: %v", err)
	}
	if d.More() {
		return m, errors.New("firmware: manifest has data after its end")
	}
	return m, m.check()
}

func (m Manifest) check() error {
	switch {
	case m.Product != Product:
		return fmt.Errorf("firmware: manifest is for %q, not %q", m.Product, Product)
	case !ValidVersion(m.Version):
		return fmt.Errorf("firmware: manifest version %q is not a semantic version like 1.4.0", m.Version)
	case !knownArch(m.Arch):
		return fmt.Errorf("firmware: manifest architecture %q is not one of %s", m.Arch, strings.Join(Arches, ", "))
	case m.Size <= 0 || m.Size > MaxBinaryBytes:
		return fmt.Errorf("firmware: manifest size %d is not between 1 and %d bytes", m.Size, MaxBinaryBytes)
	}
	if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 || strings.ToLower(m.SHA256) != m.SHA256 {
		return fmt.Errorf("firmware: manifest sha256 %q is not 64 lowercase hex digits", m.SHA256)
	}
	return nil
}

// Name is how a release is named for people: "siteclockd 1.4.0 (arm64)".
func (m Manifest) Name() string {
	return fmt.Sprintf("%s %s (%s)", m.Product, m.Version, m.Arch)
}

// ValidVersion tells whether v is a semantic version ("1.4.0", with an
// optional leading "v" and pre-release part).
func ValidVersion(v string) bool {
	return semver.IsValid(canonical(v)) && strings.Count(strings.TrimPrefix(v, "v"), ".") >= 2
}

// Compare orders two versions like semantic versions: -1, 0 or +1. A
// version that is not valid (a development build's "dev" or git hash)
// is older than every valid one.
func Compare(a, b string) int {
	return semver.Compare(canonical(a), canonical(b))
}

func canonical(v string) string {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v
}
