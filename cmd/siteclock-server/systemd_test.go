package main

import (
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/systemd/systemdtest"
)

// TestServeNotifiesSystemd: under systemd the server says READY=1 once its
// database is open and it listens, pings the watchdog after each health
// check of the store, and says STOPPING=1 when told to stop.
func TestServeNotifiesSystemd(t *testing.T) {
	sd := systemdtest.Listen(t)
	// WatchdogSec=100ms: a health check, and a ping, every 50 ms.
	sd.Watch(t, 100*time.Millisecond)
	s := startServer(t, "serve", "-data", t.TempDir(), "-addr", "127.0.0.1:0", "-company", "Acme Framing")

	got := sd.WaitFor(t, "WATCHDOG=1", time.Minute)
	if want := "READY=1\nSTATUS=serving on " + s.url; len(got) == 0 || got[0] != want {
		t.Errorf("first notifications %q, want %q first", got, want)
	}
	sd.WaitFor(t, "WATCHDOG=1", time.Minute) // and they go on
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	rest := sd.Messages(t)
	if systemdtest.Count(rest, "STOPPING=1") != 1 {
		t.Errorf("after stopping: %q, want STOPPING=1", rest)
	}
	for _, m := range rest {
		if strings.HasPrefix(m, "STATUS=") {
			t.Errorf("status changed (%q): the health check failed", m)
		}
	}
}
