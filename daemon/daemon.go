// Package daemon runs the kiosk: it feeds keys, time and the results of
// work into the kiosk state machine, carries out the effects the machine
// asks for (take a photo, commit punches) against the hardware and the
// queue, and puts every new screen on the display.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
)

// Display shows kiosk screens.
type Display interface {
	Show(kiosk.Screen) error
}

// Camera takes FaceFront photos. Check says whether it is usable now.
type Camera interface {
	Check(ctx context.Context) error
	Capture(ctx context.Context) ([]byte, error)
}

// Streamer is a Camera that can be warmed up before a capture is needed.
type Streamer interface {
	Start(ctx context.Context) error
	Stop() error
}

// Buzzer beeps.
type Buzzer interface {
	Beep(kiosk.SoundKind)
}

// Store is the durable queue of punches.
type Store interface {
	Commit(ctx context.Context, ps []punch.Punch, photo []byte) ([]punch.Punch, error)
	Punch(id string) (punch.Punch, error)
	Stats() (queue.Stats, error)
	Reclaim() (int, error)
}

// Enroller enrols the kiosk with the back office using a setup code.
type Enroller interface {
	Enroll(ctx context.Context, code string) kiosk.EnrollProblem
}

// Kiosk is a kiosk and what it is wired to.
type Kiosk struct {
	State kiosk.State      // the state to start in (kiosk.New)
	Keys  <-chan kiosk.Key // closed when input ends (end of a headless script)
	// Events brings news from elsewhere: a new roster, the upload status,
	// the office disabling the device (kiosk.RosterLoaded, NetChanged,
	// DeviceDisabled). nil: none.
	Events <-chan kiosk.Event
	// Committed, if set, is called after punches were durably committed,
	// so the uploader can send them at once.
	Committed func()
	Display   Display
	Camera    Camera // nil: no camera configured
	Store     Store
	Buzzer    Buzzer   // nil: silent
	Enroll    Enroller // nil: no back office configured
	Logger    *slog.Logger

	// Now and BootTime are the wall clock and CLOCK_BOOTTIME; nil means
	// the system's. BootID is the kernel's boot id; empty means read it.
	Now      func() time.Time
	BootTime func() time.Duration
	BootID   string

	// ClockSynced says whether the kernel has the system clock
	// synchronised (NTP); every punch records it. nil means the kernel's
	// own state (ClockSynced).
	ClockSynced func() bool
	// NoteTimeEvery is how often an idle kiosk tells the store what the
	// wall clock reads, so that a clock that later reads earlier (a
	// reboot without network or RTC) is caught (see TimeNoter). 0 means
	// 5 minutes.
	NoteTimeEvery time.Duration

	// CameraCheckEvery is how often an idle kiosk checks its camera, so a
	// camera plugged back in is used without a restart. 0 means 30 s.
	CameraCheckEvery time.Duration

	// Scripted input (headless mode) is a script, not a person: each key
	// waits until the kiosk can take keys again (a real keypad's keys are
	// ignored during a photo countdown), and Run returns once Keys is
	// closed and the kiosk is back at rest with nothing in flight.
	Scripted bool

	// Status, if set, is called with a one-line state for systemd's
	// STATUS= once the first screen is up (so the first call means ready)
	// and again whenever the line changes. The line is English whatever
	// language the screen speaks: "online, 0 waiting" or "offline, 12
	// waiting, last sync 07:02".
	Status func(line string)

	// Watchdog, if set, is called every WatchdogEvery by Run's own loop,
	// so that a loop stuck in a display, a camera check or a commit stops
	// the calls and systemd restarts the daemon. 0 means never.
	Watchdog      func()
	WatchdogEvery time.Duration

	// Install, if set, switches to the software update the kiosk said is
	// ready (kiosk.UpdateChanged) once no one is punching; Run then
	// returns ErrRestart so that the new version is started. An error
	// keeps the kiosk working on the version it runs.
	Install func() error

	// SaveLockout, if set, is given the keypad's lockout whenever it
	// changes (a wrong PIN, a lock, a right PIN), to keep across a
	// restart (kiosk.State.RestoreLockout).
	SaveLockout func(kiosk.Lockout)

	// Indicate, if set, is told whether the kiosk is ready to punch and
	// whether it is online, at the start and whenever either changes (for
	// a status LED).
	Indicate func(ready, online bool)

	camera   atomic.Value // punch.NoPhoto: the camera status, for CameraStatus
	s        kiosk.State
	results  chan kiosk.Event
	camWant  atomic.Bool   // the camera should stream (CameraOn/CameraOff)
	camKick  chan struct{} // wakes the camera worker
	inFlight int           // captures and enrolments whose answer is awaited
	shown    kiosk.Screen
	status   string  // the line Status was last called with
	lamp     [2]bool // what Indicate was last told
	lampSet  bool
	restart  bool // an update was installed: Run returns ErrRestart
	lockout  kiosk.Lockout
}

