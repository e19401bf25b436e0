// Package systemd is how the daemons live under systemd: the sd_notify
// protocol (READY, STATUS, WATCHDOG, STOPPING), a slog handler that sends
// structured logs to the journal, and the unit files (siteclockd.service,
// siteclock-server.service) the Debian packages install.
//
// Outside systemd (no NOTIFY_SOCKET, no journal on standard error) every
// call does nothing and logs are plain text on standard error, so the same
// binary runs in a terminal, in tests and as a service.
package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

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

// Watchdog tells systemd the daemon is alive (WATCHDOG=1). Call it from
// the loop whose hang should restart the daemon, never from a goroutine of
// its own that would go on pinging while that loop is stuck.
func Watchdog() error {
	_, err := notify("WATCHDOG=1")
	return err
}

// Stopping tells systemd the daemon is shutting down.
func Stopping() error {
	_, err := notify("STOPPING=1")
	return err
}

// WatchdogInterval is how often the daemon must call Watchdog: half of
// the unit's WatchdogSec= (systemd passes it as WATCHDOG_USEC), so that
// one late ping is not yet a restart. It is 0 when systemd is not
// watching this process (no WatchdogSec=, or WATCHDOG_PID names another).
func WatchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("systemd: watchdog: %w; check WatchdogSec= in the unit", err)
	}
	return d / 2, nil
}

// WatchdogTimeout is the unit's WatchdogSec= as systemd passes it to this
// process (0 when it does not watch it): what a supervisor hands on to
// the daemon it runs.
func WatchdogTimeout() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("systemd: watchdog: %w; check WatchdogSec= in the unit", err)
	}
	return d, nil
}

// Notify sends one raw sd_notify message (a supervisor passing on its
// child's); it does nothing outside systemd.
func Notify(state string) error {
	_, err := notify(state)
	return err
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// Notifier tells systemd how a daemon is doing, from any goroutine. The
// first Status also says READY=1, so call it once start-up is done. A
// failure to reach systemd is logged, not returned: a daemon must not stop
// because its supervisor did not hear it, and it would only log it anyway.
type Notifier struct {
	Logger *slog.Logger // where failures go; nil: nowhere

	mu     sync.Mutex
	ready  bool
	status string // the daemon's own line
	fault  string // what Heartbeat's check last said was wrong
	sent   string // the line systemd last got
	failed bool   // the last message did not reach systemd (logged once)
}

// Status sets the one-line status; the first call also says READY=1.
// A line that did not change is not sent again.
func (n *Notifier) Status(line string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.status = oneLine(line)
	n.send()
}

// Watchdog tells systemd the daemon is alive (WATCHDOG=1).
func (n *Notifier) Watchdog() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.report(Watchdog())
}

// Stopping tells systemd the daemon is shutting down (STOPPING=1).
func (n *Notifier) Stopping() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.report(Stopping())
}

// Heartbeat calls check every interval until ctx is done, and says
// WATCHDOG=1 each time check returns. A check that hangs stops the pings,
// and systemd restarts the daemon. A check that fails is a fault a restart
// would not mend (a full disk, a bad file), so it is logged and shown on
// the status line, and the pings go on. With interval 0 (no watchdog)
// Heartbeat returns at once.
func (n *Notifier) Heartbeat(ctx context.Context, interval time.Duration, check func(context.Context) error) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := check(ctx)
		if ctx.Err() != nil {
			return // the check may have failed because the daemon is stopping
		}
		n.mu.Lock()
		fault := ""
		if err != nil {
			fault = "health check failed: " + err.Error()
			if n.fault != fault && n.Logger != nil {
				n.Logger.Error("health check failed", "err", err)
			}
		} else if n.fault != "" && n.Logger != nil {
			n.Logger.Info("health check passes again")
		}
		n.fault = oneLine(fault)
		if n.ready {
			n.send()
		}
		n.report(Watchdog())
		n.mu.Unlock()
	}
}

// send sends the status line, with READY=1 the first time. n.mu is held.
func (n *Notifier) send() {
	line := n.status
	if n.fault != "" {
		line += "; " + n.fault
	}
	if n.ready && line == n.sent {
		return
	}
	var err error
	if n.ready {
		err = Status(line)
	} else {
		err = Ready(line)
	}
	n.report(err)
	if err == nil {
		n.ready, n.sent = true, line
	}
}

// report logs the first of a run of failures, and when they end.
func (n *Notifier) report(err error) {
	switch {
	case err != nil && !n.failed:
		n.failed = true
		if n.Logger != nil {
			n.Logger.Warn("telling systemd failed", "err", err)
		}
	case err == nil && n.failed:
		n.failed = false
		if n.Logger != nil {
			n.Logger.Info("systemd hears us again")
		}
	}
}
