package uplink

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
)

// DeviceKey returns the kiosk's ed25519 device key from the state folder
// dir (device.key, PKCS #8 PEM, mode 0600: only the service user may read
// it), making it, and dir, the first time. siteclockd loads it at start,
// before any punch: the queue signs every punch with it (punch/chain.go)
// and enrolment sends its public half, so punches made before the kiosk
// enrolled verify at the back office too.
func DeviceKey(dir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("uplink: create state folder: %w; check that the daemon may write there", err)
	}
	return deviceKey(dir)
}

// ReadDeviceKey reads the device key in the state folder dir without
// making one or changing the file: for tools that check a kiosk's state
// folder (the power-cut check). A missing key is an os.ErrNotExist.
func ReadDeviceKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("uplink: read %s: %w", path, err)
	}
	return parseDeviceKey(path, b)
}
