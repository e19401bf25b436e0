package device

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"testing/synctest"

	"github.com/siteclock/siteclock/kiosk"
)

// collect runs read in a goroutine with an unbuffered channel, as the runner
// does, and returns the keys it sent and its result.
func collect(t *testing.T, read func(context.Context, chan<- kiosk.Key) error) (string, error) {
	t.Helper()
	out := make(chan kiosk.Key)
	done := make(chan error, 1)
	go func() {
		done <- read(t.Context(), out)
		close(out)
	}()
	var keys strings.Builder
	for k := range out {
		keys.WriteByte(byte(k))
	}
	return keys.String(), <-done
}

func TestReadKeys(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"script", "1234#i", "1234#i"},
		{"every key", "0123456789#*iofl", "0123456789#*iofl"},
		{"upper case buttons", "IOFL", "iofl"},
		{"whitespace", " 12\n34\t#\r\ni \n", "1234#i"},
		{"other characters", "x1?2!é3€4zz", "1234"},
		{"invalid UTF-8 does not eat a key", "\xe21\xff2\xe2\x82", "12"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t, func(ctx context.Context, out chan<- kiosk.Key) error {
				return ReadKeys(ctx, strings.NewReader(tt.in), out)
			})
			if err != nil {
				t.Errorf("ReadKeys = %v at end of input, want nil", err)
			}
			if got != tt.want {
				t.Errorf("keys = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadKeysReadError(t *testing.T) {
	broken := errors.New("input/output error")
	r := io.MultiReader(strings.NewReader("12"), iotest.ErrReader(broken))
	got, err := collect(t, func(ctx context.Context, out chan<- kiosk.Key) error {
		return ReadKeys(ctx, r, out)
	})
	if got != "12" {
		t.Errorf("keys = %q, want the keys before the error, %q", got, "12")
	}
	if !errors.Is(err, broken) || !strings.HasPrefix(err.Error(), "device: read keys: ") {
		t.Errorf("ReadKeys = %v, want a device: read keys: error wrapping %v", err, broken)
	}
}

func TestReadKeysCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		r := strings.NewReader("123")
		out := make(chan kiosk.Key)
		done := make(chan error, 1)
		go func() { done <- ReadKeys(ctx, r, out) }()

		if k := <-out; k != '1' {
			t.Fatalf("first key = %q, want '1'", k)
		}
		// ReadKeys now waits to send '2', however long the runner is busy:
		// it does not drop it.
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("ReadKeys returned %v while a key was waiting to be sent", err)
		default:
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("ReadKeys = %v after cancel, want context.Canceled", err)
		}
		// It reads no further ahead than the key it was sending.
		if r.Len() != 1 {
			t.Errorf("%d bytes left unread, want 1", r.Len())
		}
	})
}

func TestReadKeysCancelledBeforeReading(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := strings.NewReader("1")
	if err := ReadKeys(ctx, r, make(chan kiosk.Key, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadKeys = %v, want context.Canceled", err)
	}
	if r.Len() != 1 {
		t.Error("ReadKeys read after its context was cancelled")
	}
}
