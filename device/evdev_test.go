package device

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/siteclock/siteclock/kiosk"
)

var update = flag.Bool("update", false, "rewrite testdata/evdev-*.bin from the event lists in evdev_test.go")

// The recordings in testdata/evdev-*.bin are event streams as the kernel
// hands them to a reader, in both record layouts: -64.bin with 24-byte
// records (64-bit longs) and -32.bin with 16-byte ones (armhf). They are
// generated from the lists below (go test ./device -run Recordings
// -update) and checked against them, so a change to either shows. They
// follow what a USB keyboard sends: for each key a MSC_SCAN event (scan
// codes made up here), the EV_KEY event, a SYN_REPORT; key repeats (value
// 2) while a key is held.

// rec is one event of a recording, at a time from its start.
type rec struct {
	at    time.Duration
	typ   uint16
	code  uint16
	value int32
}

const evMsc, mscScan = 0x04, 0x04

// tap presses and releases code at t, 80 ms apart.
func tap(t time.Duration, code uint16) []rec {
	return slices.Concat(hold(t, code, 0), release(t+80*time.Millisecond, code))
}

// hold presses code at t and sends repeats as a held key does: the first
// after 250 ms, then every 33 ms.
func hold(t time.Duration, code uint16, repeats int) []rec {
	r := []rec{{t, evMsc, mscScan, 0x70000 + int32(code)}, {t, evKey, code, 1}, {t, evSyn, synReport, 0}}
	for i := range repeats {
		at := t + 250*time.Millisecond + time.Duration(i)*33*time.Millisecond
		r = append(r, rec{at, evKey, code, 2}, rec{at, evSyn, synReport, 0})
	}
	return r
}

func release(t time.Duration, code uint16) []rec {
	return []rec{{t, evMsc, mscScan, 0x70000 + int32(code)}, {t, evKey, code, 0}, {t, evSyn, synReport, 0}}
}

// typed taps each key of codes in turn, gap apart, from t.
func typed(t, gap time.Duration, codes ...uint16) []rec {
	var r []rec
	for i, c := range codes {
		r = append(r, tap(t+time.Duration(i)*gap, c)...)
	}
	return r
}

// digitCodes returns the top-row (or keypad) key codes typing s.
func digitCodes(s string, keypad bool) []uint16 {
	var codes []uint16
	for _, c := range s {
		for code, d := range digitKeys {
			isKP := code >= keyKP7
			if rune(d) == c && isKP == keypad {
				codes = append(codes, code)
			}
		}
	}
	return codes
}

var recordings = map[string]struct {
	events []rec
	doc    string
}{
	"keypad": {
		doc: "a USB numeric keypad: keypad 1 2, 3 held with repeats, then the function keys, Num Lock, A, top-row 9 0, Enter, Esc",
		events: slices.Concat(
			typed(0, 300*time.Millisecond, keyKP1, keyKP2),
			hold(600*time.Millisecond, keyKP3, 5), release(1100*time.Millisecond, keyKP3),
			typed(1500*time.Millisecond, 200*time.Millisecond,
				keyBackspace, keyKPEnter, keyKPPlus, keyKPMinus, keyKPSlash, keyKPDot,
				keyNumLock, 30 /* KEY_A */, key1+8, key0, keyEnter, keyEsc),
		),
	},
	"badge": {
		doc: "a badge reader: 0004512 Enter; 35 digits Enter; 12 A 4 Enter; Enter alone; Shift held around keypad 987654 keypad Enter",
		events: slices.Concat(
			typed(0, 8*time.Millisecond, append(digitCodes("0004512", false), keyEnter)...),
			typed(2*time.Second, 8*time.Millisecond, append(digitCodes(strings.Repeat("1234567", 5), false), keyEnter)...),
			typed(4*time.Second, 8*time.Millisecond, slices.Concat(digitCodes("12", false), []uint16{30}, digitCodes("4", false), []uint16{keyEnter})...),
			tap(6*time.Second, keyEnter),
			hold(8*time.Second, keyLeftShift, 0),
			typed(8*time.Second+10*time.Millisecond, 8*time.Millisecond, append(digitCodes("987654", true), keyKPEnter)...),
			release(9*time.Second, keyLeftShift),
		),
	},
}

