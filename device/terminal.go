package device

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/siteclock/siteclock/kiosk"
)

// ErrQuit is returned by Terminal.Run when the person at the terminal presses
// Ctrl-C or Ctrl-D. In raw mode those keys arrive as input rather than as a
// signal, so the command should treat ErrQuit as it treats SIGINT.
var ErrQuit = errors.New("device: terminal: quit")

// ErrNotTerminal is returned by OpenTerminal when the file is not a terminal.
var ErrNotTerminal = errors.New("device: terminal: standard input is not a terminal; use --headless to read keys from a pipe")

// Terminal reads single key presses from a terminal, for the demo: the
// keyboard stands in for the keypad and buttons. OpenTerminal puts the
// terminal into raw mode so that each key arrives at once, without Enter and
// without echo; Restore puts it back.
//
// The keys are: digits; '#' or Enter for Enter; '*', Backspace or Delete for
// Clear; i, o, f and l for the IN, OUT, Clock For and Language buttons; and
// Ctrl-C or Ctrl-D to quit. Other keys, including arrows and function keys,
// are ignored.
type Terminal struct {
	f     *os.File
	fd    int
	state *term.State // the mode to restore; nil once restored
}

// OpenTerminal puts the terminal f, usually os.Stdin, into raw mode and
// returns a Terminal reading keys from it. It returns ErrNotTerminal if f is
// not a terminal. The caller must call Restore when done, even when Run
// fails, or the shell is left in raw mode.
//
// Raw mode leaves output processing on, so log lines written to the same
// terminal still start at the left margin (on Linux; elsewhere end lines
// with "\r\n").
func OpenTerminal(f *os.File) (*Terminal, error) {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return nil, ErrNotTerminal
	}
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("device: terminal: set raw mode on %s: %w; use --headless to read keys from a pipe", f.Name(), err)
	}
	keepOutputProcessing(fd)
	return &Terminal{f: f, fd: fd, state: state}, nil
}

// Run reads key presses and sends the keys to out, in order, waiting for the
// receiver rather than dropping a key. It returns ErrQuit when the person
// presses Ctrl-C or Ctrl-D, nil when the terminal closes, and ctx.Err() when
// ctx is done. On Linux a cancelled Run returns at once; elsewhere it returns
// at the next key press, because a blocked read of a terminal cannot be
// interrupted.
func (t *Terminal) Run(ctx context.Context, out chan<- kiosk.Key) error {
	r, stop, err := cancelableReader(ctx, t.f)
	if err != nil {
		return err
	}
	defer stop()
	return terminalKeys(ctx, r, out)
}

// Restore puts the terminal back into the mode it was in before
// OpenTerminal. Call it after Run has returned. Calling it again does
// nothing.
func (t *Terminal) Restore() error {
	if t.state == nil {
		return nil
	}
	if err := term.Restore(t.fd, t.state); err != nil {
		return fmt.Errorf("device: terminal: restore mode of %s: %w; run reset to repair the terminal", t.f.Name(), err)
	}
	t.state = nil
	return nil
}

// Control characters a terminal sends in raw mode.
const (
	ctrlC     = 0x03
	ctrlD     = 0x04
	backspace = 0x08
	escape    = 0x1b
	del       = 0x7f // what the Backspace key sends on most terminals
)

// errCanceled is returned by a cancelableReader's Read once its context is
// done.
var errCanceled = errors.New("read canceled")

// terminalKeys maps the bytes a terminal in raw mode sends to keys and sends
// them to out. It is Terminal.Run without the terminal, so the mapping can be
// tested with a pipe.
func terminalKeys(ctx context.Context, r io.Reader, out chan<- kiosk.Key) error {
	// A terminal sends each key press, escape sequences included, in one
	// write, and a read returns it whole; bufio shows what else came with a
	// byte.
	br := bufio.NewReader(r)
	var prev byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := br.ReadByte()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err == io.EOF:
				return nil
			}
			return fmt.Errorf("device: terminal: read keys: %w", err)
		}
		var k kiosk.Key
		switch c {
		case ctrlC, ctrlD:
			return ErrQuit
		case '\r':
			k = kiosk.KeyEnter
		case '\n':
			if prev == '\r' { // one Enter sent as "\r\n"
				prev = c
				continue
			}
			k = kiosk.KeyEnter
		case backspace, del:
			k = kiosk.KeyClear
		case escape:
			skipEscapeSequence(br)
		default:
			if c < 0x80 {
				k, _ = kiosk.ParseKey(rune(c))
			}
		}
		prev = c
		if k == 0 {
			continue
		}
		select {
		case out <- k:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// skipEscapeSequence skips the rest of an escape sequence (an arrow or
// function key) after its ESC, so that its letters, such as the 'O' of "ESC O P"
// for F1, are not taken for keys. A lone ESC, with nothing after it in the same
// read, is skipped alone.
func skipEscapeSequence(br *bufio.Reader) {
	if br.Buffered() == 0 {
		return
	}
	c, _ := br.ReadByte()
	switch c {
	case '[': // CSI: parameters, then a final byte in 0x40–0x7e
		for br.Buffered() > 0 {
			if c, _ := br.ReadByte(); c >= 0x40 && c <= 0x7e {
				return
			}
		}
	case 'O': // SS3: one more byte
		if br.Buffered() > 0 {
			br.ReadByte()
		}
	}
	// Otherwise ESC was Alt with a key: skip the key too.
}
