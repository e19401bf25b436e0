package firmware

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// SupervisedEnv is set by the supervisor (siteclockd supervise) in the
// environment of the daemon it runs: an installed update is started by
// the supervisor when the daemon exits with ExitRestart.
const SupervisedEnv = "SITECLOCK_SUPERVISED"

// ExitRestart is the daemon's exit status when it switched to a new
// version and wants the supervisor to start it.
const ExitRestart = 75

// refuseAgainAfter is how long an offer that was refused is ignored; the
// office keeps offering it at every check-in.
const refuseAgainAfter = time.Hour

// An Updater takes the releases the office offers: it checks, downloads
// and installs them in the background, and switches to one when the kiosk
// says no one is punching (Install).
type Updater struct {
	Store *Store
	// Keys are the release keys the kiosk trusts; none means updates are
	// refused.
	Keys []ed25519.PublicKey
	// Running is the version running now (Version) and Arch the machine's.
	Running string
	Arch    string
	// Supervised says a supervisor will start the new version after an
	// exit with ExitRestart; without one, updates are downloaded and wait.
	Supervised bool
	Logger     *slog.Logger
	Now        func() time.Time
	// Changed, if set, is told of a download's progress (percent) and,
	// with ready, that a verified version waits to be installed.
	Changed func(version string, percent int, ready bool)
	// Kick, if set, asks for a check-in soon: the office hears at once
	// that a download finished, failed or was refused, and, once the
	// probation of the running version is over, how it ended.
	Kick func()
	// Probation is the supervisor's (to know when to Kick); RetryEvery
	// how long a failed download waits before it is tried again (30 s).
	Probation  time.Duration
	RetryEvery time.Duration

	mu      sync.Mutex
	kick    chan struct{}
	offer   *offer
	report  *protocol.UpdateReport // in progress: downloading, ready, failed
	ready   string                 // installed, waiting for Install
	refused map[[sha256.Size]byte]time.Time
}

type offer struct {
	o   protocol.UpdateOffer
	src Source
}

func (u *Updater) init() {
	if u.kick == nil {
		u.kick = make(chan struct{}, 1)
		u.refused = map[[sha256.Size]byte]time.Time{}
		if u.Logger == nil {
			u.Logger = slog.New(slog.DiscardHandler)
		}
		if u.Now == nil {
			u.Now = time.Now
		}
		if u.RetryEvery == 0 {
			u.RetryEvery = 30 * time.Second
		}
		if u.Kick == nil {
			u.Kick = func() {}
		}
	}
}

// Offer hands the updater what the office offered at a check-in (nil:
// nothing). It does not block: the work happens in Run.
func (u *Updater) Offer(o *protocol.UpdateOffer, src Source) {
	u.mu.Lock()
	u.init()
	if o == nil {
		u.offer = nil
		u.mu.Unlock()
		return
	}
	u.offer = &offer{*o, src}
	u.mu.Unlock()
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Report is what the kiosk tells the office at a check-in: the update in
// progress, else the outcome of the last one, else nil.
func (u *Updater) Report() *protocol.UpdateReport {
	u.mu.Lock()
	u.init()
	r := u.report
	u.mu.Unlock()
	if r != nil {
		return r
	}
	st, err := u.Store.State()
	if err != nil {
		return &protocol.UpdateReport{State: protocol.UpdateFailed, Detail: err.Error(), At: u.Now()}
	}
	return st.Report
}

// Ready is the version installed and waiting for Install ("" for none).
func (u *Updater) Ready() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ready
}

// Run handles offers until ctx is done.
func (u *Updater) Run(ctx context.Context) error {
	u.mu.Lock()
	u.init()
	u.mu.Unlock()
	var probation <-chan time.Time
	if st, err := u.Store.State(); err == nil && st.Trial != nil && st.Trial.Version == u.Running && u.Probation > 0 {
		// This version is on probation: once the supervisor decided,
		// tell the office.
		probation = time.After(u.Probation + 2*time.Second)
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-u.kick:
		case <-retry.C:
		case <-probation:
			u.Kick()
			continue
		}
		u.mu.Lock()
		o := u.offer
		u.mu.Unlock()
		if o != nil && u.handle(ctx, o) {
			retry.Reset(u.RetryEvery)
		}
	}
}

func (u *Updater) setReport(r *protocol.UpdateReport) {
	u.mu.Lock()
	u.report = r
	u.mu.Unlock()
}