// encode writes events as struct input_event records with word-byte
// longs, starting at an arbitrary boot time.
func encode(events []rec, word int) []byte {
	var b bytes.Buffer
	start := 1234*time.Second + 567*time.Microsecond
	putLong := func(v int64) {
		if word == 8 {
			binary.Write(&b, binary.LittleEndian, v)
		} else {
			binary.Write(&b, binary.LittleEndian, int32(v))
		}
	}
	for _, e := range events {
		t := start + e.at
		putLong(int64(t / time.Second))
		putLong(int64(t % time.Second / time.Microsecond))
		binary.Write(&b, binary.LittleEndian, e.typ)
		binary.Write(&b, binary.LittleEndian, e.code)
		binary.Write(&b, binary.LittleEndian, e.value)
	}
	return b.Bytes()
}

func recordingPath(name string, word int) string {
	return filepath.Join("testdata", fmt.Sprintf("evdev-%s-%d.bin", name, word*8))
}

func TestEvdevRecordings(t *testing.T) {
	for name, r := range recordings {
		for _, word := range []int{8, 4} {
			path := recordingPath(name, word)
			want := encode(r.events, word)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./device -run Recordings -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the %s recording in evdev_test.go; rerun with -update if the list changed", path, name)
			}
			if len(got) != len(r.events)*eventSize(word) {
				t.Errorf("%s: %d bytes for %d events of %d bytes", path, len(got), len(r.events), eventSize(word))
			}
		}
	}
}

// TestDecodeEventLayout checks the two record layouts against bytes
// written out by hand from struct input_event: EV_KEY KEY_1 pressed at
// 1.000002 s.
func TestDecodeEventLayout(t *testing.T) {
	want := inputEvent{typ: evKey, code: key1, value: 1}
	for word, b := range map[int][]byte{
		8: {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 1, 0, 0, 0},
		4: {1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0, 1, 0, 0, 0},
	} {
		if len(b) != eventSize(word) {
			t.Errorf("%d-byte longs: record of %d bytes, want %d", word, len(b), eventSize(word))
		}
		if got := decodeEvent(b, word); got != want {
			t.Errorf("%d-byte longs: %+v, want %+v", word, got, want)
		}
	}
	if nativeWord != 4 && nativeWord != 8 {
		t.Errorf("nativeWord = %d", nativeWord)
	}
}

// part is a piece of a scripted device's stream, after a pause.
type part struct {
	pause time.Duration
	data  []byte
}

// scriptedDevice plays parts of an event stream in reads of at most 10
// bytes (not whole records, to exercise reassembly), then returns end, or
// blocks until closed if end is nil.
type scriptedDevice struct {
	parts   []part
	end     error
	pending []byte
	closed  chan struct{}
	once    sync.Once
}

func newScripted(end error, parts ...part) *scriptedDevice {
	return &scriptedDevice{parts: parts, end: end, closed: make(chan struct{})}
}

