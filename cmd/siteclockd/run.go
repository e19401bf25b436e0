package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // the kiosk's time zone works even without the system's tzdata

	"github.com/siteclock/siteclock/daemon"
	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/systemd"
	"github.com/siteclock/siteclock/uplink"
)

const usage = `usage:
  siteclockd [flags]                      run the kiosk
  siteclockd enroll [flags] -code CODE    join the back office with its setup code (as the kiosk's setup screen does)
  siteclockd roster import [flags] FILE   replace the employee list from a roster file
  siteclockd status [flags]               show the device, roster and queue
  siteclockd punches [flags]              list punches not yet uploaded (-all: every punch;
                                          -rejected: those the back office refused, with why)
  siteclockd hwcheck [flags]              check the keypad, buttons, LED, buzzer, display and camera
                                          (-key-timeout 15s, -photo FILE); stop the daemon first
  siteclockd supervise [flags]            run the kiosk as a child, in the version installed over the air, and
                                          put the previous version back if a new one fails (the systemd unit)
  siteclockd release keygen|sign|verify   make the release key, sign a build, check a signed build
                                          (siteclockd release for details)
  siteclockd version                      print the version

flags:
  -config FILE   configuration file (default ` + DefaultConfigPath + ` if present)
  -state DIR     state folder: punch queue, photos, roster (overrides state_dir)
  -headless      keys from standard input, one character each; screens to standard output
  -camera NAME   camera driver: sim, v4l2 or none (overrides camera.driver)
  -server URL    the back office (overrides server.url)
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, "siteclockd", firmware.Version)
			return nil
		case "roster":
			if len(args) < 2 || args[1] != "import" {
				return errors.New("roster: say `siteclockd roster import FILE`")
			}
			return rosterImport(args[2:], stdout, stderr)
		case "enroll":
			return enroll(args[1:], stdout, stderr)
		case "status":
			return status(args[1:], stdout, stderr)
		case "punches":
			return punches(args[1:], stdout, stderr)
		case "hwcheck":
			return hwcheck(args[1:], stdin, stdout, stderr)
		case "supervise":
			return supervise(args[1:], stderr)
		case "release":
			return release(args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		case "run":
			args = args[1:]
		}
	}
	return runKiosk(args, stdin, stdout, stderr)
}

// common holds the flags every command shares.
type common struct {
	fs       *flag.FlagSet
	config   string
	state    string
	headless bool
	camera   string
	server   string
	all      bool
	rejected bool
}

func newFlags(name string, stderr io.Writer) *common {
	c := &common{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.fs.Usage = func() { fmt.Fprint(stderr, usage) }
	c.fs.StringVar(&c.config, "config", "", "configuration file")
	c.fs.StringVar(&c.state, "state", "", "state folder")
	c.fs.StringVar(&c.server, "server", "", "back office URL")
	return c
}

// load parses args and reads the configuration they point at.
func (c *common) load(args []string) (config, error) {
	if err := c.fs.Parse(args); err != nil {
		return config{}, err
	}
	path, explicit := c.config, c.config != ""
	if !explicit {
		path = DefaultConfigPath
	}
	cfg, err := loadConfig(path, explicit)
	if err != nil {
		return cfg, err
	}
	if c.state != "" {
		cfg.StateDir = c.state
	}
	if c.headless {
		cfg.Input.Driver, cfg.Display.Driver = "stdin", "text"
	}
	if c.camera != "" {
		cfg.Camera.Driver = c.camera
	}
	if c.server != "" {
		cfg.Server.URL = c.server
	}
	return cfg, cfg.validate(path)
}

func rosterImport(args []string, stdout, stderr io.Writer) error {
	c := newFlags("roster import", stderr)
	cfg, err := c.load(args)
	if err != nil {
		return err
	}
	if c.fs.NArg() != 1 {
		return errors.New("roster import: name one roster file")
	}
	file := c.fs.Arg(0)
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("roster import: %w", err)
	}
	defer f.Close()
	r, err := roster.Parse(f)
	if err != nil {
		return fmt.Errorf("roster import: %s: %w; the current roster is unchanged", file, err)
	}
	db, err := queue.Open(cfg.StateDir, queue.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.ReplaceRoster(r); err != nil {
		return fmt.Errorf("roster import: %w; the current roster is unchanged", err)
	}
	fmt.Fprintf(stdout, "imported roster %s: %d employees, %d roles into %s\n", r.Version, len(r.Employees()), len(r.Roles()), db.Path())
	return nil
}

// newUplink makes the back-office client, or nil when no back office is
// configured and the kiosk never enrolled.
func newUplink(cfg config, db *queue.DB, log *slog.Logger, events chan<- kiosk.Event, camera func() punch.NoPhoto) (*uplink.Client, error) {
	if cfg.Server.URL == "" && !fileExists(filepath.Join(cfg.StateDir, "device.json")) {
		return nil, nil
	}
	return uplink.New(uplink.Options{
		ServerURL: cfg.Server.URL,
		StateDir:  cfg.StateDir,
		Queue:     db,
		Logger:    log,
		Version:   firmware.Version,
		Nickname:  cfg.Server.Nickname,
		Events:    events,
		Camera:    camera,
	})
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func enroll(args []string, stdout, stderr io.Writer) error {
	c := newFlags("enroll", stderr)
	code := c.fs.String("code", "", "the company setup code from the back office's Devices page")
	cfg, err := c.load(args)
	if err != nil {
		return err
	}
	if *code == "" || cfg.Server.URL == "" {
		return errors.New("enroll: give the setup code (-code) and the back office (-server URL, or server.url in the config)")
	}
	db, err := queue.Open(cfg.StateDir, queue.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	up, err := newUplink(cfg, db, log, nil, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), kiosk.EnrollTimeout)
	defer cancel()
	if p := up.Enroll(ctx, *code); p != kiosk.EnrollOK {
		return fmt.Errorf("enroll: %s", kiosk.T(roster.English, kiosk.Msg("enroll."+string(p))))
	}
	fmt.Fprintf(stdout, "enrolled with %s as device %s\n", cfg.Server.URL, up.DeviceID())
	return nil
}

func status(args []string, stdout, stderr io.Writer) error {
	c := newFlags("status", stderr)
	cfg, err := c.load(args)
	if err != nil {
		return err
	}
	db, err := queue.Open(cfg.StateDir, queue.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	dev, err := db.Device()
	if err != nil {
		return err
	}
	st, err := db.Stats()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "database:\t%s\n", db.Path())
	mode := "ready"
	switch {
	case dev.Disabled:
		mode = "disabled"
	case !dev.Provisioned:
		mode = "not provisioned (enter the setup code or import a roster)"
	}
	fmt.Fprintf(w, "device:\t%s\n", mode)
	if r, err := db.Roster(); err == nil {
		fmt.Fprintf(w, "roster:\t%s, %d employees, %d roles, nickname %q\n", r.Version, len(r.Employees()), len(r.Roles()), r.Settings.Nickname)
	} else if errors.Is(err, queue.ErrNoRoster) {
		fmt.Fprintf(w, "roster:\tnone\n")
	} else {
		return err
	}
	fmt.Fprintf(w, "punches:\t%d in all, %d waiting to upload\n", st.Total, st.Waiting)
	if st.Rejected > 0 {
		fmt.Fprintf(w, "refused:\t%d refused by the back office; see siteclockd punches -rejected\n", st.Rejected)
	}
	if !st.OldestWaiting.IsZero() {
		fmt.Fprintf(w, "oldest waiting:\t%s\n", st.OldestWaiting.Local().Format(time.DateTime))
	}
	if st.LastSync.IsZero() {
		fmt.Fprintf(w, "last sync:\tnever\n")
	} else {
		fmt.Fprintf(w, "last sync:\t%s\n", st.LastSync.Local().Format(time.DateTime))
	}
	if k, ok := db.PhotoKey(); ok {
		fmt.Fprintf(w, "photos:\tsealed to the company's photo key %s, %d waiting to upload\n", k.Fingerprint(), st.PhotosWaiting)
	} else {
		fmt.Fprintf(w, "photos:\tstored unsealed (no company photo key yet), %d waiting to upload\n", st.PhotosWaiting)
	}
	softwareStatus(w, cfg)
	return nil
}

func punches(args []string, stdout, stderr io.Writer) error {
	c := newFlags("punches", stderr)
	c.fs.BoolVar(&c.all, "all", false, "list every punch, uploaded or not")
	c.fs.BoolVar(&c.rejected, "rejected", false, "list the punches the back office refused, with the reason")
	cfg, err := c.load(args)
	if err != nil {
		return err
	}
	db, err := queue.Open(cfg.StateDir, queue.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	if c.rejected {
		return listRejected(db, stdout)
	}
	ps, err := db.Unsent(0)
	if c.all {
		ps, err = db.All(0)
	}
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintln(w, "SEQ\tID\tEMPLOYEE\tNAME\tDIR\tTIME\tCLOCKED BY\tPHOTO\tCLOCK\tSIGNED")
	for _, p := range ps {
		photo := p.Photo
		if photo == "" {
			photo = "none: " + string(p.NoPhoto)
		}
		by := p.ClockedBy
		if by == "" {
			by = "self"
		}
		signed := "no"
		if len(p.Signature) > 0 {
			signed = "yes"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Seq, p.ID, p.EmployeeNumber, p.EmployeeName,
			p.Direction, p.At.Local().Format(time.DateTime), by, photo, clockWord(p.Clock), signed)
	}
	return nil
}

// clockWord says what the kiosk knew of its clock at a punch: "ntp" (the
// kernel had it synchronised), "server" (it had heard the office's time
// during that boot) or "unchecked"; "+behind" when it read earlier than a
// time recorded before (a reboot without network or RTC).
func clockWord(c punch.Clock) string {
	w := "unchecked"
	switch {
	case c.Synced:
		w = "ntp"
	case c.Anchored:
		w = "server"
	}
	if c.Behind {
		w += "+behind"
	}
	return w
}

// listRejected shows the punches the back office refused, for a person to
// take up with the office: they are kept, never retried, never dropped.
func listRejected(db *queue.DB, stdout io.Writer) error {
	rs, err := db.Rejected()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintln(w, "SEQ\tID\tEMPLOYEE\tNAME\tDIR\tTIME\tREFUSED\tWHY")
	for _, r := range rs {
		p := r.Punch
		what, why, at := "punch", r.Reason, r.At
		if why == "" {
			what, why, at = "photo", r.PhotoReason, r.PhotoAt
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s %s\t%s\n", p.Seq, p.ID, p.EmployeeNumber, p.EmployeeName,
			p.Direction, p.At.Local().Format(time.DateTime), what, at.Local().Format(time.DateTime), why)
	}
	return nil
}

// storedState is the kiosk's state as the queue left it: provisioned or
// not, disabled or not, the roster and everyone's last punch.
func storedState(db *queue.DB) (kiosk.State, error) {
	dev, err := db.Device()
	if err != nil {
		return kiosk.State{}, err
	}
	r, err := db.Roster()
	if err != nil && !errors.Is(err, queue.ErrNoRoster) {
		return kiosk.State{}, err
	}
	statuses, err := db.Statuses()
	if err != nil {
		return kiosk.State{}, err
	}
	last := make(map[string]kiosk.LastPunch, len(statuses))
	for id, st := range statuses {
		last[id] = kiosk.LastPunch{Direction: st.Direction, At: st.At}
	}
	mode := kiosk.Ready
	switch {
	case dev.Disabled:
		mode = kiosk.Disabled
	case !dev.Provisioned:
		mode = kiosk.Unprovisioned
	}
	return kiosk.New(mode, r, last, "", kiosk.Net{LastSync: dev.LastSync}, time.Now()), nil
}

func runKiosk(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newFlags("siteclockd", stderr)
	c.fs.BoolVar(&c.headless, "headless", false, "keys from standard input, screens as text on standard output")
	c.fs.StringVar(&c.camera, "camera", "", "camera driver: sim, v4l2 or none")
	cfg, err := c.load(args)
	if err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\n%s", c.fs.Arg(0), usage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Logs go to standard error, except when a terminal display owns the
	// terminal: then to a file in the state folder.
	level, _ := parseLevel(cfg.LogLevel)
	logw := stderr
	if cfg.LogFile == "" && cfg.Display.Driver == "terminal" {
		cfg.LogFile = filepath.Join(cfg.StateDir, "siteclockd.log")
	}
	if cfg.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o700); err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		logw = f
	}
	// Under systemd, standard error is the journal: records go there with
	// their fields (systemd.NewLogHandler).
	log := slog.New(systemd.NewLogHandler(logw, &slog.HandlerOptions{Level: level}))

	// The device key signs every punch at commit (punch/chain.go). It is
	// made at the first start, not at enrolment, so that punches made
	// before the kiosk enrolled are signed too.
	key, err := uplink.DeviceKey(cfg.StateDir)
	if err != nil {
		return err
	}
	db, err := queue.Open(cfg.StateDir, queue.Options{Logger: log, Key: key})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, ok := db.PhotoKey(); !ok && cfg.Camera.Driver != "none" {
		// Said at every start: a kiosk without a back office keeps faces
		// on its SD card in the clear.
		log.Warn("no company photo key: photos are stored unsealed on this kiosk until it enrolls with a back office, "+
			"or the office's photo-key.pub is copied into the state folder; they are sealed then", "state_dir", cfg.StateDir)
	}
	state, err := storedState(db)
	if err != nil {
		return err
	}
	_, _, state.UpdateQuiet = cfg.updateTimes()
	if l, ok := loadLockout(cfg.StateDir, log); ok {
		state.RestoreLockout(l, time.Now())
	}
	hw, err := openHardware(cfg, stdin, stdout, log)
	if err != nil {
		return err
	}
	defer hw.close()
	keys := make(chan kiosk.Key)
	events := make(chan kiosk.Event, 16)
	k := &daemon.Kiosk{State: state, Store: db, Logger: log, Camera: hw.camera, Display: hw.display,
		Keys: keys, Events: events, Scripted: hw.scripted, SaveLockout: saveLockout(cfg.StateDir, log)}
	if hw.buzzer != nil {
		k.Buzzer = hw.buzzer
	}
	if hw.led != nil {
		k.Indicate = hw.led.Indicate
	}

	up, err := newUplink(cfg, db, log, events, k.CameraStatus)
	if err != nil {
		return err
	}
	if up != nil {
		k.Enroll = up
		k.Committed = up.Kick
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var upd *firmware.Updater
	if up != nil {
		if upd, err = newUpdater(ctx, cfg, log, events); err != nil {
			return err
		}
		upd.Kick = up.Kick
		up.SetUpdates(upd)
		k.Install = upd.Install
	}

	// systemd hears READY=1 with the first status line, once the
	// database, the state and the hardware are open and the first screen
	// is up; WATCHDOG=1 from the kiosk's loop when the unit has
	// WatchdogSec=.
	sd := &systemd.Notifier{Logger: log}
	k.Status = sd.Status
	if k.WatchdogEvery, err = systemd.WatchdogInterval(); err != nil {
		log.Warn("no watchdog pings", "err", err)
	}
	k.Watchdog = sd.Watchdog
	switch brokenBuild {
	case "exit":
		return errors.New("this build was made broken on purpose, for the update tests")
	case "hang":
		k.Watchdog = func() {}
	}

	log.Info("siteclockd starting", "version", firmware.Version, "state_dir", cfg.StateDir, "mode", state.Mode,
		"input", cfg.Input.Driver, "display", cfg.Display.Driver, "camera", cfg.Camera.Driver)
	// STOPPING=1 as soon as the kiosk is told to stop (or its input ends),
	// and before the database closes; a commit in progress still finishes.
	stopped := make(chan struct{})
	go func() { <-ctx.Done(); sd.Stopping(); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	inputDone := hw.run(ctx, keys, events, log, cancel)
	upDone := make(chan error, 1)
	if up != nil {
		go func() { upDone <- up.Run(ctx) }()
		go upd.Run(ctx)
	}
	restart := false
	if err := k.Run(ctx); errors.Is(err, daemon.ErrRestart) {
		restart = true
	} else if err != nil {
		return err
	}
	cancel()
	if up != nil {
		if err := <-upDone; err != nil && !errors.Is(err, context.Canceled) {
			log.Error("uplink stopped", "err", err)
		}
		if k.Scripted && up.Enrolled() {
			// The end of a script: send what it punched before leaving.
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := up.SyncOnce(ctx); err != nil {
				log.Warn("last sync before exit failed; the punches stay queued", "err", err)
			}
			cancel()
		}
	}
	if restart {
		log.Info("siteclockd stopped to start the update")
		return exitStatus(firmware.ExitRestart)
	}
	log.Info("siteclockd stopped")
	// A vital input that failed stopped the kiosk; say why. Otherwise
	// the inputs end with ctx, except a read blocked on a terminal, which
	// is not waited for long.
	select {
	case err := <-inputDone:
		if err != nil {
			return fmt.Errorf("input: %w", err)
		}
	case <-time.After(time.Second):
	}
	return nil
}
