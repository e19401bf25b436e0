package uplink

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/durable"
)

// Files in the state folder. All are written with durable.WriteFile, so
// they are whole or absent after a power cut, and mode 0600: the key and
// the token are secrets.
const (
	installationFile = "installation-id" // random, made once per installation
	keyFile          = "device.key"      // ed25519 private key, PKCS #8 PEM
	deviceFile       = "device.json"     // identity given at enrolment
)

// identity is what enrolment gave the kiosk (device.json).
type identity struct {
	DeviceID  string `json:"device_id"`
	Token     string `json:"token"` // secret: never logged
	ServerURL string `json:"server_url"`
}

// loadIdentity reads device.json; nil without error when the kiosk has
// never enrolled.
func loadIdentity(dir string) (*identity, error) {
	path := filepath.Join(dir, deviceFile)
	b, err := readPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("uplink: read %s: %w; check that the daemon may read its state folder", path, err)
	}
	var id identity
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil || id.DeviceID == "" || id.Token == "" || id.ServerURL == "" {
		why := "a field is missing"
		if err != nil {
			why = err.Error()
		}
		return nil, fmt.Errorf("uplink: %s is damaged (%s); remove it and enrol the kiosk again with a setup code", path, why)
	}
	if err := checkServerURL(id.ServerURL); err != nil {
		return nil, fmt.Errorf("uplink: %s: %w; remove it and enrol the kiosk again", path, err)
	}
	return &id, nil
}

func saveIdentity(dir string, id *identity) error {
	b, err := json.MarshalIndent(id, "", "\t")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, deviceFile)
	if err := durable.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("uplink: save %s: %w", path, err)
	}
	return nil
}

// installationID returns the installation's random ID, making it the first
// time. It identifies this installation across enrolments.
func installationID(dir string) (string, error) {
	path := filepath.Join(dir, installationFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("uplink: read %s: %w", path, err)
	}
	id := uuid.NewString()
	if err := durable.WriteFile(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("uplink: save %s: %w", path, err)
	}
	return id, nil
}

// deviceKey returns the kiosk's private key, making it the first time. Its
// public half goes to the server at enrolment.
func deviceKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := readPrivate(path)
	if err == nil {
		return parseDeviceKey(path, b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("uplink: read %s: %w", path, err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("uplink: make device key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("uplink: make device key: %w", err)
	}
	if err := durable.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, fmt.Errorf("uplink: save %s: %w", path, err)
	}
	return key, nil
}

// parseDeviceKey reads device.key's contents (PKCS #8 PEM).
func parseDeviceKey(path string, b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("uplink: %s is not a PEM private key; remove it (and device.json) and enrol again", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("uplink: %s: %w; remove it (and device.json) and enrol again", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("uplink: %s holds a %T, not an ed25519 key; remove it (and device.json) and enrol again", path, k)
	}
	return key, nil
}

// readPrivate reads a secret file, first making it private again if
// someone loosened its mode.
func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("%s is readable by others and cannot be made private: %w", path, err)
		}
	}
	return os.ReadFile(path)
}