// handle checks an offer and, if it is to be taken, downloads and
// installs it. It returns true when a failure is worth retrying.
func (u *Updater) handle(ctx context.Context, o *offer) (retry bool) {
	key := sha256.Sum256(o.o.Manifest)
	u.mu.Lock()
	at, refused := u.refused[key]
	ready := u.ready
	u.mu.Unlock()
	if refused && u.Now().Sub(at) < refuseAgainAfter {
		return false
	}
	m, err := u.check(o.o.Manifest)
	if IsRefusal(err) {
		u.refuse(key, o.o.Manifest, err)
		return false
	}
	if err != nil {
		u.Logger.Warn("checking an update offer failed; it is tried again", "err", err)
		u.setReport(&protocol.UpdateReport{State: protocol.UpdateFailed, Detail: err.Error(), At: u.Now()})
		return true
	}
	if m == nil || m.Version == ready {
		return false // running it already, or ready
	}
	log := u.Logger.With("version", m.Version)
	if !u.Store.Installed(m.Version) {
		log.Info("downloading an update", "size", m.Size)
		shown := -1
		report := func(done int64) {
			pct := int(done * 100 / m.Size)
			if pct == shown {
				return // the screen changes with whole percents only
			}
			shown = pct
			u.setReport(&protocol.UpdateReport{Version: m.Version, State: protocol.UpdateDownloading, Progress: pct, At: u.Now()})
			if u.Changed != nil {
				u.Changed(m.Version, pct, false)
			}
		}
		report(0)
		part, err := u.Store.Download(ctx, *m, o.src, o.o.Path, report)
		if err == nil {
			err = u.Store.Install(m.Version, part)
		}
		if err != nil {
			if IsRefusal(err) {
				u.refuse(key, o.o.Manifest, err)
				return false
			}
			log.Warn("update download failed; it is tried again", "err", err, "in", u.RetryEvery)
			u.setReport(&protocol.UpdateReport{Version: m.Version, State: protocol.UpdateFailed, Detail: err.Error(), At: u.Now()})
			if u.Changed != nil {
				u.Changed("", 0, false)
			}
			u.Kick()
			return ctx.Err() == nil
		}
	}
	detail := "downloaded and verified; installs when no one is punching"
	if !u.Supervised {
		detail = "downloaded and verified; installs once siteclockd runs under `siteclockd supervise` (as its systemd unit does)"
	}
	log.Info("update ready", "detail", detail)
	u.mu.Lock()
	u.ready = m.Version
	u.report = &protocol.UpdateReport{Version: m.Version, State: protocol.UpdateReady, Progress: 100, Detail: detail, At: u.Now()}
	u.mu.Unlock()
	if u.Changed != nil {
		u.Changed(m.Version, 100, u.Supervised)
	}
	u.Kick()
	return false
}

// check verifies a signed manifest and decides whether to take it: nil
// and no error when the kiosk runs that version already.
func (u *Updater) check(signed []byte) (*Manifest, error) {
	m, err := Verify(signed, u.Keys)
	if err != nil {
		return nil, &Refusal{Reason: err.Error()}
	}
	if m.Arch != u.Arch {
		return nil, refuse("%s is built for %s; this kiosk is %s", m.Name(), m.Arch, u.Arch)
	}
	switch c := Compare(m.Version, u.Running); {
	case c == 0:
		return nil, nil
	case c < 0:
		return nil, refuse("%s is older than %s, which runs: downgrades are refused", m.Version, u.Running)
	}
	st, err := u.Store.State()
	if err != nil {
		return nil, err
	}
	if slices.Contains(st.Failed, m.Version) {
		return nil, refuse("%s failed its health check here before; publish a newer version", m.Version)
	}
	if Compare(m.Version, st.Highest) <= 0 {
		return nil, refuse("%s is not newer than %s, the highest version installed here: downgrades are refused", m.Version, st.Highest)
	}
	return &m, nil
}

func (u *Updater) refuse(key [sha256.Size]byte, signed []byte, err error) {
	version := ""
	if m, perr := Peek(signed); perr == nil {
		version = m.Version // for the report only: nothing else is trusted
	}
	reason := err.Error()
	var r *Refusal
	if errors.As(err, &r) {
		reason = r.Reason
	}
	u.Logger.Warn("update refused", "version", version, "reason", reason)
	u.mu.Lock()
	u.refused[key] = u.Now()
	u.report = nil
	u.mu.Unlock()
	if err := u.Store.Report(protocol.UpdateReport{Version: version, State: protocol.UpdateRefused, Detail: reason, At: u.Now()}); err != nil {
		u.Logger.Warn("recording the refusal failed", "err", err)
	}
	if u.Changed != nil {
		u.Changed("", 0, false)
	}
	u.Kick()
}

// Install switches to the version waiting (Ready), on probation: the
// daemon then exits with ExitRestart for the supervisor to start it.
func (u *Updater) Install() error {
	u.mu.Lock()
	v := u.ready
	u.mu.Unlock()
	if v == "" {
		return errors.New("firmware: no update is ready to install")
	}
	if !u.Supervised {
		return errors.New("firmware: no supervisor to start the new version: run siteclockd under `siteclockd supervise`")
	}
	prev := ""
	if cur, err := u.Store.Current(); err == nil && cur == u.Running {
		prev = cur
	}
	if err := u.Store.Switch(v, prev, u.Now()); err != nil {
		return fmt.Errorf("firmware: install %s: %w", v, err)
	}
	u.Logger.Info("switched to the update; restarting into it", "version", v, "previous", versionName(prev))
	return nil
}
