package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/kiosk"
)

// The keypad's lockout (wrong PINs, how long it is locked) is kept in the
// state folder, so that pulling the plug does not reset it.
const lockoutFile = "lockout.json"

// loadLockout reads the lockout kept before; a missing or damaged file is
// no lockout (a damaged one is said, and replaced at the next change).
func loadLockout(dir string, log *slog.Logger) (kiosk.Lockout, bool) {
	var l kiosk.Lockout
	b, err := os.ReadFile(filepath.Join(dir, lockoutFile))
	if errors.Is(err, fs.ErrNotExist) {
		return l, false
	}
	if err == nil {
		err = json.Unmarshal(b, &l)
	}
	if err != nil {
		log.Warn("the keypad's lockout could not be read; starting without one", "file", lockoutFile, "err", err)
		return l, false
	}
	return l, true
}

// saveLockout keeps the lockout; a failure is logged, never fatal.
func saveLockout(dir string, log *slog.Logger) func(kiosk.Lockout) {
	return func(l kiosk.Lockout) {
		b, err := json.Marshal(l)
		if err == nil {
			err = durable.ReplaceFile(filepath.Join(dir, lockoutFile), b)
		}
		if err != nil {
			log.Warn("keeping the keypad's lockout failed; a restart would reset it", "err", err)
		}
	}
}
