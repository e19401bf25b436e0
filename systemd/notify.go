// Package systemd tells systemd how the daemon is doing (the sd_notify
// protocol: READY, STATUS, STOPPING) and holds the daemon's unit files.
// Outside systemd (no NOTIFY_SOCKET) every call does nothing.
package systemd

import (
	"fmt"
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify sends one state to systemd; sent is false when not under systemd.
func notify(state string) (sent bool, err error) {
	sent, err = daemon.SdNotify(false, state)
	if err != nil {
		return false, fmt.Errorf("systemd: notify %s: %w", strings.SplitN(state, "=", 2)[0], err)
	}
	return sent, nil
}

// Ready tells systemd the daemon is up: hardware, database and state are
// open and the first screen is shown. status is the one-line STATUS= text.
func Ready(status string) error {
	_, err := notify("READY=1\nSTATUS=" + oneLine(status))
	return err
}

// Status updates the one-line status `systemctl status` shows.
func Status(status string) error {
	_, err := notify("STATUS=" + oneLine(status))
	return err
}

// Stopping tells systemd the daemon is shutting down.
func Stopping() error {
	_, err := notify("STOPPING=1")
	return err
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
