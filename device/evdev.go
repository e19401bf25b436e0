package device

// USB keypads and USB badge readers are keyboards to Linux: their key
// presses arrive as input events on /dev/input/event*. This file reads
// those events itself rather than through an evdev library. The record is
// small and fixed (struct input_event: a struct timeval, then type, code
// and value), and golang.org/x/sys/unix is already a dependency; the one
// library available (github.com/kenshaw/evdev v0.1.0) drops the read
// error when its polling goroutine ends, so an unplugged device (ENODEV)
// looks like a quiet one, and it cannot interrupt a pending read.
//
// The record's timeval is two C longs, so a record is 24 bytes on 64-bit
// kernels and userlands and 16 bytes on 32-bit ARM (Debian armhf). The
// kernel keeps the 16-byte record for 32-bit programs even where their C
// library uses a 64-bit time_t, so the size is always two machine words
// plus eight bytes.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"syscall"
	"time"

	"github.com/siteclock/siteclock/kiosk"
)

// ErrUnplugged says an input device went away while it was being read.
var ErrUnplugged = errors.New("input device unplugged")

// Input event types and codes (linux/input-event-codes.h).
const (
	evSyn = 0x00
	evKey = 0x01

	synReport  = 0
	synDropped = 3

	keyPressed = 1 // value of EV_KEY; 0 is a release, 2 a key repeat
)

// Key codes (linux/input-event-codes.h).
const (
	keyEsc        = 1
	key1          = 2 // key1..key9 are 2..10
	key0          = 11
	keyBackspace  = 14
	keyI          = 23
	keyO          = 24
	keyEnter      = 28
	keyLeftCtrl   = 29
	keyF          = 33
	keyL          = 38
	keyLeftShift  = 42
	keyRightShift = 54
	keyKPAsterisk = 55
	keyLeftAlt    = 56
	keyCapsLock   = 58
	keyNumLock    = 69
	keyKP7        = 71
	keyKP8        = 72
	keyKP9        = 73
	keyKPMinus    = 74
	keyKP4        = 75
	keyKP5        = 76
	keyKP6        = 77
	keyKPPlus     = 78
	keyKP1        = 79
	keyKP2        = 80
	keyKP3        = 81
	keyKP0        = 82
	keyKPDot      = 83
	keyKPEnter    = 96
	keyRightCtrl  = 97
	keyKPSlash    = 98
	keyRightAlt   = 100
	keyLeftMeta   = 125
	keyRightMeta  = 126
)

// usbKeypadKeys maps key codes to kiosk keys; see USBKeypad.
var usbKeypadKeys = map[uint16]kiosk.Key{
	keyEnter: kiosk.KeyEnter, keyKPEnter: kiosk.KeyEnter,
	keyBackspace: kiosk.KeyClear, keyKPAsterisk: kiosk.KeyClear, keyEsc: kiosk.KeyClear,
	keyKPPlus: kiosk.KeyIn, keyI: kiosk.KeyIn,
	keyKPMinus: kiosk.KeyOut, keyO: kiosk.KeyOut,
	keyKPSlash: kiosk.KeyClockFor, keyF: kiosk.KeyClockFor,
	keyKPDot: kiosk.KeyLang, keyL: kiosk.KeyLang,
}

func init() {
	for code, d := range digitKeys {
		usbKeypadKeys[code] = kiosk.Key(d)
	}
}

// digitKeys maps the top-row and keypad digit keys to their digit.
var digitKeys = map[uint16]byte{
	key0: '0', key1: '1', key1 + 1: '2', key1 + 2: '3', key1 + 3: '4',
	key1 + 4: '5', key1 + 5: '6', key1 + 6: '7', key1 + 7: '8', key1 + 8: '9',
	keyKP0: '0', keyKP1: '1', keyKP2: '2', keyKP3: '3', keyKP4: '4',
	keyKP5: '5', keyKP6: '6', keyKP7: '7', keyKP8: '8', keyKP9: '9',
}

// modifierKeys are pressed by some badge readers around what they type;
// they do not spoil a read.
var modifierKeys = map[uint16]bool{
	keyLeftShift: true, keyRightShift: true, keyLeftCtrl: true, keyRightCtrl: true,
	keyLeftAlt: true, keyRightAlt: true, keyLeftMeta: true, keyRightMeta: true,
	keyCapsLock: true, keyNumLock: true,
}

// nativeWord is the size of a C long: half a struct timeval.
const nativeWord = bits.UintSize / 8

// inputEvent is the part of a struct input_event that matters here.
type inputEvent struct {
	typ, code uint16
	value     int32
}

func eventSize(word int) int { return 2*word + 8 }