// ErrRestart is what Run returns once it installed an update: the daemon
// exits for its supervisor to start the new version.
var ErrRestart = errors.New("daemon: restart into the installed update")

// Run runs the kiosk until ctx is done (or, when Scripted, until the
// input ends and the kiosk is at rest). A commit in progress always
// finishes first: commits run on this goroutine.
func (k *Kiosk) Run(ctx context.Context) error {
	if k.Logger == nil {
		k.Logger = slog.New(slog.DiscardHandler)
	}
	if k.Now == nil {
		k.Now = time.Now
	}
	if k.BootTime == nil {
		k.BootTime = BootTime
	}
	if k.BootID == "" {
		k.BootID = BootID()
	}
	if k.CameraCheckEvery == 0 {
		k.CameraCheckEvery = 30 * time.Second
	}
	if k.ClockSynced == nil {
		k.ClockSynced = ClockSynced
	}
	if k.NoteTimeEvery == 0 {
		k.NoteTimeEvery = 5 * time.Minute
	}
	k.s = k.State
	k.lockout = k.s.Lockout()
	k.results = make(chan kiosk.Event, 4)
	k.camKick = make(chan struct{}, 1)
	if st, ok := k.Camera.(Streamer); ok {
		go k.streamer(ctx, st)
	}

	k.reclaim()
	k.noteTime()
	// Tell the machine what the camera and the queue look like now.
	k.apply(ctx, kiosk.CameraChanged{Status: k.cameraStatus(ctx)})
	k.apply(ctx, k.netEvent())
	k.show()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	camTick := time.NewTicker(k.CameraCheckEvery)
	defer camTick.Stop()
	var watchdog <-chan time.Time // nil: never
	if k.Watchdog != nil && k.WatchdogEvery > 0 {
		t := time.NewTicker(k.WatchdogEvery)
		defer t.Stop()
		watchdog = t.C
	}
	clockTick := time.NewTicker(k.NoteTimeEvery)
	defer clockTick.Stop()
	keys := k.Keys
	for {
		if keys == nil && k.Scripted && k.s.AtRest() && k.inFlight == 0 {
			return nil
		}
		ready := keys
		if k.Scripted && !k.s.TakesKeys(k.Now()) {
			ready = nil
		}
		timer.Stop()
		if dl := k.s.Deadline(); !dl.IsZero() {
			timer.Reset(max(dl.Sub(k.Now()), 0))
		}
		var ev kiosk.Event
		select {
		case <-ctx.Done():
			return nil
		case key, ok := <-ready:
			if !ok {
				keys = nil
				continue
			}
			ev = kiosk.KeyPress{Key: key}
		case ev = <-k.results:
			k.inFlight--
		case ev = <-k.Events:
			if n, ok := ev.(kiosk.NetChanged); ok {
				// The queue's own count is fresher than the uploader's.
				ev = k.mergeNet(n.Net)
			}
		case <-timer.C:
			ev = kiosk.Tick{}
		case <-watchdog:
			k.Watchdog()
			continue
		case <-clockTick.C:
			if k.s.AtRest() {
				k.noteTime()
			}
			continue
		case <-camTick.C:
			if !k.s.AtRest() {
				continue // never disturb a camera someone may be using
			}
			st := k.cameraStatus(ctx)
			if st == k.s.Camera {
				continue
			}
			ev = kiosk.CameraChanged{Status: st}
		}
		k.apply(ctx, ev)
		k.show()
		if l := k.s.Lockout(); k.SaveLockout != nil && l != k.lockout {
			k.lockout = l
			k.SaveLockout(l)
		}
		if k.restart {
			return ErrRestart
		}
	}
}

