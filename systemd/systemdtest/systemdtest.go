// Package systemdtest stands in for systemd in tests: a unixgram socket
// named by NOTIFY_SOCKET that keeps what the daemon tells it, and the
// WATCHDOG_USEC and WATCHDOG_PID a unit with WatchdogSec= would set.
//
// Reading never waits: the daemon's sd_notify is a datagram sent before
// its call returns, so once the code under test has been driven to a
// point (or testing/synctest's Wait has returned), everything it said is
// there to read.
package systemdtest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is the stand-in for systemd's notify socket.
type Socket struct {
	fd      int
	path    string
	pending []string // read by WaitFor past what it waited for
}

// Listen opens the socket, points NOTIFY_SOCKET at it for the rest of the
// test and clears the watchdog variables; the test must not be parallel.
func Listen(t testing.TB) *Socket {
	t.Helper()
	// A short folder: a socket path may be at most 107 bytes.
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Socket{path: filepath.Join(dir, "notify")}
	s.fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	if err := unix.Bind(s.fd, &unix.SockaddrUnix{Name: s.path}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", s.path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	return s
}

// Path is the socket's file name.
func (s *Socket) Path() string { return s.path }

// Watch sets what systemd sets for WatchdogSec=d: WATCHDOG_USEC, and
// WATCHDOG_PID naming this process.
func (s *Socket) Watch(t testing.TB, d time.Duration) {
	t.Helper()
	t.Setenv("WATCHDOG_USEC", strconv.FormatInt(d.Microseconds(), 10))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
}

// Messages returns what was received since the last call, oldest first,
// without waiting for more. The kernel queues only a few datagrams
// (net.unix.max_dgram_qlen, 10 by default) before a sender blocks, so
// read them at least that often.
func (s *Socket) Messages(t testing.TB) []string {
	t.Helper()
	out := s.pending
	s.pending = nil
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(s.fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return out
		}
		if err != nil {
			t.Fatalf("systemdtest: read the notify socket: %v", err)
		}
		out = append(out, string(buf[:n]))
	}
}

// WaitFor reads until the message m arrives and returns everything read,
// m last. It is for a daemon in another process, whose pace a test does not
// control; give up says how long before the test fails, not how long the
// daemon should take.
func (s *Socket) WaitFor(t testing.TB, m string, giveUp time.Duration) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(giveUp)
	for {
		got := s.Messages(t)
		for i, x := range got {
			if x == m {
				s.pending = got[i+1:] // for the next call
				return append(out, got[:i+1]...)
			}
		}
		out = append(out, got...)
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("systemdtest: %q never came in %v; got %q", m, giveUp, out)
		}
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(min(left, time.Second).Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("systemdtest: wait on the notify socket: %v", err)
		}
	}
}

// Count is how many of msgs are exactly m.
func Count(msgs []string, m string) int {
	n := 0
	for _, x := range msgs {
		if x == m {
			n++
		}
	}
	return n
}
