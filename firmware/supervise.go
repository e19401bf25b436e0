package firmware

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// A Supervisor runs the kiosk daemon as its child and decides which
// version that is: the packaged binary (itself), or a newer version
// installed over the air. A version on probation must say READY=1 within
// ReadyTimeout and stay up, its watchdog pings coming, for Probation;
// otherwise the Supervisor, not the new version, puts the previous one
// back. It stands between the daemon and systemd: the daemon's sd_notify
// messages come to the Supervisor's own socket and go on to systemd,
// except STOPPING=1 when the daemon stops only to restart into an update.
type Supervisor struct {
	Store       *Store
	Self        string   // the packaged binary
	SelfVersion string   // its version
	Args        []string // the daemon's arguments
	// Watchdog is the daemon's watchdog timeout: it pings at half of it
	// (WATCHDOG_USEC); a daemon on probation that misses it fails. 0: not
	// checked (the daemon still has to stay up).
	Watchdog     time.Duration
	ReadyTimeout time.Duration // default 2 minutes
	Probation    time.Duration // default 2 minutes
	MaxAttempts  int           // starts of a version on probation; default 3
	StopTimeout  time.Duration // SIGTERM to SIGKILL; default 15 s
	// Notify sends one message to systemd (nil: not under systemd). It is
	// called from a goroutine of its own, so that a slow reader never
	// holds up the supervision; watchdog pings are dropped, never queued,
	// while it is behind.
	Notify func(state string) error
	Logger *slog.Logger
	Now    func() time.Time

	readySent bool
	notes     chan string
}

// notify queues a message for systemd.
func (s *Supervisor) notify(m string) {
	if m == "WATCHDOG=1" {
		select {
		case s.notes <- m:
		default:
		}
		return
	}
	s.notes <- m
}

func (s *Supervisor) defaults() {
	if s.ReadyTimeout == 0 {
		s.ReadyTimeout = 2 * time.Minute
	}
	if s.Probation == 0 {
		s.Probation = 2 * time.Minute
	}
	s.Probation = ProbationFor(s.Probation, s.Watchdog)
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 3
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = 15 * time.Second
	}
	if s.Notify == nil {
		s.Notify = func(string) error { return nil }
	}
	s.notes = make(chan string, 32)
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
}

// Run runs the daemon until it exits for good or ctx is done, and returns
// the exit status to leave with.
func (s *Supervisor) Run(ctx context.Context) (int, error) {
	s.defaults()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for m := range s.notes {
			if err := s.Notify(m); err != nil {
				s.Logger.Warn("telling systemd failed", "err", err)
			}
		}
	}()
	// The last message (STOPPING=1) goes out before Run returns.
	defer func() { close(s.notes); <-sent }()
	dir, err := os.MkdirTemp(os.Getenv("RUNTIME_DIRECTORY"), "supervise-")
	if err != nil {
		return 1, fmt.Errorf("firmware: supervise: %w", err)
	}
	defer os.RemoveAll(dir)
	sockPath := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		return 1, fmt.Errorf("firmware: supervise: notify socket: %w", err)
	}
	defer sock.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	for {
		if err := s.Store.Repair(); err != nil {
			s.Logger.Error("the firmware folder needs repair", "err", err)
		}
		st, err := s.Store.State()
		if err != nil {
			// A damaged state file must not stop the kiosk: run what
			// the link names, without probation.
			s.Logger.Error("firmware state unreadable", "err", err)
		}
		version, bin := s.pick(st)
		trial := st.Trial != nil && st.Trial.Version == version
		if trial && st.Trial.Attempts >= s.MaxAttempts {
			s.rollback(fmt.Sprintf("it did not prove healthy in %d starts", st.Trial.Attempts))
			continue
		}
		if trial {
			if err := s.Store.Update(func(st *State) error {
				if st.Trial != nil {
					st.Trial.Attempts++
				}
				return nil
			}); err != nil {
				s.Logger.Error("counting the start of the version on probation failed", "err", err)
			}
		}
		s.Logger.Info("starting the kiosk daemon", "version", version, "binary", bin, "probation", trial)
		out := s.runChild(ctx, bin, sockPath, msgs, trial)
		switch {
		case out.failed != "":
			s.rollback(out.failed)
			continue
		case ctx.Err() != nil:
			return out.code, nil
		case out.code == ExitRestart:
			s.Logger.Info("the daemon stopped to start an update")
			continue
		}
		if version != s.SelfVersion && s.failedStart(version, out) {
			continue // back on the packaged version
		}
		return out.code, nil
	}
}