// streamer starts and stops the camera's stream as the kiosk asks, off
// the kiosk's loop, in order; requests that pile up while the camera is
// slow are merged into the latest.
func (k *Kiosk) streamer(ctx context.Context, st Streamer) {
	streaming := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.camKick:
		}
		want := k.camWant.Load()
		if want == streaming {
			continue
		}
		var err error
		if want {
			err = st.Start(ctx)
		} else {
			err = st.Stop()
		}
		if err != nil {
			k.Logger.Warn("camera start or stop failed", "streaming", want, "err", err)
			// A failed start leaves nothing streaming; a failed stop is
			// tried again with the next request.
			streaming = !want && streaming
			continue
		}
		streaming = want
	}
}

// CameraStatus is the camera's status as the kiosk last saw it (for the
// back office's device list); safe to call from any goroutine.
func (k *Kiosk) CameraStatus() punch.NoPhoto {
	st, _ := k.camera.Load().(punch.NoPhoto)
	return st
}

// apply steps the machine with ev and carries out the effects. The answers
// of synchronous effects (commits) are applied before apply returns, so no
// key can come between a commit and its answer.
func (k *Kiosk) apply(ctx context.Context, ev kiosk.Event) {
	pending := []kiosk.Event{ev}
	for len(pending) > 0 {
		var fx []kiosk.Effect
		k.s, fx = kiosk.Step(k.s, pending[0], k.Now())
		pending = pending[1:]
		k.camera.Store(k.s.Camera)
		for _, f := range fx {
			if _, ok := f.(kiosk.Commit); ok {
				k.show() // "Saving…" stays up if the storage is slow
			}
		}
		for _, f := range fx {
			pending = append(pending, k.do(ctx, f)...)
		}
	}
}

// do carries out one effect and returns the events that answer it now.
func (k *Kiosk) do(ctx context.Context, f kiosk.Effect) []kiosk.Event {
	switch f := f.(type) {
	case kiosk.Commit:
		return []kiosk.Event{k.commit(ctx, f), k.netEvent()}
	case kiosk.Capture:
		k.inFlight++
		go func() { k.results <- k.capture(ctx, f) }()
	case kiosk.Enroll:
		k.inFlight++
		go func() { k.results <- k.enroll(ctx, f) }()
	case kiosk.CameraOn, kiosk.CameraOff:
		// The camera worker starts or stops it: a webcam takes from a
		// fraction of a second to several (USB timeouts) to start, and
		// the screen and keys must not wait for it.
		k.camWant.Store(f == kiosk.Effect(kiosk.CameraOn{}))
		select {
		case k.camKick <- struct{}{}:
		default:
		}
	case kiosk.InstallUpdate:
		k.show() // "Updating…" while the switch is made
		if k.Install == nil {
			return []kiosk.Event{kiosk.InstallFailed{}}
		}
		if err := k.Install(); err != nil {
			k.Logger.Error("installing the update failed; going on with this version", "version", f.Version, "err", err)
			return []kiosk.Event{kiosk.InstallFailed{}}
		}
		k.restart = true
	case kiosk.Sound:
		if k.Buzzer != nil {
			k.Buzzer.Beep(f.Kind)
		}
	}
	return nil
}

