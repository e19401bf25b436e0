// Package device has the input devices that produce kiosk keys. Every device
// sends kiosk.Key values on a channel, one at a time and in order, so the
// kiosk runner does not care where a key came from.
//
// The real devices: a matrix keypad (Matrix) and push buttons (Buttons) on
// GPIO lines, USB keypads and badge readers through Linux input events
// (USBKeypad, BadgeReader), and the outputs beside them, a buzzer and a
// status LED. The simulated ones: ReadKeys reads keys from a pipe or file
// for headless mode and scripts, and Terminal reads single key presses from
// a terminal for the demo. OpenI2C opens the I2C bus the small displays
// use.
package device

import (
	"context"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/siteclock/siteclock/kiosk"
)

// ReadKeys reads characters from r, maps each with kiosk.ParseKey and sends
// the keys to out, in order, waiting for the receiver rather than dropping a
// key. Whitespace (so a script may be split into lines) and any other
// character that is not a key are skipped.
//
// ReadKeys returns nil at the end of input and ctx.Err() when ctx is done. It
// checks ctx between reads: a Read blocked on a pipe or os.Stdin cannot be
// interrupted, so cancelling returns only once that Read returns.
//
// It reads one byte at a time and never reads ahead, so input after the key
// it was handling when it returned is still in r.
func ReadKeys(ctx context.Context, r io.Reader, out chan<- kiosk.Key) error {
	var (
		buf [utf8.UTFMax]byte
		n   int // bytes of an incomplete rune in buf
	)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := r.Read(buf[n : n+1])
		n += m
		// Decode every complete rune; at the end of input, what is left too.
		// buf never fills up: four bytes are always a full rune.
		for n > 0 && (utf8.FullRune(buf[:n]) || err != nil) {
			c, size := utf8.DecodeRune(buf[:n])
			n = copy(buf[:], buf[size:n])
			if k, ok := kiosk.ParseKey(c); ok {
				select {
				case out <- k:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("device: read keys: %w", err)
		}
	}
}
