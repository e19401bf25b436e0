package uplink

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
)

// The daemon loads the device key before enrolment (it signs every
// punch): made once, private to the service user, the same key that
// enrolment later sends.
func TestDeviceKeyBeforeEnrolment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	key, err := DeviceKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, keyFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", path, fi.Mode().Perm(), err, want)
		}
	}
	again, err := DeviceKey(dir)
	if err != nil || !again.Equal(key) {
		t.Fatalf("second DeviceKey: a different key (%v)", err)
	}

	srv := newFakeServer(t)
	r := newRig(t, srv, false, func(o *Options) { o.StateDir = dir })
	r.enroll()
	defer srv.lock()()
	if len(srv.enrolls) != 1 || !bytes.Equal(srv.enrolls[0].PublicKey, key.Public().(ed25519.PublicKey)) {
		t.Error("enrolment did not send the key the daemon signs with")
	}
}
