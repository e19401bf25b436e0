package systemd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/siteclock/siteclock/systemd/systemdtest"
)

func TestNotify(t *testing.T) {
	sd := systemdtest.Listen(t)
	if err := Ready("offline, 2 waiting\nlast sync never"); err != nil {
		t.Fatal(err)
	}
	if err := Status("online, 0 waiting"); err != nil {
		t.Fatal(err)
	}
	if err := Watchdog(); err != nil {
		t.Fatal(err)
	}
	if err := Stopping(); err != nil {
		t.Fatal(err)
	}
	want := []string{"READY=1\nSTATUS=offline, 2 waiting last sync never", "STATUS=online, 0 waiting", "WATCHDOG=1", "STOPPING=1"}
	if got := sd.Messages(t); !slices.Equal(got, want) {
		t.Errorf("datagrams %q, want %q", got, want)
	}
}

func TestOutsideSystemdIsSilent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	if err := Ready("x"); err != nil {
		t.Errorf("Ready outside systemd: %v", err)
	}
	if err := Watchdog(); err != nil {
		t.Errorf("Watchdog outside systemd: %v", err)
	}
	if d, err := WatchdogInterval(); d != 0 || err != nil {
		t.Errorf("WatchdogInterval outside systemd = %v, %v; want 0, nil", d, err)
	}
}

func TestMissingSocketIsAnError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	if err := Status("x"); err == nil {
		t.Error("notify to a missing socket succeeded")
	}
}

func TestWatchdogInterval(t *testing.T) {
	sd := systemdtest.Listen(t)
	sd.Watch(t, 30*time.Second)
	if d, err := WatchdogInterval(); d != 15*time.Second || err != nil {
		t.Errorf("WatchdogSec=30s: interval %v, %v; want 15s (half), nil", d, err)
	}
	// systemd names the process it watches; a child that inherited the
	// variables must not ping on its parent's behalf.
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if d, err := WatchdogInterval(); d != 0 || err != nil {
		t.Errorf("another process watched: interval %v, %v; want 0, nil", d, err)
	}
	t.Setenv("WATCHDOG_USEC", "soon")
	if _, err := WatchdogInterval(); err == nil || !strings.Contains(err.Error(), "WatchdogSec=") {
		t.Errorf("malformed WATCHDOG_USEC: %v; want an error that points at WatchdogSec=", err)
	}
}

// TestNotifierReadyOnce: the first status line carries READY=1, later ones
// only STATUS=, and a line that did not change is not sent again.
func TestNotifierReadyOnce(t *testing.T) {
	sd := systemdtest.Listen(t)
	var n Notifier
	n.Status("offline, 1 waiting, never synced")
	n.Status("offline, 1 waiting, never synced")
	n.Status("online, 0 waiting")
	n.Watchdog()
	n.Stopping()
	want := []string{"READY=1\nSTATUS=offline, 1 waiting, never synced", "STATUS=online, 0 waiting", "WATCHDOG=1", "STOPPING=1"}
	if got := sd.Messages(t); !slices.Equal(got, want) {
		t.Errorf("datagrams %q, want %q", got, want)
	}
}

// TestNotifierLogsLostSystemdOnce: a daemon whose notify socket vanished
// goes on, and says so once rather than at every watchdog tick.
func TestNotifierLogsLostSystemdOnce(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	var log bytes.Buffer
	n := Notifier{Logger: slog.New(slog.NewTextHandler(&log, nil))}
	n.Status("online, 0 waiting")
	n.Watchdog()
	n.Watchdog()
	if got := strings.Count(log.String(), "telling systemd failed"); got != 1 {
		t.Errorf("logged the failure %d times, want once:\n%s", got, log.String())
	}
}

// TestHeartbeat: the server's watchdog pings follow its health check; a
// check that hangs stops them (systemd then restarts the daemon), a check
// that fails does not, but shows on the status line until it passes again.
func TestHeartbeat(t *testing.T) {
	sd := systemdtest.Listen(t)
	sd.Watch(t, 20*time.Second)
	every, err := WatchdogInterval()
	if err != nil || every != 10*time.Second {
		t.Fatalf("interval %v, %v", every, err)
	}
	synctest.Test(t, func(t *testing.T) {
		var log bytes.Buffer
		n := &Notifier{Logger: slog.New(slog.NewTextHandler(&log, nil))}
		n.Status("serving on 127.0.0.1:8080")
		var mu sync.Mutex
		var fail error
		hang := make(chan struct{})
		close(hang) // not hanging yet
		check := func(ctx context.Context) error {
			mu.Lock()
			h, err := hang, fail
			mu.Unlock()
			select {
			case <-h:
			case <-ctx.Done():
			}
			return err
		}
		set := func(h chan struct{}, err error) {
			mu.Lock()
			defer mu.Unlock()
			hang, fail = h, err
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); n.Heartbeat(ctx, every, check) }()

		time.Sleep(35 * time.Second)
		synctest.Wait()
		got := sd.Messages(t)
		if len(got) == 0 || got[0] != "READY=1\nSTATUS=serving on 127.0.0.1:8080" {
			t.Fatalf("first datagrams %q, want READY with the status line", got)
		}
		if c := systemdtest.Count(got, "WATCHDOG=1"); c != 3 {
			t.Errorf("%d pings in 35 s at a 10 s interval, want 3: %q", c, got)
		}

		set(hang, errors.New("disk I/O error"))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		want := []string{"STATUS=serving on 127.0.0.1:8080; health check failed: disk I/O error", "WATCHDOG=1"}
		if got := sd.Messages(t); !slices.Equal(got, want) {
			t.Errorf("failing check: %q, want %q", got, want)
		}
		set(hang, nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		want = []string{"STATUS=serving on 127.0.0.1:8080", "WATCHDOG=1"}
		if got := sd.Messages(t); !slices.Equal(got, want) {
			t.Errorf("recovered check: %q, want %q", got, want)
		}
		if !strings.Contains(log.String(), "disk I/O error") || !strings.Contains(log.String(), "passes again") {
			t.Errorf("log does not tell the failure and the recovery:\n%s", log.String())
		}

		set(make(chan struct{}), nil) // the next check never returns
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := sd.Messages(t); len(got) != 0 {
			t.Errorf("a hung check still sent %q; want silence so that systemd restarts the daemon", got)
		}
		cancel()
		<-done
	})
}

func TestHeartbeatWithoutWatchdogReturns(t *testing.T) {
	var n Notifier
	n.Heartbeat(t.Context(), 0, func(context.Context) error {
		t.Error("checked without a watchdog")
		return nil
	})
}