func (k *Kiosk) show() {
	if k.Indicate != nil {
		lamp := [2]bool{k.s.Mode == kiosk.Ready, k.s.Net.Online}
		if !k.lampSet || lamp != k.lamp {
			k.lamp, k.lampSet = lamp, true
			k.Indicate(lamp[0], lamp[1])
		}
	}
	now := k.Now()
	if line := statusLine(k.s, now); k.Status != nil && (k.status == "" || line != k.status) {
		k.status = line
		defer k.Status(line) // after the screen is up: the first call says ready
	}
	sc := k.s.Screen(now)
	if sc.Name == k.shown.Name && sc.Equal(k.shown) {
		return
	}
	k.shown = sc
	if err := k.Display.Show(sc); err != nil {
		k.Logger.Error("display failed", "screen", sc.Name, "err", err)
	}
}

// commit stamps new punches with their identity and boot clock and stores
// them durably. A retried punch keeps its stamp, so a store that kept it
// the first time (an I/O error after the data reached the disk) refuses it
// as a duplicate, and that answer means "saved".
func (k *Kiosk) commit(ctx context.Context, c kiosk.Commit) kiosk.Event {
	now, boot, synced := k.Now(), k.BootTime(), k.ClockSynced()
	ps := make([]punch.Punch, len(c.Punches))
	for i, p := range c.Punches {
		if p.ID == "" {
			p.ID = uuid.NewString()
			// The punch happened when the worker chose IN or OUT; place it
			// on the boot clock by how long ago that was.
			p.BootTime = boot - now.Sub(p.At)
			p.BootID = k.BootID
			p.Clock.Synced = synced
		}
		ps[i] = p
	}
	// A commit in progress finishes even when the daemon is being stopped:
	// the worker is looking at "Saving…".
	ctx = context.WithoutCancel(ctx)
	saved, err := k.Store.Commit(ctx, ps, c.Photo)
	if errors.Is(err, queue.ErrDiskFull) && k.reclaim() > 0 {
		// Photos the office already has made room: try once more.
		saved, err = k.Store.Commit(ctx, ps, c.Photo)
	}
	if errors.Is(err, queue.ErrDuplicate) {
		if stored, ok := k.stored(ps); ok {
			k.Logger.Info("retried punches were already saved", "punch_id", ps[0].ID)
			saved, err = stored, nil
		}
	}
	if err != nil {
		k.Logger.Error("punch not saved", "punch_id", ps[0].ID, "punches", len(ps), "err", err)
		return kiosk.CommitFailed{Ref: c.Ref, Punches: ps, DiskFull: errors.Is(err, queue.ErrDiskFull)}
	}
	k.reclaim()
	if k.Committed != nil {
		k.Committed()
	}
	return kiosk.Committed{Ref: c.Ref, Punches: saved}
}

// TimeNoter is a Store that keeps the latest wall time the kiosk saw
// (queue.DB does), so that a wall clock that later reads earlier is not
// taken at its word: the store flags the punches made while it does.
type TimeNoter interface {
	NoteTime(time.Time) error
}

// noteTime tells the store what the wall clock reads, if it keeps that. It
// is called at start and while the kiosk is at rest, never between a
// worker choosing IN or OUT and the commit: that punch's time must not
// count as behind a time noted while its photo was taken.
func (k *Kiosk) noteTime() {
	n, ok := k.Store.(TimeNoter)
	if !ok {
		return
	}
	if err := n.NoteTime(k.Now()); err != nil {
		k.Logger.Warn("recording the wall clock's time failed", "err", err)
	}
}

// reclaim removes photos the office already has when space runs low, and
// returns how many it removed.
func (k *Kiosk) reclaim() int {
	n, err := k.Store.Reclaim()
	if err != nil {
		k.Logger.Warn("reclaiming space failed", "err", err)
	} else if n > 0 {
		k.Logger.Info("removed uploaded photos to free space", "photos", n)
	}
	return n
}

// stored reads back punches that the store already holds, all or none.
func (k *Kiosk) stored(ps []punch.Punch) ([]punch.Punch, bool) {
	out := make([]punch.Punch, len(ps))
	for i, p := range ps {
		var err error
		if out[i], err = k.Store.Punch(p.ID); err != nil {
			return nil, false
		}
	}
	return out, true
}

