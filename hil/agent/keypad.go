package main

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// keypad plays a diodeless matrix keypad and push buttons on gpio-sim
// lines, answering the daemon's scanner the way the contacts would: while
// a key (r, c) is held, column c reads low exactly when row r is driven
// low (device.Matrix documents the scan protocol). Buttons connect their
// line to ground while pressed.
//
// The scanner selects a row by turning it from an input into an output
// driven low, and reads the columns a millisecond (its settle time) later.
// Following that by timing alone fails under emulation: the VM's CPU
// stalls for milliseconds whenever the host is busy, and a late column
// reads as the wrong key. So the keypad makes the order certain instead.
// It watches the rows through the GPIO character device's line-info
// events, read by a thread with a real-time priority: on the VM's single
// CPU (hil/run.sh boots it with one) the row's change wakes that thread,
// which preempts the daemon before its configuring call even returns, and
// sets the held key's column from the row's level before the daemon can
// read it.
type keypad struct {
	rows, cols []*simLine
	layout     []string // one string per row, one character per column
	buttons    map[rune]*simLine
	gap        time.Duration // after a button, longer than its debounce

	// held is the key held now, nil for none. The row watcher reads it
	// without a lock: a lock the press side held could make the watcher
	// wait while the daemon runs on, the very delay it exists to avoid.
	held atomic.Pointer[heldKey]

	mu     sync.Mutex // guards lagsNS and trace
	lagsNS []int64    // from a row's change to the column following it
	trace  []string   // the latest presses and row changes, for a failure report
}

// note adds to the trace, keeping the latest entries; kp.mu is held.
func (kp *keypad) note(s string) {
	if len(kp.trace) >= 120 {
		kp.trace = slices.Delete(kp.trace, 0, 40)
	}
	kp.trace = append(kp.trace, s)
}

// traceText is the trace for a failure report: presses, and each change
// of the held key's row as the emulator saw it (GPIO5:out:low is the
// scanner selecting row GPIO5).
func (kp *keypad) traceText() string {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	return strings.Join(kp.trace, " ")
}

// heldKey is one press. Only the row watcher writes down and first while
// the key is held.
type heldKey struct {
	row, col *simLine
	down     bool      // the column is pulled down
	first    time.Time // when the contact first closed
}

// Line-info watching (linux/gpio.h, GPIO character device v2).
const (
	gpioV2GetLineinfoWatch = 0xC100B406 // _IOWR(0xB4, 0x06, struct gpio_v2_line_info)
	gpioV2LineFlagOutput   = 1 << 3
	lineInfoSize           = 256 // struct gpio_v2_line_info
	lineInfoChangedSize    = 288 // struct gpio_v2_line_info_changed
)

// watchRows asks the kernel for an event whenever a row line's
// configuration changes, and follows them until the chip is closed.
func (kp *keypad) watchRows() error {
	chips := map[string]bool{}
	for _, r := range kp.rows {
		chips[r.chip] = true
	}
	if len(chips) != 1 {
		return fmt.Errorf("keypad: the rows are on %d GPIO chips; the emulator watches one", len(chips))
	}
	// A blocking descriptor read by a thread of its own: the wake-up
	// goes straight to the reader, not through Go's network poller.
	fd, err := unix.Open(kp.rows[0].chip, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("keypad: open %s: %w", kp.rows[0].chip, err)
	}
	for _, r := range kp.rows {
		var info [lineInfoSize]byte
		binary.LittleEndian.PutUint32(info[64:], r.offset)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), gpioV2GetLineinfoWatch, uintptr(unsafe.Pointer(&info[0]))); errno != 0 {
			unix.Close(fd)
			return fmt.Errorf("keypad: watch line %s: %w", r.name, errno)
		}
	}
	// The thread must also find a free Go processor when its read
	// returns, or it waits for the scheduler's next turn however high its
	// priority: on one CPU GOMAXPROCS is 1, so raise it.
	if runtime.GOMAXPROCS(0) < 4 {
		runtime.GOMAXPROCS(4)
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // for good: the thread keeps its priority
		started <- unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 50}, 0)
		buf := make([]byte, 64*lineInfoChangedSize)
		for {
			n, err := unix.Read(fd, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			var ts unix.Timespec
			for ev := buf[:n]; len(ev) >= lineInfoChangedSize; ev = ev[lineInfoChangedSize:] {
				off := binary.LittleEndian.Uint32(ev[64:])
				stamp := int64(binary.LittleEndian.Uint64(ev[256:]))
				flags := binary.LittleEndian.Uint64(ev[72:])
				h := kp.held.Load()
				if h == nil || h.row.offset != off {
					continue
				}
				low := kp.follow(h)
				_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
				kp.mu.Lock()
				kp.lagsNS = append(kp.lagsNS, ts.Nano()-stamp)
				kp.note(fmt.Sprintf("%s:%s:%s", h.row.name, map[bool]string{true: "out", false: "in"}[flags&gpioV2LineFlagOutput != 0], map[bool]string{true: "low", false: "high"}[low]))
				kp.mu.Unlock()
			}
		}
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("keypad: give the row watcher a real-time priority: %w", err)
	}
	return nil
}