// pick chooses the version to run: the one the current link names if
// it is newer than the packaged binary (or on probation), else the
// packaged binary. A version on probation that a newer package overtook
// is dropped.
func (s *Supervisor) pick(st State) (version, bin string) {
	cur, err := s.Store.Current()
	if err != nil {
		s.Logger.Error("the current version is unreadable; running the packaged one", "err", err)
		return s.SelfVersion, s.Self
	}
	if cur == "" || !s.Store.Installed(cur) {
		return s.SelfVersion, s.Self
	}
	if Compare(cur, s.SelfVersion) > 0 {
		return cur, s.Store.Binary(cur)
	}
	if st.Trial != nil && st.Trial.Version == cur {
		s.Store.dropTrial()
	}
	return s.SelfVersion, s.Self
}

func (s *Supervisor) rollback(reason string) {
	s.Logger.Error("the new version failed its health check; going back", "reason", reason)
	if err := s.Store.Rollback(reason, s.Now()); err != nil {
		s.Logger.Error("rolling back failed", "err", err)
	}
}

type outcome struct {
	code   int    // the daemon's exit status
	failed string // why a version on probation failed ("": it did not)
	ready  bool   // it said READY=1 before it exited
}

// MaxFailedStarts is how many times in a row a version kept after its
// probation may exit before it says ready (a damaged file, a disk that
// went bad) before the supervisor goes back to the packaged version, so
// that systemd's start limit never leaves the kiosk dead on the wall.
const MaxFailedStarts = 3

// failedStart counts an over-the-air version's exits before ready and
// reports whether it fell back to the packaged version.
func (s *Supervisor) failedStart(version string, out outcome) bool {
	fellBack := false
	err := s.Store.Update(func(st *State) error {
		if out.ready || out.code == 0 {
			st.FailedStarts = 0
			return nil
		}
		st.FailedStarts++
		if st.FailedStarts < MaxFailedStarts {
			return nil
		}
		st.FailedStarts = 0
		fellBack = true
		st.Report = &protocol.UpdateReport{Version: version, State: protocol.UpdateRolledBack, At: s.Now(),
			Detail: fmt.Sprintf("it exited before it was ready %d starts in a row (last status %d); back to the packaged version %s", MaxFailedStarts, out.code, s.SelfVersion)}
		return nil
	})
	if err != nil {
		s.Logger.Error("counting a failed start failed", "err", err)
		return false
	}
	if !fellBack {
		return false
	}
	s.Logger.Error("the installed version keeps failing to start; going back to the packaged version", "version", version)
	if err := s.Store.link(""); err != nil {
		s.Logger.Error("going back to the packaged version failed", "err", err)
		return false
	}
	return true
}

// ProbationFor is the probation a new version serves when the watchdog
// timeout is watchdog: at least two timeouts, so that a daemon whose loop
// hangs right after it said ready is caught before it is kept.
func ProbationFor(probation, watchdog time.Duration) time.Duration {
	return max(probation, 2*watchdog)
}

