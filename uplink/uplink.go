// Package uplink is the kiosk's side of the device protocol (package
// protocol): it enrols the kiosk with the back office using a setup code,
// then checks in, keeps the roster current, uploads punches and photos
// from the queue, and carries out the office disabling the kiosk.
//
// The queue is the source of truth: a punch leaves the "waiting" list only
// when the server acknowledged it (accepted or duplicate) or refused it for
// good (then it is kept for a person, see queue.Rejected). Every upload is
// idempotent on the server (punches by ID, photos by hash), so a request
// whose answer was lost is simply sent again.
//
// The news the kiosk screen needs (a new roster, online or not, disabled)
// goes to the runner as kiosk events on Options.Events.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/siteclock/siteclock/daemon"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
)

// Doer sends HTTP requests; *http.Client is one.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configure a Client. Queue is required; the rest have defaults.
type Options struct {
	// ServerURL is the back office to enrol with, such as
	// "https://office.example.com". Plain http is refused except to a
	// loopback address (the demo), because requests carry the device token.
	// Empty: no back office configured (Enroll says so). Once enrolled, the
	// kiosk talks to the server it enrolled with (kept in device.json).
	ServerURL string
	// StateDir holds the kiosk's identity files; empty means the queue's
	// folder.
	StateDir string
	Queue    *queue.DB
	// HTTP sends the requests; nil means an http.Client with timeouts
	// suited to a kiosk on a poor link.
	HTTP   Doer
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	// Version is the software version reported to the office.
	Version string
	// Hardware is the kiosk model; empty means /proc/device-tree/model, or
	// "Simulator" where there is none.
	Hardware string
	// Nickname is the name offered at enrolment; empty means the host name.
	Nickname string
	// Events receives kiosk.RosterLoaded, kiosk.NetChanged and
	// kiosk.DeviceDisabled for the runner (daemon.Kiosk.Events). nil: none
	// are sent.
	Events chan<- kiosk.Event
	// BootID and BootTime are the kernel's boot id and CLOCK_BOOTTIME,
	// reported at check-in; nil means daemon.BootID and daemon.BootTime.
	BootID   func() string
	BootTime func() time.Duration
	// Camera says whether the camera is usable now (punch.PhotoTaken, the
	// empty reason) or why not, for the check-in; it is called from the
	// uplink's goroutine, so it must not touch the camera itself (report
	// what the runner last saw). nil reports punch.NoCamera.
	Camera func() punch.NoPhoto
	// Rand returns a uniformly random int64 in [0, n), for the jitter of
	// retries; nil means math/rand/v2.Int64N. It is called from Run only.
	Rand func(n int64) int64
	// Updates, if set, hears of the software updates the office offers
	// and reports on them at check-in.
	Updates Updates
}

// Schedule of the sync loop.
const (
	// DefaultSyncEvery is how often an online kiosk checks in until the
	// server says otherwise.
	DefaultSyncEvery = 5 * time.Minute
	// RetryMin and RetryMax bound the backoff after a failed sync: the
	// ceiling doubles from RetryMin with each failure up to RetryMax, and
	// the wait is drawn uniformly up to the ceiling ("full jitter", at
	// least MinGap), so a site's kiosks coming back together do not retry
	// in step.
	RetryMin = 2 * time.Second
	RetryMax = 5 * time.Minute
	// MinGap is the least time between two attempts, whatever asks for
	// them (a punch, a retry): a burst of punches on a dead link must not
	// hammer the server.
	MinGap = time.Second
	// UnauthorizedRetry is how long the kiosk waits after the server
	// refused its token before asking again (the office may restore its
	// database); a new enrolment ends the wait at once.
	UnauthorizedRetry = time.Hour
)

// Bounds on what the server may ask for SyncEvery, so that a bad answer
// can neither hammer it nor silence the kiosk for days.
const (
	minSyncEvery = 15 * time.Second
	maxSyncEvery = 24 * time.Hour
)

// Client is the kiosk's connection to the back office. Enroll and Kick may
// be called from any goroutine; Run is called once.
type Client struct {
	serverURL string // configured, for enrolment; "" for none
	dir       string
	q         *queue.DB
	http      Doer
	now       func() time.Time
	log       *slog.Logger
	version   string
	hardware  string
	nickname  string
	events    chan<- kiosk.Event
	bootID    func() string
	bootTime  func() time.Duration
	camera    func() punch.NoPhoto
	rand      func(int64) int64
	updates   Updates

	kick     chan struct{} // a punch was committed: upload now
	enrolled chan struct{} // Enroll succeeded: sync with the new identity

	// syncMu makes rounds one at a time: Run's, and the first sync of an
	// enrolment.
	syncMu sync.Mutex

	mu        sync.Mutex
	id        *identity // nil: not enrolled
	syncEvery time.Duration
}