// decodeEvent decodes one record of eventSize(word) bytes. Records are in
// the machine's byte order (little-endian on every Raspberry Pi).
func decodeEvent(b []byte, word int) inputEvent {
	b = b[2*word:] // skip the time
	return inputEvent{
		typ:   binary.NativeEndian.Uint16(b),
		code:  binary.NativeEndian.Uint16(b[2:]),
		value: int32(binary.NativeEndian.Uint32(b[4:])),
	}
}

// droppedCode is sent instead of a key code when the kernel dropped
// events because they were not read fast enough (SYN_DROPPED).
const droppedCode = 0xffff

// InputOptions tunes USBKeypad and BadgeReader; the zero value gives the
// defaults.
type InputOptions struct {
	// Retry is how often a device that is missing, unplugged or cannot be
	// opened is tried again. Default 3 s.
	Retry time.Duration
	// OnStatus, if set, hears about each change of the device's state:
	// nil once it is open and grabbed, else an error saying why it is not
	// and what to do. It is called from Run and should return quickly.
	OnStatus func(error)
}

// input is an event device that is opened again whenever it goes away.
type input struct {
	role     string
	path     string
	retry    time.Duration
	onStatus func(error)
	open     func(path string) (io.ReadCloser, error)
	word     int

	status    string // last reported; "ok" when open
	hasStatus bool
}

func newInput(role, path string, opts InputOptions) (*input, error) {
	if path == "" {
		return nil, fmt.Errorf("device: %s: no device path configured; use its /dev/input/by-id/…-event-kbd link, which survives re-plugging", role)
	}
	if opts.Retry < 0 {
		return nil, fmt.Errorf("device: %s: the retry interval cannot be negative", role)
	}
	if opts.Retry == 0 {
		opts.Retry = 3 * time.Second
	}
	return &input{role: role, path: path, retry: opts.Retry, onStatus: opts.OnStatus, open: openEvdev, word: nativeWord}, nil
}

func (in *input) report(err error) {
	s := "ok"
	if err != nil {
		s = err.Error()
	}
	if in.hasStatus && s == in.status {
		return
	}
	in.status, in.hasStatus = s, true
	if in.onStatus != nil {
		in.onStatus(err)
	}
}