// runChild runs one daemon and returns when it exits, or, on probation,
// when it failed (it is stopped first).
func (s *Supervisor) runChild(ctx context.Context, bin, sock string, msgs <-chan string, trial bool) outcome {
	cmd := exec.Command(bin, s.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = childEnv(os.Environ(), sock, s.Watchdog)
	// The daemon never outlives its supervisor (killed alone, outside
	// systemd's control group): no second daemon on the same database.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		if trial {
			return outcome{code: 1, failed: "it did not start: " + err.Error()}
		}
		s.Logger.Error("the daemon did not start", "err", err)
		return outcome{code: 127}
	}
	exited := make(chan int, 1)
	go func() {
		cmd.Wait()
		exited <- exitCode(cmd.ProcessState)
	}()

	start := s.Now()
	ready := false
	lastPing := start
	var probation <-chan time.Time
	readyTimer := time.NewTimer(s.ReadyTimeout)
	defer readyTimer.Stop()
	// The supervisor speaks for the daemon to systemd's watchdog until
	// the daemon is ready (but no longer than ReadyTimeout: a daemon that
	// never gets ready must be restarted by systemd) and, on probation,
	// until it proved healthy.
	speak := true
	tick := time.NewTicker(s.selfPing())
	defer tick.Stop()
	stopping := false
	done := ctx.Done()
	for {
		select {
		case <-done:
			done = nil
			stopping = true
			s.notify("STOPPING=1")
			cmd.Process.Signal(syscall.SIGTERM)
			go func() {
				time.Sleep(s.StopTimeout)
				cmd.Process.Kill()
			}()
		case code := <-exited:
			if trial && !stopping {
				return outcome{code: code, failed: fmt.Sprintf("it exited with status %d %s", code, s.since(start, ready))}
			}
			return outcome{code: code, ready: ready}
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			for _, line := range strings.Split(m, "\n") {
				switch {
				case line == "READY=1":
					if !ready {
						ready = true
						lastPing = s.Now()
						readyTimer.Stop()
						if trial {
							probation = time.After(s.Probation)
						}
					}
					if !s.readySent {
						s.readySent = true
						s.notify("READY=1")
					}
				case line == "WATCHDOG=1":
					lastPing = s.Now()
					if ready && !trial {
						s.notify(line)
					}
				case strings.HasPrefix(line, "STATUS="):
					s.notify(line)
				}
			}
		case <-readyTimer.C:
			if trial {
				return s.fail(cmd, exited, fmt.Sprintf("it did not report ready within %s", s.ReadyTimeout))
			}
			s.Logger.Error("the daemon did not report ready; leaving it to systemd's watchdog", "timeout", s.ReadyTimeout)
			speak = false
		case <-probation:
			crash("probation-over")
			if err := s.Store.Commit(s.Now()); err != nil {
				s.Logger.Error("keeping the new version failed", "err", err)
			} else {
				s.Logger.Info("the new version proved healthy and is kept")
			}
			trial = false
			probation = nil
		case <-tick.C:
			if speak && (!ready || trial) {
				s.notify("WATCHDOG=1")
			}
			if trial && ready && s.Watchdog > 0 && s.Now().Sub(lastPing) > s.Watchdog {
				return s.fail(cmd, exited, fmt.Sprintf("it stopped its watchdog pings (none for %s)", s.Now().Sub(lastPing).Round(time.Second)))
			}
		}
	}
}

// selfPing is how often the supervisor pings and checks the watchdog.
func (s *Supervisor) selfPing() time.Duration {
	if s.Watchdog > 0 {
		return max(s.Watchdog/4, 10*time.Millisecond)
	}
	return 5 * time.Second
}

func (s *Supervisor) since(start time.Time, ready bool) string {
	d := s.Now().Sub(start).Round(time.Second)
	if ready {
		return fmt.Sprintf("%s after it started, during its probation", d)
	}
	return fmt.Sprintf("%s after it started, before it reported ready", d)
}

// fail stops a daemon on probation and returns why it failed.
func (s *Supervisor) fail(cmd *exec.Cmd, exited <-chan int, why string) outcome {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case code := <-exited:
		return outcome{code: code, failed: why}
	case <-time.After(s.StopTimeout):
	}
	cmd.Process.Kill()
	return outcome{code: <-exited, failed: why}
}

// childEnv is the daemon's environment: its sd_notify messages go to the
// supervisor's socket, with the watchdog timeout, and it knows it is
// supervised.
func childEnv(env []string, sock string, watchdog time.Duration) []string {
	out := make([]string, 0, len(env)+3)
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", SupervisedEnv:
			continue
		}
		out = append(out, e)
	}
	out = append(out, "NOTIFY_SOCKET="+sock, SupervisedEnv+"=1")
	if watchdog > 0 {
		out = append(out, "WATCHDOG_USEC="+strconv.FormatInt(watchdog.Microseconds(), 10))
	}
	return out
}

func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