// New checks opts and loads the kiosk's identity from the state folder, if
// it has enrolled before.
func New(opts Options) (*Client, error) {
	if opts.Queue == nil {
		return nil, errors.New("uplink: no queue given")
	}
	c := &Client{
		serverURL: strings.TrimRight(strings.TrimSpace(opts.ServerURL), "/"),
		dir:       opts.StateDir,
		q:         opts.Queue,
		http:      opts.HTTP,
		now:       opts.Now,
		log:       opts.Logger,
		version:   opts.Version,
		hardware:  opts.Hardware,
		nickname:  opts.Nickname,
		events:    opts.Events,
		bootID:    opts.BootID,
		bootTime:  opts.BootTime,
		camera:    opts.Camera,
		rand:      opts.Rand,
		updates:   opts.Updates,
		kick:      make(chan struct{}, 1),
		enrolled:  make(chan struct{}, 1),
		syncEvery: DefaultSyncEvery,
	}
	if c.serverURL != "" {
		if err := checkServerURL(c.serverURL); err != nil {
			return nil, err
		}
	}
	if c.dir == "" {
		c.dir = c.q.Dir()
	}
	if c.http == nil {
		c.http = defaultHTTP()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.version == "" {
		c.version = "dev"
	}
	if c.hardware == "" {
		c.hardware = hardwareModel()
	}
	if c.nickname == "" {
		c.nickname, _ = os.Hostname()
	}
	if c.bootID == nil {
		c.bootID = daemon.BootID
	}
	if c.bootTime == nil {
		c.bootTime = daemon.BootTime
	}
	if c.camera == nil {
		c.camera = func() punch.NoPhoto { return punch.NoCamera }
	}
	if c.rand == nil {
		c.rand = rand.Int64N
	}
	id, err := loadIdentity(c.dir)
	if err != nil {
		return nil, err
	}
	if id != nil {
		if c.serverURL != "" && id.ServerURL != c.serverURL {
			c.log.Warn("the kiosk is enrolled with another server than the one configured; it keeps talking to the one it enrolled with until it is enrolled again",
				"enrolled_with", id.ServerURL, "configured", c.serverURL, "device_id", id.DeviceID)
		}
		c.id = id
	}
	return c, nil
}

// checkServerURL refuses URLs the token must not be sent to.
func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("uplink: server URL %q: %v; write it as https://host[:port]", s, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("uplink: server URL %q: write it as https://host[:port], without user, query or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("uplink: server URL %q: plain http would expose the device token on the network; use https (plain http is allowed only to localhost)", s)
	}
	return fmt.Errorf("uplink: server URL %q: scheme %q is not https", s, u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// defaultHTTP is a client for a kiosk on a site's link: connecting must be
// quick or fail, but a 4 MiB photo on a slow uplink may take a while.
func defaultHTTP() *http.Client {
	return &http.Client{
		Timeout: 3 * time.Minute,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          2,
			ForceAttemptHTTP2:     true,
		},
	}
}

// hardwareModel is the Pi's model string, or "Simulator" elsewhere.
func hardwareModel() string {
	b, err := os.ReadFile("/proc/device-tree/model")
	if err != nil {
		return "Simulator"
	}
	if m := strings.TrimSpace(strings.TrimRight(string(b), "\x00")); m != "" {
		return m
	}
	return "Simulator"
}

// Enrolled reports whether the kiosk has an identity with a back office.
func (c *Client) Enrolled() bool { return c.identity() != nil }

// DeviceID returns the ID the back office gave the kiosk, "" before
// enrolment.
func (c *Client) DeviceID() string {
	if id := c.identity(); id != nil {
		return id.DeviceID
	}
	return ""
}

// SetUpdates sets Options.Updates; call it before Run.
func (c *Client) SetUpdates(u Updates) { c.updates = u }

// Kick asks Run to sync now: wire daemon.Kiosk.Committed to it, so that a
// punch goes up right after it is saved when the kiosk is online. It never
// blocks. During a backoff the attempt still comes promptly, but never
// sooner than MinGap after the last one.
func (c *Client) Kick() {
	select {
	case c.kick <- struct{}{}:
	default: // one pending kick is as good as many
	}
}

func (c *Client) identity() *identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

func (c *Client) setIdentity(id *identity) {
	c.mu.Lock()
	c.id = id
	c.mu.Unlock()
}

func (c *Client) interval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.syncEvery
}

func (c *Client) setInterval(d time.Duration) {
	if d == 0 {
		d = DefaultSyncEvery
	}
	d = min(max(d, minSyncEvery), maxSyncEvery)
	c.mu.Lock()
	c.syncEvery = d
	c.mu.Unlock()
}

// SyncOnce runs one sync round now (check in, roster, uploads) and returns
// its error; for a headless script's end, when Run is not running.
func (c *Client) SyncOnce(ctx context.Context) error {
	if err := c.sync(ctx); err != nil && !errors.Is(err, errStopped) {
		return err
	}
	return nil
}

// Run syncs with the back office until ctx is done, or until the kiosk was
// disabled and said goodbye (then it returns nil too). Before the kiosk is
// enrolled it waits for Enroll. It syncs at once, then every SyncEvery the
// server asks for, and right after a Kick; a failed sync is retried with
// capped exponential backoff and full jitter, reset by a success.
func (c *Client) Run(ctx context.Context) error {
	if d, err := c.q.Device(); err != nil {
		c.log.Error("reading the device state failed; syncing anyway", "err", err)
	} else if d.Disabled {
		c.log.Info("this kiosk was disabled by the office and said goodbye; not syncing")
		return nil
	}
	var (
		next         = time.Now() // the next attempt; now: sync at start
		lastTry      time.Time
		failures     int
		unauthorized bool // the server refused the token: wait long, ignore kicks
	)
	// An enrolment before Run started is already in the identity, and
	// it synced: nothing to wake up for.
	select {
	case <-c.enrolled:
	default:
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	soon := func() time.Time {
		return latest(time.Now(), lastTry.Add(MinGap))
	}
	for {
		if c.identity() == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-c.enrolled:
				next, failures, unauthorized = soon(), 0, false
			}
			continue
		}
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			case <-c.enrolled:
				timer.Stop()
				next, failures, unauthorized = soon(), 0, false
				continue
			case <-c.kick:
				timer.Stop()
				if !unauthorized {
					next = earliest(next, soon())
				}
				continue
			}
		}

		lastTry = time.Now()
		err := c.sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		online := false
		switch {
		case err == nil:
			if failures > 0 || unauthorized {
				c.log.Info("back office reachable again", "device_id", c.DeviceID())
			}
			failures, unauthorized, online = 0, false, true
			next = time.Now().Add(c.interval())
		case errors.Is(err, errStopped):
			return nil
		case errors.Is(err, errNotEnrolled):
			continue
		case errors.Is(err, errUnauthorized):
			if !unauthorized {
				c.log.Error("the back office no longer knows this kiosk's token (device removed, or the office database restored): enrol the kiosk again with a new setup code; punches stay queued meanwhile",
					"device_id", c.DeviceID(), "err", err, "retry_in", UnauthorizedRetry)
			}
			unauthorized = true
			next = time.Now().Add(UnauthorizedRetry)
		default:
			failures++
			wait := c.backoff(failures)
			if ra := retryAfter(err); ra > wait {
				wait = min(ra, RetryMax)
			}
			next = time.Now().Add(wait)
			if _, ok := refusal(err); ok {
				// Not a bad link: the server refuses what this kiosk
				// sends (a version mismatch, say). Nothing is given up:
				// the punches wait until kiosk or server is fixed.
				c.log.Error("the back office refuses this kiosk's requests; check that kiosk and server versions match", "err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
				break
			}
			c.log.Warn("sync failed; will retry", "err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
		}
		c.sendNet(ctx, online)
	}
}

// backoff is the wait after the nth failure in a row: uniform in
// [MinGap, ceiling], the ceiling doubling from RetryMin up to RetryMax.
func (c *Client) backoff(n int) time.Duration {
	ceiling := RetryMax
	if n <= 30 {
		ceiling = min(RetryMin<<(n-1), RetryMax)
	}
	return max(time.Duration(c.rand(int64(ceiling)+1)), MinGap)
}

// sendNet tells the runner whether the kiosk is online; the runner fills
// in the counts from the queue.
func (c *Client) sendNet(ctx context.Context, online bool) {
	st, err := c.q.Stats()
	if err != nil {
		c.log.Warn("reading queue stats failed", "err", err)
	}
	c.send(ctx, kiosk.NetChanged{Net: kiosk.Net{Online: online, Waiting: st.Waiting, LastSync: st.LastSync}})
}

// send hands ev to the runner, giving up when ctx ends so that a runner
// that stopped reading cannot block the uploader forever.
func (c *Client) send(ctx context.Context, ev kiosk.Event) bool {
	if c.events == nil {
		return true
	}
	select {
	case c.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
