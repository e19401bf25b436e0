package photoseal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// photo stands for a JPEG: what matters is that its bytes must not show
// through the seal.
var photo = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("Ana Ruiz's face "), 200)...)

func newKey(t testing.TB) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := newKey(t)
	in := bytes.Clone(photo)
	sealed, err := Seal(in, k.Public(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, photo) {
		t.Fatal("Seal changed its input")
	}
	if len(sealed) != len(photo)+Overhead {
		t.Errorf("sealed is %d bytes, want %d + %d", len(sealed), len(photo), Overhead)
	}
	if !IsSealed(sealed) || IsSealed(photo) {
		t.Errorf("IsSealed(sealed) = %v, IsSealed(jpeg) = %v", IsSealed(sealed), IsSealed(photo))
	}
	// Nothing of the picture shows: not its JPEG header, not any 16 bytes
	// of it.
	if bytes.Contains(sealed, photo[:4]) || bytes.Contains(sealed, []byte("Ana Ruiz's face")) {
		t.Error("the sealed photo contains the JPEG's bytes")
	}
	h, err := Hash(sealed)
	if err != nil || h != sha256.Sum256(photo) {
		t.Errorf("Hash = %x, %v; want the JPEG's SHA-256", h, err)
	}
	got, err := k.Open(sealed)
	if err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("Open = %d bytes, %v; want the JPEG back", len(got), err)
	}
	// Two seals of one photo differ (a fresh key pair each), yet name the
	// same JPEG.
	again, _ := Seal(photo, k.Public(), nil)
	h2, _ := Hash(again)
	if bytes.Equal(again, sealed) || h2 != h {
		t.Error("sealing twice gave the same bytes, or a different hash")
	}
}

func TestOpenRefuses(t *testing.T) {
	k := newKey(t)
	sealed, err := Seal(photo, k.Public(), nil)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	other := newKey(t)
	for _, c := range []struct {
		name string
		key  *PrivateKey
		in   []byte
		want error
	}{
		{"a plain JPEG", k, photo, ErrNotSealed},
		{"empty", k, nil, ErrNotSealed},
		{"cut short", k, sealed[:Overhead-1], ErrNotSealed},
		{"magic changed", k, flip(3), ErrNotSealed},
		{"hash changed", k, flip(len(Magic) + 5), ErrHashMismatch},
		{"ephemeral key changed", k, flip(len(Magic) + 32 + 1), ErrCannotOpen},
		{"picture changed", k, flip(len(sealed) - 100), ErrCannotOpen},
		{"tag changed", k, flip(len(Magic) + 32 + 32 + 2), ErrCannotOpen},
		{"cut at the end", k, sealed[:len(sealed)-1], ErrCannotOpen},
		{"another company's key", other, sealed, ErrCannotOpen},
	} {
		got, err := c.key.Open(c.in)
		if !errors.Is(err, c.want) || got != nil {
			t.Errorf("%s: Open = %d bytes, %v; want %v", c.name, len(got), err, c.want)
		}
	}
}

func TestSealNeedsKey(t *testing.T) {
	if _, err := Seal(photo, PublicKey{}, nil); err == nil {
		t.Error("Seal to the zero key succeeded")
	}
}

func TestKeyText(t *testing.T) {
	k := newKey(t)
	privText, _ := k.MarshalText()
	pubText, _ := k.Public().MarshalText()
	if !strings.HasPrefix(string(privText), "siteclock-photo-private-key ") || !strings.HasSuffix(string(pubText), "\n") {
		t.Errorf("key texts: %q, %q", privText, pubText)
	}
	k2, err := ParsePrivateKey(privText)
	if err != nil || k2.Public() != k.Public() {
		t.Fatalf("ParsePrivateKey: %v; public half %v, want %v", err, k2, k.Public())
	}
	sealed, _ := Seal(photo, k.Public(), nil)
	if got, err := k2.Open(sealed); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("the parsed key does not open: %v", err)
	}
	pub, err := ParsePublicKey(pubText)
	if err != nil || pub != k.Public() {
		t.Errorf("ParsePublicKey = %v, %v", pub, err)
	}
	if len(pub.Fingerprint()) != 16 || pub.Fingerprint() == newKey(t).Public().Fingerprint() {
		t.Errorf("Fingerprint = %q", pub.Fingerprint())
	}

	for _, c := range []struct {
		name, text string
		private    bool
		want       string
	}{
		{"private key where a public one belongs", string(privText), false, "private photo key, not a public one"},
		{"public key where the private one belongs", string(pubText), true, "public photo key, not a private one"},
		{"empty", "", false, "empty"},
		{"no label", "AAAA", true, "should start with"},
		{"short", "siteclock-photo-public-key AAAA", false, "32 bytes"},
		{"not base64", "siteclock-photo-private-key !!!!", true, "32 bytes"},
		{"zero key", "siteclock-photo-public-key AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", false, "all zeros"},
	} {
		var err error
		if c.private {
			_, err = ParsePrivateKey([]byte(c.text))
		} else {
			_, err = ParsePublicKey([]byte(c.text))
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if _, err := NewPublicKey(make([]byte, 31)); err == nil {
		t.Error("NewPublicKey took 31 bytes")
	}
}

// FuzzOpen: a sealed photo comes from a kiosk's SD card, which anyone may
// have edited. Open must never panic, and whatever it returns must hash to
// the header's hash.
func FuzzOpen(f *testing.F) {
	k, err := ParsePrivateKey([]byte("siteclock-photo-private-key gNcS6kUBOlM2R0vQrVd3J5pYm0T0bYqDsJ9yF8g7pWk="))
	if err != nil {
		f.Fatal(err)
	}
	sealed, _ := Seal(photo[:64], k.Public(), nil)
	f.Add(sealed)
	f.Add([]byte(Magic))
	f.Add(photo[:64])
	f.Fuzz(func(t *testing.T, b []byte) {
		jpeg, err := k.Open(b)
		if err != nil {
			return
		}
		if h, _ := Hash(b); h != sha256.Sum256(jpeg) {
			t.Fatalf("Open returned a JPEG that does not match the header")
		}
	})
}

// FuzzParseKey: key files are read from disk; parsing never panics and
// what parses writes back the same.
func FuzzParseKey(f *testing.F) {
	k, _ := ParsePrivateKey([]byte("siteclock-photo-private-key gNcS6kUBOlM2R0vQrVd3J5pYm0T0bYqDsJ9yF8g7pWk="))
	pt, _ := k.MarshalText()
	pub, _ := k.Public().MarshalText()
	f.Add(pt)
	f.Add(pub)
	f.Add([]byte("siteclock-photo-public-key  \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParsePublicKey(b); err == nil {
			if q, err := ParsePublicKey([]byte(p.String())); err != nil || q != p {
				t.Fatalf("public key %q does not round-trip: %v", b, err)
			}
		}
		if p, err := ParsePrivateKey(b); err == nil {
			text, _ := p.MarshalText()
			if q, err := ParsePrivateKey(text); err != nil || q.Public() != p.Public() {
				t.Fatalf("private key %q does not round-trip: %v", b, err)
			}
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	k := newKey(b)
	jpeg := bytes.Repeat([]byte{0x55}, 60<<10) // a typical 640x480 JPEG
	b.SetBytes(int64(len(jpeg)))
	for b.Loop() {
		if _, err := Seal(jpeg, k.Public(), nil); err != nil {
			b.Fatal(err)
		}
	}
}