// follow sets the held key h's column from its row's level now, and
// returns the level. If the key was let go meanwhile, it lets the column
// go too: the press side may have released it just before.
func (kp *keypad) follow(h *heldKey) (low bool) {
	low, err := h.row.low()
	if err != nil || low == h.down {
		return low
	}
	if h.col.setPull(!low) == nil {
		h.down = low
		if low && h.first.IsZero() {
			h.first = time.Now()
		}
	}
	if kp.held.Load() != h {
		_ = h.col.setPull(true)
	}
	return low
}

// press closes key k's contact and holds it until taken reports that the
// daemon acted on it (its screen changed), or timeout passes; then it lets
// go and waits until the daemon's scanner is at rest again, so that the
// next press is a new one. Holding until the daemon reacts, rather than
// for a fixed time, keeps the test independent of how fast the emulated
// machine runs. It returns when the contact closed (the column's first
// pull-down, or the button's) and when taken first said yes.
func (kp *keypad) press(k rune, taken func() bool, timeout time.Duration) (closed, seen time.Time, err error) {
	hold := func() time.Time {
		end := time.Now().Add(timeout)
		for time.Now().Before(end) {
			if taken() {
				return time.Now()
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Time{}
	}
	if b, ok := kp.buttons[k]; ok {
		if err := b.setPull(false); err != nil {
			return closed, seen, err
		}
		closed = time.Now()
		seen = hold()
		if err := b.setPull(true); err != nil {
			return closed, seen, err
		}
		time.Sleep(kp.gap) // the buttons' debounce
		return closed, seen, kp.noResponse(k, seen, timeout)
	}
	row, col := -1, -1
	for r, line := range kp.layout {
		if c := strings.IndexRune(line, k); c >= 0 {
			row, col = r, c
		}
	}
	if row < 0 {
		return closed, seen, fmt.Errorf("keypad: no key %q on the keypad or the buttons", k)
	}
	kp.mu.Lock()
	kp.note("press:" + string(k))
	kp.mu.Unlock()
	// At rest every row is driven low, so the contact closes at once; the
	// daemon wakes on that edge, so nothing else can change the row before
	// this pull is written.
	h := &heldKey{row: kp.rows[row], col: kp.cols[col]}
	if low, err := h.row.low(); err != nil {
		return closed, seen, err
	} else if low {
		if err := h.col.setPull(false); err != nil {
			return closed, seen, err
		}
		h.down, h.first = true, time.Now()
	}
	kp.held.Store(h)
	seen = hold()
	kp.held.Store(nil)
	if err := h.col.setPull(true); err != nil {
		return h.first, seen, err
	}
	if h.first.IsZero() {
		return h.first, seen, fmt.Errorf("keypad: key %q: row %s was never driven low in %v (is the daemon scanning?)", k, h.row.name, timeout)
	}
	if err := kp.waitRest(timeout); err != nil {
		return h.first, seen, err
	}
	return h.first, seen, kp.noResponse(k, seen, timeout)
}

func (kp *keypad) noResponse(k rune, seen time.Time, timeout time.Duration) error {
	if seen.IsZero() {
		return fmt.Errorf("keypad: key %q held for %v: the daemon showed no reaction", k, timeout)
	}
	return nil
}

// waitRest waits until the scanner has gone back to rest, every row
// driven low, which it does only once it saw every key released for its
// debounce time; while it scans, at most one row is low.
func (kp *keypad) waitRest(timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		rest := true
		for _, r := range kp.rows {
			if low, err := r.low(); err != nil {
				return err
			} else if !low {
				rest = false
				break
			}
		}
		if rest {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("keypad: the scanner did not come to rest within %v of the key's release", timeout)
}

// followLag summarises how long the emulated contacts took to follow the
// scanner: the kernel's timestamp of a row's change to the column's pull
// being set. Beyond the scanner's settle time (1 ms) a pass reads a key
// wrongly and its debounce starts over.
func (kp *keypad) followLag() string {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if len(kp.lagsNS) == 0 {
		return "n=0"
	}
	s := slices.Clone(kp.lagsNS)
	slices.Sort(s)
	over := 0
	for _, v := range s {
		if v > int64(time.Millisecond) {
			over++
		}
	}
	d := func(i int) time.Duration { return time.Duration(s[i]).Round(10 * time.Microsecond) }
	return fmt.Sprintf("n=%d p50=%v p90=%v max=%v over-1ms=%d", len(s), d(len(s)/2), d((len(s)-1)*9/10), d(len(s)-1), over)
}