func (d *scriptedDevice) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if len(d.parts) == 0 {
			if d.end != nil {
				return 0, d.end
			}
			<-d.closed
			return 0, os.ErrClosed
		}
		next := d.parts[0]
		d.parts = d.parts[1:]
		select {
		case <-time.After(next.pause):
		case <-d.closed:
			return 0, os.ErrClosed
		}
		d.pending = next.data
	}
	n := copy(p[:min(len(p), 10)], d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

func (d *scriptedDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

// unplugged is the error a read returns once the device is gone.
var unplugged = &os.PathError{Op: "read", Path: "/dev/input/event3", Err: syscall.ENODEV}

// opener hands out devices in turn, then "no such file".
type opener struct {
	mu      sync.Mutex
	devices []io.ReadCloser
	opens   int
}

func (o *opener) open(path string) (io.ReadCloser, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opens++
	if len(o.devices) == 0 || o.devices[0] == nil {
		if len(o.devices) > 0 {
			o.devices = o.devices[1:]
		}
		return nil, openError(path, &os.PathError{Op: "open", Path: path, Err: syscall.ENOENT})
	}
	d := o.devices[0]
	o.devices = o.devices[1:]
	return d, nil
}

// statusLog records OnStatus calls as "ok", "unplugged" or "missing",
// checking that each error says what to do.
type statusLog struct {
	t  *testing.T
	mu sync.Mutex
	s  []string
}

func (l *statusLog) record(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		l.s = append(l.s, "ok")
	case errors.Is(err, ErrUnplugged) && strings.Contains(err.Error(), "plug it back in"):
		l.s = append(l.s, "unplugged")
	case errors.Is(err, os.ErrNotExist) && strings.Contains(err.Error(), "not plugged in"):
		l.s = append(l.s, "missing")
	default:
		l.t.Errorf("status %v", err)
		l.s = append(l.s, "?")
	}
}

func (l *statusLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.s, " ")
}

func readRecording(t *testing.T, name string, word int) []byte {
	t.Helper()
	b, err := os.ReadFile(recordingPath(name, word))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUSBKeypadRecording(t *testing.T) {
	for _, word := range []int{8, 4} {
		t.Run(fmt.Sprintf("%d-bit", word*8), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				status := &statusLog{t: t}
				k, err := NewUSBKeypad("/dev/input/by-id/usb-keypad-event-kbd", InputOptions{OnStatus: status.record})
				if err != nil {
					t.Fatal(err)
				}
				dev := newScripted(unplugged, part{data: readRecording(t, "keypad", word)})
				o := &opener{devices: []io.ReadCloser{dev}}
				k.in.open, k.in.word = o.open, word

				ctx, cancel := context.WithCancel(t.Context())
				out := make(chan kiosk.Key, 64)
				done := make(chan error)
				go func() { done <- k.Run(ctx, out) }()
				time.Sleep(10 * time.Second) // three retries after the unplug
				synctest.Wait()
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v, want context.Canceled", err)
				}
				close(out)
				var got []byte
				for key := range out {
					got = append(got, byte(key))
				}
				if want := "123*#iofl90#*"; string(got) != want {
					t.Errorf("keys %q, want %q", got, want)
				}
				if got, want := status.String(), "ok unplugged missing"; got != want {
					t.Errorf("status %q, want %q", got, want)
				}
				if o.opens != 4 {
					t.Errorf("%d opens in 10 s, want 4 (one every 3 s after the unplug)", o.opens)
				}
				select {
				case <-dev.closed:
				default:
					t.Error("the unplugged device was not closed")
				}
			})
		})
	}
}

// runBadges runs a badge reader on devices in turn and returns what it
// read in the given fake time.
func runBadges(t *testing.T, word int, d time.Duration, devices ...io.ReadCloser) (badges []string, status string) {
	t.Helper()
	log := &statusLog{t: t}
	b, err := NewBadgeReader("/dev/input/by-id/usb-reader-event-kbd", InputOptions{OnStatus: log.record, Retry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b.in.open, b.in.word = (&opener{devices: devices}).open, word
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan string, 16)
	done := make(chan error)
	go func() { done <- b.Run(ctx, out) }()
	time.Sleep(d)
	synctest.Wait()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v, want context.Canceled", err)
	}
	close(out)
	for s := range out {
		badges = append(badges, s)
	}
	return badges, log.String()
}

func TestBadgeReaderRecording(t *testing.T) {
	for _, word := range []int{8, 4} {
		t.Run(fmt.Sprintf("%d-bit", word*8), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got, _ := runBadges(t, word, time.Minute, newScripted(nil, part{data: readRecording(t, "badge", word)}))
				if want := []string{"0004512", "987654"}; !slices.Equal(got, want) {
					t.Errorf("badges %q, want %q (too long, a letter, and no digits are not reads)", got, want)
				}
			})
		})
	}
}

func TestBadgeReaderLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		enc := func(r []rec) []byte { return encode(r, nativeWord) }
		digits := func(s string) []byte {
			return enc(typed(0, 5*time.Millisecond, digitCodes(s, false)...))
		}
		enter := enc(tap(0, keyEnter))
		dropped := enc([]rec{{0, evKey, key1, 1}, {0, evSyn, synDropped, 0}, {0, evKey, key1 + 1, 1}, {0, evSyn, synReport, 0}})
		got, _ := runBadges(t, nativeWord, time.Minute, newScripted(nil,
			// 32 digits is the most a read has.
			part{data: digits(strings.Repeat("12345678", 4))}, part{data: enter},
			part{data: digits(strings.Repeat("12345678", 4) + "9")}, part{data: enter},
			// A partial read dies after a second of silence...
			part{data: digits("12")}, part{pause: 1500 * time.Millisecond, data: digits("34")}, part{data: enter},
			// ...but not before.
			part{pause: time.Second, data: digits("56")}, part{pause: 900 * time.Millisecond, data: digits("78")}, part{data: enter},
			// Events the kernel dropped spoil the read, not the next one.
			part{data: digits("9")}, part{data: dropped}, part{data: enter},
			part{data: digits("42")}, part{data: enter},
		))
		want := []string{strings.Repeat("12345678", 4), "34", "5678", "42"}
		if !slices.Equal(got, want) {
			t.Errorf("badges %q, want %q", got, want)
		}
	})
}

func TestBadgeReaderReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		swipe := func(s string) []byte {
			return encode(typed(0, 5*time.Millisecond, append(digitCodes(s, true), keyKPEnter)...), nativeWord)
		}
		got, status := runBadges(t, nativeWord, 30*time.Second,
			nil, // not plugged in at start
			newScripted(unplugged, part{pause: time.Second, data: swipe("111")}),
			nil, nil, // unplugged for a while
			newScripted(io.EOF, part{pause: time.Second, data: swipe("222")}),
			newScripted(nil, part{pause: time.Second, data: swipe("333")}),
		)
		if want := []string{"111", "222", "333"}; !slices.Equal(got, want) {
			t.Errorf("badges %q, want %q", got, want)
		}
		// Each change is reported once, not once per retry.
		if want := "missing ok unplugged missing ok unplugged ok"; status != want {
			t.Errorf("status %q, want %q", status, want)
		}
	})
}

func TestOpenErrorSaysWhatToDo(t *testing.T) {
	path := "/dev/input/event9"
	for _, tc := range []struct {
		err  error
		want string
	}{
		{syscall.ENOENT, "not plugged in"},
		{syscall.EACCES, "add the service user to group input"},
		{syscall.EBUSY, "another program has grabbed"},
		{syscall.ENOTTY, "not an input event device"},
	} {
		err := openError(path, &os.PathError{Op: "open", Path: path, Err: tc.err})
		if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.err) {
			t.Errorf("%v: %v, want %q and the cause kept", tc.err, err, tc.want)
		}
	}
	if _, err := NewBadgeReader("", InputOptions{}); err == nil || !strings.Contains(err.Error(), "by-id") {
		t.Errorf("NewBadgeReader without a path: %v", err)
	}
}

func TestUSBKeypadKeysAreKioskKeys(t *testing.T) {
	for code, k := range usbKeypadKeys {
		if p, ok := kiosk.ParseKey(rune(k)); !ok || p != k {
			t.Errorf("code %d maps to %q, not a kiosk key", code, k)
		}
	}
	if len(digitKeys) != 20 {
		t.Errorf("%d digit keys, want 20 (top row and keypad)", len(digitKeys))
	}
}
