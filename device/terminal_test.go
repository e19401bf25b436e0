package device

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/siteclock/siteclock/kiosk"
)

func TestTerminalKeys(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"digits and keys", "0123456789#*iofl", "0123456789#*iofl", nil},
		{"upper case buttons", "IOFL", "iofl", nil},
		{"Enter is carriage return in raw mode", "12\r", "12#", nil},
		{"newline is Enter", "1\n2\n\n", "1#2##", nil},
		{"CR LF is one Enter", "1\r\n2\r\r\n", "1#2##", nil},
		{"Backspace and Delete clear", "12\x7f3\x08", "12*3*", nil},
		{"Ctrl-C quits", "1\x032", "1", ErrQuit},
		{"Ctrl-D quits", "\x04", "", ErrQuit},
		{"arrow keys are ignored", "\x1b[A1\x1b[D", "1", nil},
		{"function keys are ignored", "\x1bOP1\x1b[15~2\x1b[1;5I3", "123", nil},
		{"Alt with a key is ignored", "\x1bi1", "1", nil},
		{"other characters are ignored", "x 1\té?2", "12", nil},
		{"end of input", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t, func(ctx context.Context, out chan<- kiosk.Key) error {
				return terminalKeys(ctx, strings.NewReader(tt.in), out)
			})
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Errorf("terminalKeys = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("keys = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTerminalKeysFromPipe(t *testing.T) {
	// Key presses arrive one read at a time, as from a terminal.
	pr, pw := io.Pipe()
	go func() {
		for _, press := range []string{"1", "\x1b[A", "2", "\r", "i", "\x03"} {
			pw.Write([]byte(press))
		}
		pw.Close()
	}()
	got, err := collect(t, func(ctx context.Context, out chan<- kiosk.Key) error {
		return terminalKeys(ctx, pr, out)
	})
	if got != "12#i" || err != ErrQuit {
		t.Errorf("got keys %q and %v, want %q and ErrQuit", got, err, "12#i")
	}
}

func TestTerminalKeysCancelWhileSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- terminalKeys(ctx, strings.NewReader("12"), make(chan kiosk.Key)) }()
		synctest.Wait() // blocked sending '1'
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("terminalKeys = %v, want context.Canceled", err)
		}
	})
}

func TestTerminalKeysReadError(t *testing.T) {
	broken := errors.New("input/output error")
	pr, pw := io.Pipe()
	pw.CloseWithError(broken)
	err := terminalKeys(t.Context(), pr, make(chan kiosk.Key))
	if !errors.Is(err, broken) || !strings.HasPrefix(err.Error(), "device: terminal: ") {
		t.Errorf("terminalKeys = %v, want a device: terminal: error wrapping %v", err, broken)
	}
}

func TestOpenTerminalNotATerminal(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	term, err := OpenTerminal(pr)
	if !errors.Is(err, ErrNotTerminal) || term != nil {
		t.Fatalf("OpenTerminal(pipe) = %v, %v; want ErrNotTerminal", term, err)
	}
	if !strings.Contains(err.Error(), "--headless") {
		t.Errorf("error %q does not say what to do", err)
	}
}