func (k *Kiosk) capture(ctx context.Context, c kiosk.Capture) kiosk.Event {
	if k.Camera == nil {
		return kiosk.PhotoFailed{Ref: c.Ref, Reason: punch.NoCamera}
	}
	ctx, cancel := context.WithTimeout(ctx, kiosk.CaptureTimeout)
	defer cancel()
	jpeg, err := k.Camera.Capture(ctx)
	if err != nil {
		k.Logger.Warn("photo not taken", "err", err)
		return kiosk.PhotoFailed{Ref: c.Ref, Reason: photoReason(err)}
	}
	return kiosk.PhotoTaken{Ref: c.Ref, JPEG: jpeg}
}

func (k *Kiosk) enroll(ctx context.Context, e kiosk.Enroll) kiosk.Event {
	if k.Enroll == nil {
		return kiosk.Enrolled{Ref: e.Ref, Problem: kiosk.EnrollNoServer}
	}
	ctx, cancel := context.WithTimeout(ctx, kiosk.EnrollTimeout)
	defer cancel()
	return kiosk.Enrolled{Ref: e.Ref, Problem: k.Enroll.Enroll(ctx, e.Code)}
}

func (k *Kiosk) cameraStatus(ctx context.Context) punch.NoPhoto {
	if k.Camera == nil {
		return punch.NoCamera
	}
	err := k.Camera.Check(ctx)
	if err != nil && k.s.Camera == punch.PhotoTaken {
		k.Logger.Warn("camera not usable", "err", err)
	}
	return photoReason(err)
}

// photoReason says what a camera error means for a punch.
func photoReason(err error) punch.NoPhoto {
	switch {
	case err == nil:
		return punch.PhotoTaken
	case errors.Is(err, camera.ErrNoCamera):
		return punch.NoCamera
	case errors.Is(err, camera.ErrPermission):
		return punch.CameraPermission
	}
	return punch.CameraError
}

// statusLine is the kiosk's state in one English line for systemd's
// STATUS=: the same words on every kiosk, whatever language its screen is
// in, and no clock that would change it every minute. The last sync is
// shown only when offline, where it says how stale the kiosk is.
func statusLine(s kiosk.State, now time.Time) string {
	var parts []string
	switch s.Mode {
	case kiosk.Unprovisioned:
		parts = append(parts, "not provisioned (enter the setup code or import a roster)")
	case kiosk.Disabled:
		parts = append(parts, "disabled by the back office")
	}
	if s.Net.Online {
		parts = append(parts, "online", fmt.Sprintf("%d waiting", s.Net.Waiting))
	} else {
		parts = append(parts, "offline", fmt.Sprintf("%d waiting", s.Net.Waiting))
		switch last := s.Net.LastSync.In(now.Location()); {
		case s.Net.LastSync.IsZero():
			parts = append(parts, "never synced")
		case last.YearDay() == now.YearDay() && last.Year() == now.Year():
			parts = append(parts, "last sync "+last.Format("15:04"))
		default:
			parts = append(parts, "last sync "+last.Format("2006-01-02 15:04"))
		}
	}
	switch s.Camera {
	case punch.NoCamera:
		parts = append(parts, "no camera")
	case punch.CameraPermission:
		parts = append(parts, "camera: no permission")
	case punch.CameraError:
		parts = append(parts, "camera failing")
	}
	return strings.Join(parts, ", ")
}

// netEvent refreshes the status line's counts from the queue.
func (k *Kiosk) netEvent() kiosk.Event { return k.mergeNet(k.s.Net) }

// mergeNet takes n's online flag and the queue's counts.
func (k *Kiosk) mergeNet(n kiosk.Net) kiosk.Event {
	st, err := k.Store.Stats()
	if err != nil {
		k.Logger.Error("reading queue stats failed", "err", err)
		return kiosk.NetChanged{Net: n}
	}
	n.Waiting = st.Waiting
	n.LastSync = st.LastSync
	return kiosk.NetChanged{Net: n}
}

// BootTime reads CLOCK_BOOTTIME: time since boot, suspend included.
func BootTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BootID reads the kernel's random id of this boot.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
