package firmware

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The release key is made and kept offline, by whoever builds releases;
// the back office never holds it. Kiosks trust its public half, set in
// their configuration ([update] release_keys).
const pemType = "SITECLOCK RELEASE KEY"

// GenerateKey makes a release key, writes its private half to path
// (readable by its owner only; an existing file is not overwritten) and
// returns the public half as text for the kiosks' configuration.
func GenerateKey(path string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("firmware: make a release key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("firmware: write the release key: %w (it is never overwritten: choose another file, or remove the old key if you mean to replace it)", err)
	}
	err = pem.Encode(f, &pem.Block{Type: pemType, Bytes: priv.Seed()})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("firmware: write the release key: %w", err)
	}
	return PublicKeyText(pub), nil
}

// LoadKey reads a private release key GenerateKey wrote.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("firmware: read the release key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("firmware: %s is not a siteclock release key (make one with `siteclockd release keygen`)", path)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// PublicKeyText writes a public release key as the configuration holds it.
func PublicKeyText(k ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(k)
}

// ParsePublicKey reads a public release key PublicKeyText wrote.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("firmware: a release key is 44 characters of base64 (the line `siteclockd release keygen` printed)")
	}
	return ed25519.PublicKey(b), nil
}
