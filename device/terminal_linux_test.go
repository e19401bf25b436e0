package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/siteclock/siteclock/kiosk"
)

// openPTY returns both ends of a new pseudo-terminal: a real terminal for
// OpenTerminal, with the controller end to type into.
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	c, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	fd := int(c.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pseudo-terminal number: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return c, tty
}

func TestTerminalOnPTY(t *testing.T) {
	controller, tty := openPTY(t)
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}

	term, err := OpenTerminal(tty)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("lflag = %#x: want canonical mode, echo and signals off", raw.Lflag)
	}
	if raw.Oflag&unix.OPOST == 0 {
		t.Error("output processing is off: log lines would not return to the margin")
	}

	// Ctrl-C arrives as a key, not as SIGINT.
	if _, err := controller.WriteString("4\x7f2\r\x1b[Ai\x03"); err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, term.Run)
	if got != "4*2#i" || err != ErrQuit {
		t.Errorf("Run sent %q and returned %v; want %q and ErrQuit", got, err, "4*2#i")
	}

	if err := term.Restore(); err != nil {
		t.Fatal(err)
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("after Restore: lflag %#x iflag %#x oflag %#x; want %#x %#x %#x as before",
			after.Lflag, after.Iflag, after.Oflag, before.Lflag, before.Iflag, before.Oflag)
	}
	if err := term.Restore(); err != nil {
		t.Errorf("second Restore = %v, want nil", err)
	}
}

func TestTerminalRunCancel(t *testing.T) {
	// A pipe stands in for the terminal: Run only reads it.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	term := &Terminal{f: pr}

	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan kiosk.Key)
	done := make(chan error, 1)
	go func() { done <- term.Run(ctx, out) }()

	pw.WriteString("7")
	if k := <-out; k != '7' {
		t.Fatalf("key = %q, want '7'", k)
	}
	// Run is now blocked reading a terminal nobody types on; cancelling must
	// not wait for a key.
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	// The input after cancelling is left for whoever reads next.
	pw.WriteString("8")
	var b [1]byte
	if n, _ := pr.Read(b[:]); n != 1 || b[0] != '8' {
		t.Errorf("read %q after Run, want '8'", b[:n])
	}
}
