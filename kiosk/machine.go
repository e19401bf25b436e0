package kiosk

import (
	"fmt"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

// Mode is the device's standing with the back office.
type Mode int

const (
	Unprovisioned Mode = iota // new: asks for the company setup code
	Ready                     // provisioned: takes punches
	Disabled                  // disabled by the office: takes nothing
)

func (m Mode) String() string {
	switch m {
	case Unprovisioned:
		return "unprovisioned"
	case Ready:
		return "ready"
	case Disabled:
		return "disabled"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Lockout policy for wrong PINs.
const (
	WrongPINsBeforeLock = 5
	FirstLockout        = 30 * time.Second
	MaxLockout          = 15 * time.Minute
	MaxPINDigits        = 8
	MaxCodeDigits       = 12
	MaxNumberDigits     = 12
	MaxCrew             = 50
	// UpdateQuiet is how long the kiosk must have been left alone before
	// a ready update is installed: never while someone is punching.
	UpdateQuiet = 30 * time.Second
	// CaptureTimeout bounds the wait for a photo: a camera that hangs
	// must not hold up the punch.
	CaptureTimeout = 5 * time.Second
	// EnrollTimeout bounds the wait for the back office to answer a setup
	// code.
	EnrollTimeout = 30 * time.Second
	// SavedMinimum is how long "Saved" stays up whatever is pressed: keys
	// pressed during a slow save, or a bouncing key, must not hide it.
	SavedMinimum = time.Second
	// WrongPINMemory is how long a wrong PIN counts towards a lockout:
	// four typos over a day are not an attack.
	WrongPINMemory = 10 * time.Minute
)

type phase int

const (
	phIdle phase = iota
	phSetup
	phEnrolling
	phPIN
	phMessage
	phLocked
	phGreet
	phConfirm
	phCountdown
	phCapturing
	phPreview
	phSaving
	phSaved
	phNotSaved
	phCrew
	phCrewConfirm
	phUpdating
)

type intent int

const (
	intentNone intent = iota
	intentIn
	intentOut
	intentClockFor
)

// State is everything the kiosk knows. The zero State is an unprovisioned
// kiosk with no roster; New makes one from stored data.
type State struct {
	Mode   Mode
	Roster *roster.Roster
	Status map[string]LastPunch // employee ID → last punch; replaced, never mutated
	Camera punch.NoPhoto        // PhotoTaken (empty) when the camera is usable
	Net    Net
	Update Update // a software update on its way
	// UpdateQuiet is how long the kiosk must be left alone before a
	// ready update installs; 0 means the constant UpdateQuiet.
	UpdateQuiet time.Duration

	restSince   time.Time   // when the kiosk was last left alone (for UpdateQuiet)
	lang        roster.Lang // language of the current session
	langChosen  bool        // the worker pressed the language key this session
	langUntil   time.Time   // at idle: when a language chosen without a session lapses
	phase       phase
	entry       string    // digits typed so far (PIN, setup code, employee number)
	deadline    time.Time // when the current screen gives way (zero: never)
	ref         int       // Ref of the effect whose answer the machine awaits
	wrong       int       // wrong PINs in a row
	lastWrong   time.Time // when the last wrong PIN was typed
	savedAt     time.Time // when "Saved" appeared
	lockLevel   int       // lockouts since the last right PIN
	lockedUntil time.Time

	// The session of the worker who entered a PIN.
	intent    intent
	emp       roster.Employee
	action    punch.Direction
	at        time.Time // the moment the worker chose IN or OUT
	noPhoto   punch.NoPhoto
	photo     []byte
	pending   []punch.Punch // what the last Commit effect carried, for a retry
	crew      []roster.Employee
	crewNote  Msg // a line about the last crew entry (added, unknown, …)
	crewArg   string
	diskFull  bool
	saved     []punch.Punch
	committed bool

	// A message screen and where it leads.
	msgBig, msgLine Msg
	msgArg          string
	msgIcon         Icon
	msgNext         phase
}

// New returns the state of a kiosk starting up at now with what it has
// stored.
func New(mode Mode, r *roster.Roster, status map[string]LastPunch, camera punch.NoPhoto, net Net, now time.Time) State {
	s := State{Mode: mode, Roster: r, Status: status, Camera: camera, Net: net}
	s.lang = s.settings().Language
	s.phase = s.rest()
	s.restSince = now
	s.idleDeadline(now)
	return s
}

func (s *State) settings() roster.Settings {
	if s.Roster == nil {
		return roster.DefaultSettings
	}
	return s.Roster.Settings
}

// rosterVersion is the version of the roster punches are made under.
func (s *State) rosterVersion() string {
	if s.Roster == nil {
		return ""
	}
	return s.Roster.Version
}

// rest is the phase the kiosk returns to when nobody is using it.
func (s *State) rest() phase {
	if s.Mode == Unprovisioned {
		return phSetup
	}
	return phIdle
}

// Deadline is when the runner must send a Tick (the zero time: only on the
// next event). It is the next second during a countdown, the next minute
// on the idle clock, a screen's timeout otherwise.
func (s State) Deadline() time.Time { return s.deadline }

// Lang is the language the screens are in now.
func (s State) Lang() roster.Lang { return s.lang }

// AtRest reports whether nobody is using the kiosk and no effect is awaited:
// a headless script may stop here.
func (s State) AtRest() bool {
	return (s.phase == phIdle || s.phase == phSetup) && s.entry == "" || s.Mode == Disabled || s.phase == phLocked
}

// Busy reports whether the kiosk is working on its own (counting down,
// taking a photo, saving, enrolling) and ignores keys until it is done.
func (s State) Busy() bool {
	switch s.phase {
	case phEnrolling, phCountdown, phCapturing, phPreview, phSaving, phUpdating:
		return true
	}
	return false
}

// savedMinimum is how long "Saved" ignores keys: SavedMinimum, or the
// whole saved screen if that is shorter.
func (s *State) savedMinimum() time.Duration {
	return min(SavedMinimum, s.settings().SavedScreen)
}

// TakesKeys reports whether a key pressed now would count: not while the
// kiosk is busy, nor while "Saved" has only just appeared. A script (the
// headless mode) holds its next key until then.
func (s State) TakesKeys(now time.Time) bool {
	if s.Busy() {
		return false
	}
	return s.phase != phSaved || now.Sub(s.savedAt) >= s.savedMinimum()
}

// Step is the kiosk: it applies ev at time now to s and returns the new
// state and the effects to carry out, in order.
func Step(s State, ev Event, now time.Time) (State, []Effect) {
	var fx []Effect
	emit := func(e ...Effect) { fx = append(fx, e...) }
	switch ev := ev.(type) {
	case KeyPress:
		s.restSince = now
		s.key(ev.Key, now, emit)
	case Badge:
		s.restSince = now
		s.badge(ev.Number, now, emit)
	case UpdateChanged:
		s.Update = ev.Update
		if s.phase == phIdle {
			s.idleDeadline(now)
			s.maybeInstall(now, emit)
		}
	case InstallFailed:
		if s.phase == phUpdating {
			s.Update = Update{}
			s.toRest(now, emit)
		}
	case Tick:
		s.tick(now, emit)
	case PhotoTaken:
		if s.phase == phCapturing && ev.Ref == s.ref {
			s.photo = ev.JPEG
			s.noPhoto = punch.PhotoTaken
			s.phase = phPreview
			s.committed = false
			s.deadline = now.Add(s.settings().PhotoPreview)
			s.commit(now, emit)
		}
	case PhotoFailed:
		if s.phase == phCapturing && ev.Ref == s.ref {
			s.noPhoto = ev.Reason
			if s.noPhoto == punch.PhotoTaken {
				s.noPhoto = punch.CameraError
			}
			s.phase = phSaving
			s.commit(now, emit)
		}
	case Committed:
		if (s.phase == phSaving || s.phase == phPreview) && ev.Ref == s.ref {
			s.saved = ev.Punches
			s.updateStatus(ev.Punches)
			s.committed = true
			if s.phase == phSaving || !now.Before(s.deadline) {
				s.showSaved(now, emit)
			}
		}
	case CommitFailed:
		if (s.phase == phSaving || s.phase == phPreview) && ev.Ref == s.ref {
			if len(ev.Punches) == len(s.pending) {
				s.pending = ev.Punches // a retry must resend the same punches
			}
			s.diskFull = ev.DiskFull
			s.phase = phNotSaved
			s.deadline = now.Add(s.settings().ScreenTimeout)
			emit(Sound{SoundError})
		}
	case CameraChanged:
		s.Camera = ev.Status
	case NetChanged:
		s.Net = ev.Net
	case RosterLoaded:
		s.Roster = ev.Roster
		s.Status = ev.Status
		if s.Mode == Unprovisioned && ev.Roster != nil {
			s.Mode = Ready
		}
		if s.resting() {
			s.toRest(now, emit)
		}
	case Enrolled:
		if s.phase == phEnrolling && ev.Ref == s.ref {
			if ev.Problem == EnrollOK {
				s.Mode = Ready
				s.toRest(now, emit)
				break
			}
			s.message(now, emit, "", Msg("enroll."+string(ev.Problem)), "", IconError, phSetup)
		}
	case DeviceDisabled:
		s.Mode = Disabled
		if s.phase == phSaving || s.phase == phPreview || s.phase == phNotSaved {
			// A punch made before is in flight or may be retried: let the
			// worker learn whether it was saved; the disabled screen
			// follows.
			break
		}
		s.toRest(now, emit)
	}
	return s, fx
}

func (s *State) resting() bool {
	return s.phase == phIdle || s.phase == phSetup && s.entry == ""
}

// toRest ends any session and shows the idle (or setup, or disabled) screen.
func (s *State) toRest(now time.Time, emit func(...Effect)) {
	switch s.phase {
	case phIdle, phSetup, phEnrolling, phLocked:
	default:
		emit(CameraOff{}) // a session ends
	}
	*s = s.kept(now)
	s.lang = s.settings().Language
	s.phase = s.rest()
	s.idleDeadline(now)
}

// kept is what outlives a session: the device's standing and data, the
// update on its way and the keypad's lockout.
func (s *State) kept(now time.Time) State {
	return State{
		Mode: s.Mode, Roster: s.Roster, Status: s.Status, Camera: s.Camera, Net: s.Net, Update: s.Update, UpdateQuiet: s.UpdateQuiet, restSince: now,
		wrong: s.wrong, lastWrong: s.lastWrong, lockLevel: s.lockLevel, lockedUntil: s.lockedUntil, ref: s.ref,
	}
}

// idleDeadline wakes the idle screen when its clock must change.
func (s *State) idleDeadline(now time.Time) {
	s.deadline = time.Time{}
	if s.phase == phIdle && s.Mode == Ready {
		s.deadline = now.Truncate(time.Minute).Add(time.Minute)
		if !s.langUntil.IsZero() && s.langUntil.Before(s.deadline) {
			s.deadline = s.langUntil
		}
		if at := s.restSince.Add(s.quiet()); s.Update.Ready && at.After(now) && at.Before(s.deadline) {
			s.deadline = at
		}
	}
}

func (s *State) quiet() time.Duration {
	if s.UpdateQuiet > 0 {
		return s.UpdateQuiet
	}
	return UpdateQuiet
}

// maybeInstall installs a ready update once the idle kiosk has been left
// alone for UpdateQuiet: the screen says it is updating and takes no keys
// while the runner switches versions and restarts.
func (s *State) maybeInstall(now time.Time, emit func(...Effect)) {
	if !s.Update.Ready || s.phase != phIdle || s.Mode != Ready || s.entry != "" || now.Sub(s.restSince) < s.quiet() {
		return
	}
	s.phase = phUpdating
	s.deadline = time.Time{}
	emit(InstallUpdate{Version: s.Update.Version})
}

func (s *State) timeout(now time.Time) {
	s.deadline = now.Add(s.settings().ScreenTimeout)
}

func (s *State) message(now time.Time, emit func(...Effect), big, line Msg, arg string, icon Icon, next phase) {
	s.phase = phMessage
	s.msgBig, s.msgLine, s.msgArg, s.msgIcon, s.msgNext = big, line, arg, icon, next
	s.deadline = now.Add(s.settings().MessageScreen)
	if icon == IconError {
		emit(Sound{SoundError})
	}
}

func (s *State) tick(now time.Time, emit func(...Effect)) {
	if s.deadline.IsZero() || now.Before(s.deadline) {
		return
	}
	switch s.phase {
	case phIdle:
		if !now.Before(s.langUntil) {
			s.lang = s.settings().Language
			s.langUntil = time.Time{}
			s.langChosen = false
		}
		s.idleDeadline(now)
		s.maybeInstall(now, emit)
	case phMessage:
		s.leaveMessage(now, emit)
	case phLocked:
		if !now.Before(s.lockedUntil) {
			s.toRest(now, emit)
		} else {
			s.deadline = now.Add(time.Second).Truncate(time.Second)
			if s.deadline.After(s.lockedUntil) {
				s.deadline = s.lockedUntil
			}
		}
	case phCountdown:
		if !now.Before(s.at.Add(s.settings().PhotoCountdown)) {
			s.ref++
			s.phase = phCapturing
			s.deadline = now.Add(CaptureTimeout)
			emit(Capture{Ref: s.ref})
		} else {
			s.countdownDeadline(now)
		}
	case phCapturing:
		// The camera never answered: record why and save the punch anyway.
		s.noPhoto = punch.CameraError
		s.phase = phSaving
		s.commit(now, emit)
	case phPreview:
		if s.committed {
			s.showSaved(now, emit)
		} else {
			s.deadline = time.Time{} // wait for the commit
		}
	case phSaving:
		// No timeout: the worker must learn whether the punch was saved.
	case phSaved:
		// Wake once when keys count again, then when the screen goes.
		if end := s.savedAt.Add(s.settings().SavedScreen); now.Before(end) {
			s.deadline = end
			return
		}
		s.toRest(now, emit)
	case phSetup:
		s.entry = ""
		s.deadline = time.Time{}
		s.lang = s.settings().Language
	case phEnrolling:
		// The office never answered; a later answer is ignored (Ref).
		s.message(now, emit, "", "enroll.unreachable", "", IconError, phSetup)
	default:
		s.toRest(now, emit)
	}
}

func (s *State) leaveMessage(now time.Time, emit func(...Effect)) {
	switch s.msgNext {
	case phPIN:
		s.phase = phPIN
		s.entry = ""
		s.timeout(now)
	case phSetup:
		s.phase = phSetup
		s.entry = ""
		s.deadline = time.Time{}
	default:
		s.toRest(now, emit)
	}
}

func (s *State) countdownDeadline(now time.Time) {
	// Wake at each whole second of the countdown, and at its end.
	end := s.at.Add(s.settings().PhotoCountdown)
	left := end.Sub(now)
	step := left % time.Second
	if step == 0 {
		step = time.Second
	}
	s.deadline = now.Add(step)
}

func (s *State) key(k Key, now time.Time, emit func(...Effect)) {
	if s.Mode == Disabled && s.phase != phNotSaved {
		// Nothing new is punched; a punch made before the office
		// disabled the device may still be saved (phNotSaved's retry).
		return
	}
	if s.phase == phLocked {
		emit(Sound{SoundError})
		return
	}
	if k == KeyLang {
		switch s.phase {
		case phEnrolling, phCountdown, phCapturing, phPreview, phSaving:
		default:
			s.lang = s.lang.Next()
			s.langChosen = true
			emit(Sound{SoundKey})
			switch s.phase {
			case phIdle:
				// Back to the default language if nobody starts.
				s.langUntil = now.Add(s.settings().ScreenTimeout)
				s.idleDeadline(now)
			case phSaved, phMessage, phSetup:
			default:
				s.timeout(now)
			}
			return
		}
	}
	switch s.phase {
	case phIdle:
		s.keyIdle(k, now, emit)
	case phSetup:
		s.keySetup(k, now, emit)
	case phPIN:
		s.keyPIN(k, now, emit)
	case phMessage:
		// Any key dismisses a message; a key that starts something
		// (a digit, IN, OUT, Clock For) also does what it says.
		next := s.msgNext
		s.leaveMessage(now, emit)
		if next == phSetup && k.IsDigit() || next != phSetup && startsSession(k) {
			s.key(k, now, emit)
		}
	case phGreet:
		s.keyGreet(k, now, emit)
	case phConfirm:
		switch k {
		case KeyEnter:
			emit(Sound{SoundKey})
			s.startPunch(now, emit)
		case KeyClear:
			emit(Sound{SoundKey})
			s.phase = phGreet
			s.timeout(now)
		}
	case phSaved:
		if now.Sub(s.savedAt) < s.savedMinimum() {
			return
		}
		// The next worker need not wait for the saved screen to go.
		s.toRest(now, emit)
		if startsSession(k) {
			s.key(k, now, emit)
		}
	case phNotSaved:
		switch k {
		case KeyEnter:
			emit(Sound{SoundKey})
			s.phase = phSaving
			s.retry(now, emit)
		case KeyClear:
			s.toRest(now, emit)
		}
	case phCrew:
		s.keyCrew(k, now, emit)
	case phCrewConfirm:
		switch k {
		case KeyEnter:
			emit(Sound{SoundKey})
			s.commitCrew(now, emit)
		case KeyClear:
			emit(Sound{SoundKey})
			s.phase = phCrew
			s.timeout(now)
		}
	}
}

// startsSession reports whether k, pressed at idle, starts a session.
func startsSession(k Key) bool {
	return k.IsDigit() || k == KeyIn || k == KeyOut || k == KeyClockFor
}

func (s *State) keyIdle(k Key, now time.Time, emit func(...Effect)) {
	var in intent
	switch {
	case k.IsDigit():
	case k == KeyIn:
		in = intentIn
	case k == KeyOut:
		in = intentOut
	case k == KeyClockFor:
		in = intentClockFor
	default:
		return
	}
	emit(Sound{SoundKey})
	if s.Roster == nil {
		s.message(now, emit, "pin.not_ready", "pin.not_ready_help", "", IconError, phIdle)
		return
	}
	s.phase = phPIN
	s.intent = in
	s.entry = ""
	if k.IsDigit() {
		s.entry = string(k)
	}
	s.timeout(now)
	emit(CameraOn{})
}

func (s *State) keySetup(k Key, now time.Time, emit func(...Effect)) {
	switch {
	case k.IsDigit():
		if len(s.entry) >= MaxCodeDigits {
			emit(Sound{SoundError})
			return
		}
		s.entry += string(k)
		emit(Sound{SoundKey})
		s.timeout(now)
	case k == KeyClear:
		if s.entry != "" {
			s.entry = s.entry[:len(s.entry)-1]
			emit(Sound{SoundKey})
		}
		s.timeout(now)
		if s.entry == "" {
			s.deadline = time.Time{}
		}
	case k == KeyEnter:
		if len(s.entry) < 4 {
			s.message(now, emit, "setup.prompt", "setup.too_short", "", IconError, phSetup)
			return
		}
		s.ref++
		emit(Sound{SoundKey}, Enroll{Ref: s.ref, Code: s.entry})
		s.entry = ""
		s.phase = phEnrolling
		s.deadline = now.Add(EnrollTimeout)
	}
}

func (s *State) keyPIN(k Key, now time.Time, emit func(...Effect)) {
	s.timeout(now)
	switch {
	case k.IsDigit():
		if len(s.entry) >= MaxPINDigits {
			emit(Sound{SoundError})
			return
		}
		s.entry += string(k)
		emit(Sound{SoundKey})
		return
	case k == KeyClear:
		emit(Sound{SoundKey})
		if s.entry == "" {
			s.toRest(now, emit)
			return
		}
		s.entry = s.entry[:len(s.entry)-1]
		return
	case k == KeyIn:
		s.intent = intentIn
	case k == KeyOut:
		s.intent = intentOut
	case k == KeyClockFor:
		s.intent = intentClockFor
	case k == KeyEnter:
	default:
		return
	}
	if s.entry == "" {
		emit(Sound{SoundKey})
		return // IN/OUT/Clock For chosen first; the PIN follows
	}
	e, ok := s.Roster.MatchPIN(s.entry)
	s.entry = ""
	if !ok {
		s.wrongPIN(now, emit)
		return
	}
	s.wrong, s.lockLevel = 0, 0
	s.identified(e, now, emit)
}

// badge handles a badge read: where a PIN may be typed it identifies its
// employee, and on the Clock For screen it adds a crew member. Elsewhere
// (a punch in progress, a message, the keypad locked) it is ignored, as a
// key would be. An unknown badge says so; it does not count towards the
// wrong-PIN lockout, which guards against guessing at the keypad.
func (s *State) badge(number string, now time.Time, emit func(...Effect)) {
	if s.Mode != Ready || s.Roster == nil {
		return
	}
	switch s.phase {
	case phSaved:
		if now.Sub(s.savedAt) < s.savedMinimum() {
			return
		}
		s.toRest(now, emit)
	case phMessage:
		if s.msgNext == phSetup {
			return
		}
		s.leaveMessage(now, emit)
	case phIdle, phPIN, phCrew:
	default:
		return
	}
	if s.phase == phCrew {
		s.timeout(now)
		s.entry = number
		s.addCrew(emit)
		return
	}
	e, ok := s.Roster.ByNumber(number)
	if !ok {
		next := phIdle
		if s.phase == phPIN {
			next = phPIN
		}
		s.entry = ""
		s.message(now, emit, "badge.unknown", "badge.help", "", IconError, next)
		return
	}
	if s.phase == phIdle {
		s.intent = intentNone
		emit(CameraOn{})
	}
	s.entry = ""
	s.identified(e, now, emit)
}

// identified goes on with employee e, who gave a right PIN or badge, to
// what they chose (IN, OUT, Clock For) or the greeting.
func (s *State) identified(e roster.Employee, now time.Time, emit func(...Effect)) {
	emit(Sound{SoundKey})
	s.timeout(now)
	s.emp = e
	if e.Language != "" && !s.langChosen {
		s.lang = e.Language
	}
	switch s.intent {
	case intentIn:
		s.choose(punch.In, now, emit)
	case intentOut:
		s.choose(punch.Out, now, emit)
	case intentClockFor:
		s.startClockFor(now, emit)
	default:
		s.phase = phGreet
	}
}

func (s *State) wrongPIN(now time.Time, emit func(...Effect)) {
	if now.Sub(s.lastWrong) > WrongPINMemory {
		s.wrong = 0
	}
	s.lastWrong = now
	s.wrong++
	if s.wrong < WrongPINsBeforeLock {
		s.message(now, emit, "pin.unknown", "pin.try_again", "", IconError, phPIN)
		return
	}
	d := FirstLockout << s.lockLevel
	if d > MaxLockout || d <= 0 {
		d = MaxLockout
	}
	s.wrong = 0
	s.lockLevel++
	s.lockedUntil = now.Add(d)
	emit(Sound{SoundError}, CameraOff{})
	lang := s.lang
	*s = s.kept(now)
	s.lang = lang
	s.lock(now)
}

// lock shows the locked keypad until lockedUntil.
func (s *State) lock(now time.Time) {
	s.phase = phLocked
	s.deadline = now.Add(time.Second)
}

// Lockout is the keypad's memory of wrong PINs: what must outlive a
// restart, or pulling the plug would reset it.
type Lockout struct {
	Wrong     int       `json:"wrong"`      // wrong PINs in a row
	LastWrong time.Time `json:"last_wrong"` // when the last was typed
	Level     int       `json:"level"`      // lockouts since the last right PIN
	Until     time.Time `json:"until"`      // locked until then
}

// Lockout returns the keypad's lockout state, for the runner to keep.
func (s State) Lockout() Lockout {
	return Lockout{Wrong: s.wrong, LastWrong: s.lastWrong, Level: s.lockLevel, Until: s.lockedUntil}
}

// RestoreLockout puts back a lockout kept before a restart. The clock may
// have jumped since (no RTC): a lock never lasts longer than MaxLockout
// from now, and wrong PINs "from the future" count as typed now.
func (s *State) RestoreLockout(l Lockout, now time.Time) {
	if l.Wrong < 0 || l.Level < 0 {
		return
	}
	s.wrong, s.lockLevel = l.Wrong, l.Level
	s.lastWrong = l.LastWrong
	if s.lastWrong.After(now) {
		s.lastWrong = now
	}
	s.lockedUntil = l.Until
	if s.lockedUntil.After(now.Add(MaxLockout)) {
		s.lockedUntil = now.Add(MaxLockout)
	}
	if s.Mode == Ready && now.Before(s.lockedUntil) {
		s.lock(now)
	}
}

// LockedFor is how long the keypad stays locked (zero when it is not).
func (s State) LockedFor(now time.Time) time.Duration {
	if s.phase != phLocked || !now.Before(s.lockedUntil) {
		return 0
	}
	return s.lockedUntil.Sub(now)
}

// next is the action the employee most likely wants: the opposite of their
// last punch, IN when they have none.
func (s *State) next() punch.Direction {
	if lp, ok := s.Status[s.emp.ID]; ok && lp.Direction == punch.In {
		return punch.Out
	}
	return punch.In
}

func (s *State) keyGreet(k Key, now time.Time, emit func(...Effect)) {
	s.timeout(now)
	switch k {
	case KeyIn:
		s.choose(punch.In, now, emit)
	case KeyOut:
		s.choose(punch.Out, now, emit)
	case KeyEnter:
		s.choose(s.next(), now, emit)
	case KeyClockFor:
		s.startClockFor(now, emit)
	case KeyClear:
		emit(Sound{SoundKey})
		s.toRest(now, emit)
	}
}

// choose takes the worker's IN or OUT, asking first if it repeats their
// current status.
func (s *State) choose(d punch.Direction, now time.Time, emit func(...Effect)) {
	emit(Sound{SoundKey})
	s.action = d
	if lp, ok := s.Status[s.emp.ID]; ok && lp.Direction == d {
		s.phase = phConfirm
		s.timeout(now)
		return
	}
	s.startPunch(now, emit)
}

// photoReason decides whether this punch gets a photo.
func (s *State) photoReason() punch.NoPhoto {
	switch {
	case !s.Roster.RoleOf(s.emp).FaceFront:
		return punch.RoleFaceFrontOff
	case !s.emp.PhotoConsent:
		return punch.NoConsent
	}
	return s.Camera
}

func (s *State) startPunch(now time.Time, emit func(...Effect)) {
	s.at = now
	s.noPhoto = s.photoReason()
	s.photo = nil
	if s.noPhoto == punch.PhotoTaken {
		s.phase = phCountdown
		if s.settings().PhotoCountdown <= 0 {
			s.deadline = now
			s.tick(now, emit)
			return
		}
		s.countdownDeadline(now)
		return
	}
	s.phase = phSaving
	s.commit(now, emit)
}

// commit asks the runner to store the worker's own punch.
func (s *State) commit(now time.Time, emit func(...Effect)) {
	p := punch.Punch{
		EmployeeID: s.emp.ID, EmployeeNumber: s.emp.Number, EmployeeName: s.emp.Name,
		Direction: s.action, At: s.at, NoPhoto: s.noPhoto,
		RosterVersion: s.rosterVersion(),
	}
	s.pending = []punch.Punch{p}
	s.retry(now, emit)
}

// retry sends the pending punches (again) to the runner.
func (s *State) retry(now time.Time, emit func(...Effect)) {
	s.ref++
	s.committed = false
	if s.phase != phPreview {
		s.phase = phSaving
		s.deadline = time.Time{}
	}
	c := Commit{Ref: s.ref, Punches: append([]punch.Punch(nil), s.pending...)}
	if s.noPhoto == punch.PhotoTaken && len(s.pending) == 1 {
		c.Photo = s.photo
	}
	emit(c)
}

func (s *State) showSaved(now time.Time, emit func(...Effect)) {
	s.phase = phSaved
	s.savedAt = now
	s.deadline = now.Add(s.savedMinimum())
	emit(Sound{SoundSaved})
}

func (s *State) updateStatus(ps []punch.Punch) {
	m := make(map[string]LastPunch, len(s.Status)+len(ps))
	for k, v := range s.Status {
		m[k] = v
	}
	for _, p := range ps {
		m[p.EmployeeID] = LastPunch{Direction: p.Direction, At: p.At}
	}
	s.Status = m
}

func (s *State) startClockFor(now time.Time, emit func(...Effect)) {
	if !s.Roster.RoleOf(s.emp).ClockFor {
		emit(CameraOff{})
		s.message(now, emit, "notallowed.big", "notallowed.clock_for", "", IconError, phIdle)
		return
	}
	emit(Sound{SoundKey}, CameraOff{}) // crew punches take no photo
	s.phase = phCrew
	s.crew = nil
	s.crewNote = ""
	s.entry = ""
	s.timeout(now)
}

func (s *State) keyCrew(k Key, now time.Time, emit func(...Effect)) {
	s.timeout(now)
	switch {
	case k.IsDigit():
		if len(s.entry) >= MaxNumberDigits {
			emit(Sound{SoundError})
			return
		}
		s.entry += string(k)
		s.crewNote = ""
		emit(Sound{SoundKey})
	case k == KeyClear:
		emit(Sound{SoundKey})
		switch {
		case s.entry != "":
			s.entry = s.entry[:len(s.entry)-1]
		case len(s.crew) > 0:
			s.crew = s.crew[:len(s.crew)-1]
			s.crewNote = ""
		default:
			s.toRest(now, emit)
		}
	case k == KeyEnter:
		if s.entry == "" {
			return
		}
		s.addCrew(emit)
	case k == KeyIn || k == KeyOut:
		if s.entry != "" {
			if !s.addCrew(emit) {
				return
			}
		}
		if len(s.crew) == 0 {
			s.crewNote = "crew.empty"
			emit(Sound{SoundError})
			return
		}
		s.action = punch.In
		if k == KeyOut {
			s.action = punch.Out
		}
		emit(Sound{SoundKey})
		s.phase = phCrewConfirm
	}
}

func (s *State) addCrew(emit func(...Effect)) bool {
	n := s.entry
	s.entry = ""
	e, ok := s.Roster.ByNumber(n)
	fail := func(m Msg, arg string) bool {
		s.crewNote, s.crewArg = m, arg
		emit(Sound{SoundError})
		return false
	}
	switch {
	case !ok:
		return fail("crew.unknown", n)
	case e.ID == s.emp.ID:
		return fail("crew.self", "")
	case len(s.crew) >= MaxCrew:
		return fail("crew.full", "")
	}
	for _, c := range s.crew {
		if c.ID == e.ID {
			return fail("crew.duplicate", e.Name)
		}
	}
	s.crew = append(s.crew, e)
	s.crewNote, s.crewArg = "crew.added", e.Name
	emit(Sound{SoundKey})
	return true
}

func (s *State) commitCrew(now time.Time, emit func(...Effect)) {
	s.at = now
	s.noPhoto = punch.ClockFor
	s.photo = nil
	s.pending = s.pending[:0]
	for _, e := range s.crew {
		s.pending = append(s.pending, punch.Punch{
			EmployeeID: e.ID, EmployeeNumber: e.Number, EmployeeName: e.Name,
			Direction: s.action, At: now, ClockedBy: s.emp.ID, NoPhoto: punch.ClockFor,
			RosterVersion: s.rosterVersion(),
		})
	}
	s.phase = phSaving
	s.retry(now, emit)
}
