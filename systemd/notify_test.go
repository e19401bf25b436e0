package systemd

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// listen stands in for systemd: a unixgram socket named by NOTIFY_SOCKET.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	c := listen(t)
	if err := Ready("offline, 2 waiting\nlast sync never"); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, c), "READY=1\nSTATUS=offline, 2 waiting last sync never"; got != want {
		t.Errorf("datagram %q, want %q", got, want)
	}
	if err := Status("online, 0 waiting"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "STATUS=online, 0 waiting" {
		t.Errorf("datagram %q", got)
	}
	if err := Stopping(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); got != "STOPPING=1" {
		t.Errorf("datagram %q", got)
	}
}

func TestOutsideSystemdIsSilent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Ready("x"); err != nil {
		t.Errorf("Ready outside systemd: %v", err)
	}
}

func TestMissingSocketIsAnError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	if err := Status("x"); err == nil {
		t.Error("notify to a missing socket succeeded")
	}
}
