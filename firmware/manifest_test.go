package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func manifestFor(version, arch string, bin []byte) Manifest {
	sum := sha256.Sum256(bin)
	return Manifest{Product: Product, Version: version, Arch: arch, Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:]), Created: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
}

func TestSignVerify(t *testing.T) {
	pub, priv := testKey(t)
	otherPub, otherPriv := testKey(t)
	m := manifestFor("1.4.0", "arm64", []byte("binary"))
	env, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(env, []ed25519.PublicKey{otherPub, pub})
	if err != nil || got != m {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, m)
	}

	// Tampered: the manifest's bytes changed, the signature kept.
	var s Signed
	if err := json.Unmarshal(env, &s); err != nil {
		t.Fatal(err)
	}
	s.Manifest = bytes.Replace(s.Manifest, []byte(`"1.4.0"`), []byte(`"9.4.0"`), 1)
	tampered, _ := json.Marshal(s)
	if _, err := Verify(tampered, []ed25519.PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered manifest: %v, want ErrBadSignature", err)
	}
	if pm, err := Peek(tampered); err != nil || pm.Version != "9.4.0" {
		t.Errorf("Peek of the tampered manifest = %+v, %v: Peek parses without verifying", pm, err)
	}

	// Signed by another key.
	other, _ := Sign(m, otherPriv)
	if _, err := Verify(other, []ed25519.PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("manifest signed by another key: %v, want ErrBadSignature", err)
	}
	if _, err := Verify(env, nil); !errors.Is(err, ErrNoKeys) {
		t.Errorf("no keys: %v, want ErrNoKeys", err)
	}

	// Garbage and wrong shapes are refused with a reason.
	for name, b := range map[string][]byte{
		"empty":         nil,
		"not json":      []byte("MZ\x90\x00"),
		"no signature":  []byte(`{"manifest":"e30="}`),
		"extra field":   []byte(`{"manifest":"e30=","signature":"` + strings.Repeat("A", 88) + `","x":1}`),
		"trailing data": append(append([]byte{}, env...), []byte(`{}`)...),
		"huge":          bytes.Repeat([]byte(" "), MaxManifestBytes+1),
	} {
		if _, err := Verify(b, []ed25519.PublicKey{pub}); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// A well-signed manifest that is not a valid one is refused too.
	for name, bad := range map[string]Manifest{
		"product": {Product: "other", Version: "1.0.0", Arch: "arm64", Size: 1, SHA256: m.SHA256},
		"version": {Product: Product, Version: "latest", Arch: "arm64", Size: 1, SHA256: m.SHA256},
		"arch":    {Product: Product, Version: "1.0.0", Arch: "mips", Size: 1, SHA256: m.SHA256},
		"size":    {Product: Product, Version: "1.0.0", Arch: "arm64", Size: 0, SHA256: m.SHA256},
		"sha":     {Product: Product, Version: "1.0.0", Arch: "arm64", Size: 1, SHA256: strings.ToUpper(m.SHA256)},
	} {
		if _, err := Sign(bad, priv); err == nil {
			t.Errorf("Sign accepted a manifest with a bad %s", name)
		}
		body, _ := json.Marshal(bad)
		env, _ := json.Marshal(Signed{Manifest: body, Signature: ed25519.Sign(priv, body)})
		if _, err := Verify(env, []ed25519.PublicKey{pub}); err == nil {
			t.Errorf("Verify accepted a signed manifest with a bad %s", name)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.4.0", "1.4.0", 0}, {"1.4.0", "v1.4.0", 0}, {"1.10.0", "1.9.0", 1}, {"1.4.0-rc.1", "1.4.0", -1},
		{"2.0.0", "1.99.99", 1}, {"dev", "0.0.1", -1}, {"6145bb8-dirty", "1.0.0", -1}, {"", "1.0.0", -1},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	for v, want := range map[string]bool{"1.4.0": true, "v1.4.0": true, "1.4": false, "dev": false, "1.4.0-rc.1": true} {
		if ValidVersion(v) != want {
			t.Errorf("ValidVersion(%q) = %v", v, !want)
		}
	}
}

func TestKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "release.key")
	pubText, err := GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(path); err == nil {
		t.Error("GenerateKey overwrote an existing key")
	}
	priv, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pubText)
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("public key %q does not match the private key: %v", pubText, err)
	}
	if _, err := ParsePublicKey("not a key"); err == nil {
		t.Error("ParsePublicKey accepted garbage")
	}
	if _, err := LoadKey(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadKey of a missing file")
	}
}