// run opens the device, hands its key presses to consume until the device
// fails, and tries again every retry interval, until ctx is done. consume
// must return when presses is closed or ctx is done.
func (in *input) run(ctx context.Context, consume func(ctx context.Context, presses <-chan uint16)) error {
	for {
		f, err := in.open(in.path)
		if err != nil {
			err = fmt.Errorf("device: %s: %w", in.role, err)
		} else {
			in.report(nil)
			err = in.session(ctx, f, consume)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		in.report(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(in.retry):
		}
	}
}

// session reads f until it fails or ctx is done, and closes it.
func (in *input) session(ctx context.Context, f io.ReadCloser, consume func(context.Context, <-chan uint16)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Closing the file is what interrupts a pending read.
	context.AfterFunc(ctx, func() { f.Close() })

	presses := make(chan uint16)
	readErr := make(chan error, 1)
	go func() {
		readErr <- in.read(ctx, f, presses)
		close(presses)
	}()
	consume(ctx, presses)
	cancel()
	err := <-readErr
	// Close now too, not only from the AfterFunc's goroutine: the grab
	// must be gone before the device is opened again.
	f.Close()
	return err
}

// read decodes events from f and sends key presses (and droppedCode) to
// presses, until reading fails or ctx is done.
func (in *input) read(ctx context.Context, f io.Reader, presses chan<- uint16) error {
	size := eventSize(in.word)
	buf := make([]byte, 64*size)
	have := 0
	dropping := false
	for {
		n, err := f.Read(buf[have:])
		have += n
		i := 0
		for ; have-i >= size; i += size {
			ev := decodeEvent(buf[i:i+size], in.word)
			code, ok := uint16(0), false
			switch {
			case ev.typ == evSyn && ev.code == synDropped:
				// Events up to the next report are incomplete: skip them.
				dropping = true
				code, ok = droppedCode, true
			case ev.typ == evSyn && ev.code == synReport:
				dropping = false
			case dropping:
			case ev.typ == evKey && ev.value == keyPressed:
				code, ok = ev.code, true
			}
			if ok {
				select {
				case presses <- code:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		have = copy(buf, buf[i:have])
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return in.readError(err)
		}
	}
}

func (in *input) readError(err error) error {
	if errors.Is(err, syscall.ENODEV) || errors.Is(err, io.EOF) {
		return fmt.Errorf("device: %s %s: %w: plug it back in; it is looked for every %v", in.role, in.path, ErrUnplugged, in.retry)
	}
	return fmt.Errorf("device: %s %s: read: %w", in.role, in.path, err)
}

// openError explains why an input device could not be opened or grabbed.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV):
		return fmt.Errorf("%w: not plugged in, or the path in the config is wrong (ls -l /dev/input/by-id)", err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: add the service user to group input", err)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w: another program has grabbed %s", err, path)
	case errors.Is(err, syscall.ENOTTY) || errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("%w: %s is not an input event device; use a /dev/input/event* or /dev/input/by-id/…-event-kbd path", err, path)
	}
	return err
}

// USBKeypad reads a USB numeric keypad, or any keyboard, through its input
// event device, and sends kiosk keys:
//
//	key                                   kiosk key
//	0–9, keypad 0–9                       digit
//	Enter, keypad Enter                   # (Enter)
//	Backspace, keypad *, Esc              * (Clear)
//	keypad +, I                           IN
//	keypad −, O                           OUT
//	keypad /, F                           Clock For
//	keypad . (Del), L                     language
//
// Every other key is ignored. Keypad keys send the same codes whatever the
// Num Lock state (the console or X applies it, later). The device is
// grabbed (EVIOCGRAB), so its keys do not also reach the console or
// another program. Only presses count: releases and key repeats are
// ignored, so a held key is one press.
type USBKeypad struct {
	in *input
}

// NewUSBKeypad returns a keypad read from path: best a stable link such as
// /dev/input/by-id/usb-…-event-kbd, since event numbers change when
// devices are plugged in.
func NewUSBKeypad(path string, opts InputOptions) (*USBKeypad, error) {
	in, err := newInput("USB keypad", path, opts)
	if err != nil {
		return nil, err
	}
	return &USBKeypad{in: in}, nil
}

// Run sends key presses to out, waiting for the receiver, until ctx is
// done, and returns ctx.Err(). While the device is missing or unplugged it
// tries to open it again every Retry, reporting through OnStatus.
func (k *USBKeypad) Run(ctx context.Context, out chan<- kiosk.Key) error {
	return k.in.run(ctx, func(ctx context.Context, presses <-chan uint16) {
		for code := range presses {
			key, ok := usbKeypadKeys[code]
			if !ok {
				continue
			}
			select {
			case out <- key:
			case <-ctx.Done():
				return
			}
		}
	})
}

// Badge reads.
const (
	maxBadgeDigits = 32
	badgeSilence   = time.Second
)

// BadgeReader reads a USB badge reader (RFID, magnetic stripe or barcode)
// that types a badge's number as key presses followed by Enter. A read
// counts as the employee number typed on the keypad.
//
// A read is sent only if it has 1 to 32 digits and nothing but digits
// (Shift and other modifiers aside): a read with another key, or with
// events the kernel dropped, is not a number this kiosk knows, and
// guessing would clock in the wrong person. A read left without Enter for
// a second is dropped. The device is grabbed (EVIOCGRAB), so the digits
// do not also reach the console.
type BadgeReader struct {
	in *input
}

// NewBadgeReader returns a badge reader read from path (see
// NewUSBKeypad).
func NewBadgeReader(path string, opts InputOptions) (*BadgeReader, error) {
	in, err := newInput("badge reader", path, opts)
	if err != nil {
		return nil, err
	}
	return &BadgeReader{in: in}, nil
}

// Run sends each badge number to out, waiting for the receiver, until ctx
// is done, and returns ctx.Err(). While the device is missing or
// unplugged it tries to open it again every Retry, reporting through
// OnStatus.
func (b *BadgeReader) Run(ctx context.Context, out chan<- string) error {
	return b.in.run(ctx, func(ctx context.Context, presses <-chan uint16) {
		var (
			digits  []byte
			spoiled bool // too long, a key that is not a digit, or dropped events
		)
		// silence runs while a read is under way.
		silence := time.NewTimer(badgeSilence)
		defer silence.Stop()
		silence.Stop()
		for {
			select {
			case code, ok := <-presses:
				if !ok {
					return
				}
				d, isDigit := digitKeys[code]
				switch {
				case code == keyEnter || code == keyKPEnter:
					if !spoiled && len(digits) > 0 {
						select {
						case out <- string(digits):
						case <-ctx.Done():
							return
						}
					}
					digits, spoiled = digits[:0], false
					silence.Stop()
					continue
				case isDigit && len(digits) < maxBadgeDigits:
					digits = append(digits, d)
				case !modifierKeys[code]:
					spoiled = true
				}
				silence.Reset(badgeSilence)
			case <-silence.C:
				digits, spoiled = digits[:0], false
			case <-ctx.Done():
				return
			}
		}
	})
}
