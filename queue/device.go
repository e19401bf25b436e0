package queue

import (
	"errors"
	"time"
)

// Device is the kiosk's own state.
type Device struct {
	Provisioned bool      // a roster has been loaded (set by ReplaceRoster)
	Disabled    bool      // the back office switched the kiosk off
	LastSync    time.Time // last contact with the back office; zero when never
}

// Device returns the stored device state.
func (db *DB) Device() (Device, error) {
	var (
		d    Device
		last *int64
	)
	err := db.sql.QueryRow(`SELECT provisioned, disabled, last_sync_ns FROM device WHERE id = 1`).Scan(&d.Provisioned, &d.Disabled, &last)
	if err != nil {
		return Device{}, db.wrap("read device state", err)
	}
	d.LastSync = nullTime(last)
	return d, nil
}

// SetDevice stores d as the device state, replacing all of it.
func (db *DB) SetDevice(d Device) error {
	var last *int64
	if !d.LastSync.IsZero() {
		ns := d.LastSync.UnixNano()
		last = &ns
	}
	_, err := db.sql.Exec(`UPDATE device SET provisioned = ?, disabled = ?, last_sync_ns = ? WHERE id = 1`, d.Provisioned, d.Disabled, last)
	return db.wrap("store device state", err)
}

// MarkSynced records a successful contact with the back office at the time
// at, even one that acknowledged nothing (no punch was waiting), so that
// the status line's last sync tells an idle kiosk that is online from one
// that is not. It moves the last sync forward only, never back.
func (db *DB) MarkSynced(at time.Time) error {
	if at.IsZero() {
		return errors.New("queue: mark synced: no time given")
	}
	_, err := db.sql.Exec(`UPDATE device SET last_sync_ns = ?1 WHERE id = 1 AND (last_sync_ns IS NULL OR last_sync_ns < ?1)`, at.UnixNano())
	return db.wrap("record last sync", err)
}
