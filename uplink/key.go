package uplink

import (
	"crypto/ed25519"
	"fmt"
	"os"
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
