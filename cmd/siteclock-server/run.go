package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // device settings name IANA zones even where the system has no tzdata

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/sms"
	"github.com/siteclock/siteclock/systemd"
)

const usage = `usage:
  siteclock-server serve -data DIR [-addr HOST:PORT] [-tls-cert FILE -tls-key FILE] [-company NAME]
                   [-public-url URL] [-sms-webhook URL [-sms-token-file FILE]] [-release-keys KEY,...]
        serve the device API and the admin web UI and API; -company creates the
        company on the first start; with -release-keys, uploaded releases whose
        manifest none of these public release keys verifies are refused
  siteclock-server company create -data DIR -name NAME
        create the company (one per data folder)
  siteclock-server admin create -data DIR -user NAME
        create an admin of the web UI; the password is read from standard input
        (prompted for on a terminal), at least 12 characters
  siteclock-server admin password -data DIR -user NAME
        set a new password for an admin (signs them out everywhere)
  siteclock-server setup-code -data DIR [-rotate]
        print the setup code kiosks enroll with, and when it changes
  siteclock-server demo [-data DIR] [-addr HOST:PORT]
        seed a demo company with the kiosk demo's people and an admin "admin"
        (password printed once and kept in DIR/demo-admin-password.txt), print
        the setup code, serve; text messages go to the log
  siteclock-server photo open -data DIR [-out DIR] FILE...
        open photos a kiosk sealed to the company's photo key (copied from its
        photos/ folder: one the office refused, or from a kiosk with no network)
        and write each as NAME.jpg in the -out folder (default: here)
  siteclock-server release add -data DIR [-release-keys KEY,...] [-by NAME] MANIFEST BINARY
        add a signed release of siteclockd (the manifest and binary that
        "siteclockd release sign" made); the binary must match the manifest
  siteclock-server release list -data DIR
        list the releases and the versions chosen for the devices
  siteclock-server release target -data DIR [-device ID] [-by NAME] VERSION | -clear
        choose the version all devices (or one device) should run, or clear it;
        kiosks are offered it at their next check-in
  siteclock-server version

Plain HTTP is served only on a loopback address (127.0.0.1, ::1, localhost);
anywhere else give -tls-cert and -tls-key. Behind a reverse proxy that
terminates TLS, give -public-url https://... so that cookies are Secure and
form posts from that address are accepted.

The data folder holds office.db, photos/, releases/ (the releases' binaries)
and photo-key, the company's photo key (made at the first start; kiosks seal
their photos to its public half, photo-key.pub). Back up all of it: without
photo-key, photos still sealed on the kiosks can never be opened.

The SMS webhook receives POST {"to": "+15552345678", "body": "..."} with
"Authorization: Bearer TOKEN" when -sms-token-file (or SITECLOCK_SMS_TOKEN)
gives a token.
`

// Defaults.
const (
	defaultAddr     = "127.0.0.1:8080"
	defaultDemoData = ".run/server"
	purgeEvery      = time.Hour
	shutdownTimeout = 10 * time.Second
)

// run is main without the process: tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr)
}

// runContext is run with the context that stops a server.
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("say what to do: serve, company create, admin create, setup-code, photo open, release, demo or version")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "company":
		if len(args) < 2 || args[1] != "create" {
			return errors.New("company: say `siteclock-server company create -data DIR -name NAME`")
		}
		return companyCreate(args[2:], stdout, stderr)
	case "admin":
		return admin(args[1:], stdin, stdout, stderr)
	case "setup-code":
		return setupCode(args[1:], stdout, stderr)
	case "photo":
		return photo(args[1:], stdout, stderr)
	case "release":
		return release(args[1:], stdout, stderr)
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "siteclock-server", firmware.Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// flags are the flags the commands share.
type flags struct {
	fs      *flag.FlagSet
	data    string
	addr    string
	tlsCert string
	tlsKey  string

	publicURL    string
	smsWebhook   string
	smsTokenFile string
	releaseKeys  string
	trusted      []ed25519.PublicKey // releaseKeys, parsed
}

func newFlags(name string, stderr io.Writer) *flags {
	f := &flags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() { fmt.Fprint(stderr, usage) }
	f.fs.StringVar(&f.data, "data", "", "data folder: office.db and photos/")
	return f
}

func (f *flags) serverFlags(addr string) {
	f.fs.StringVar(&f.addr, "addr", addr, "address to listen on")
	f.fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file (PEM)")
	f.fs.StringVar(&f.publicURL, "public-url", "", "the address people open the web UI at, when a reverse proxy is in front")
	f.fs.StringVar(&f.smsWebhook, "sms-webhook", "", "URL of the SMS gateway webhook that texts setup codes to technicians")
	f.fs.StringVar(&f.smsTokenFile, "sms-token-file", "", "file holding the SMS webhook's bearer token (or set SITECLOCK_SMS_TOKEN)")
	f.fs.StringVar(&f.releaseKeys, "release-keys", "", "public release keys (comma-separated): refuse uploaded releases none of them signed")
}

// parse parses args and checks what every command needs, to fail early.
func (f *flags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.fs.Name(), f.fs.Arg(0))
	}
	if f.data == "" {
		return fmt.Errorf("%s: give the data folder with -data DIR", f.fs.Name())
	}
	if f.fs.Lookup("addr") == nil {
		return nil
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("%s: give both -tls-cert and -tls-key, or neither", f.fs.Name())
	}
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: -public-url %q: give the full address, such as https://office.example.com", f.fs.Name(), f.publicURL)
		}
	}
	if f.smsTokenFile != "" && f.smsWebhook == "" {
		return fmt.Errorf("%s: -sms-token-file needs -sms-webhook URL", f.fs.Name())
	}
	if f.smsWebhook != "" {
		u, err := url.Parse(f.smsWebhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: -sms-webhook %q: give the gateway's full URL, such as https://sms.example.com/send", f.fs.Name(), f.smsWebhook)
		}
	}
	keys, err := parseReleaseKeys(f.releaseKeys)
	if err != nil {
		return fmt.Errorf("%s: %w", f.fs.Name(), err)
	}
	f.trusted = keys
	if f.tlsCert == "" && !loopback(f.addr) {
		return fmt.Errorf("%s: refusing plain HTTP on %s: device tokens and the roster's PIN hashes would cross the network unencrypted; "+
			"give -tls-cert and -tls-key, or listen on a loopback address such as %s", f.fs.Name(), f.addr, defaultAddr)
	}
	return nil
}

// loopback reports whether addr listens only on this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newLogger logs text to stderr, or to the journal with each attribute a
// field when systemd runs the server (systemd.NewLogHandler).
func newLogger(stderr io.Writer) *slog.Logger {
	return slog.New(systemd.NewLogHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func companyCreate(args []string, stdout, stderr io.Writer) error {
	f := newFlags("company create", stderr)
	name := f.fs.String("name", "", "the company's name")
	if err := f.parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("company create: give the company's name with -name NAME")
	}
	store, err := backoffice.Open(f.data, backoffice.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now()
	c, err := store.CreateCompany(*name, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created company %q in %s\n", c.Name, store.Dir())
	return printSetupCode(store, now, stdout)
}

func setupCode(args []string, stdout, stderr io.Writer) error {
	f := newFlags("setup-code", stderr)
	rotate := f.fs.Bool("rotate", false, "retire the current code now and issue a new one")
	if err := f.parse(args); err != nil {
		return err
	}
	store, err := backoffice.Open(f.data, backoffice.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now()
	if *rotate {
		if _, err := store.RotateSetupCode(now); err != nil {
			return err
		}
	}
	return printSetupCode(store, now, stdout)
}

// printSetupCode prints the current code and when it changes.
func printSetupCode(store *backoffice.Store, now time.Time, stdout io.Writer) error {
	code, err := store.SetupCode(now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "setup code: %s (changes %s, in %s)\n", code.Code,
		code.NextChange.Local().Format("Mon 2 Jan 2006 15:04 MST"), approx(code.NextChange.Sub(now)))
	return nil
}

// approx says d the way a person would: "7 days", "5 hours", "12 minutes".
func approx(d time.Duration) string {
	unit := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	switch {
	case d >= 48*time.Hour:
		return unit(int((d+12*time.Hour)/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return unit(int((d+30*time.Minute)/time.Hour), "hour")
	}
	return unit(max(0, int((d+30*time.Second)/time.Minute)), "minute")
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("serve", stderr)
	f.serverFlags(defaultAddr)
	company := f.fs.String("company", "", "create the company with this name if the data folder has none")
	if err := f.parse(args); err != nil {
		return err
	}
	log := newLogger(stderr)
	store, err := backoffice.Open(f.data, backoffice.Options{Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	sender, err := f.smsSender()
	if err != nil {
		return err
	}
	if _, err := store.Company(); errors.Is(err, backoffice.ErrNoCompany) && *company != "" {
		if _, err := store.CreateCompany(*company, time.Now()); err != nil {
			return err
		}
		if err := printSetupCode(store, time.Now(), stdout); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("serve: %w; or give -company NAME to create it now", err)
	}
	if admins, err := store.Admins(); err != nil {
		return err
	} else if len(admins) == 0 {
		fmt.Fprintf(stdout, "no admin can sign in to the web UI yet: create one with `siteclock-server admin create -data %s -user NAME`\n", f.data)
	}
	return listenAndServe(ctx, f, store, log, sender, stdout)
}

// smsSender is the SMS gateway the flags name, or nil.
func (f *flags) smsSender() (sms.Sender, error) {
	if f.smsWebhook == "" {
		return nil, nil
	}
	token := os.Getenv("SITECLOCK_SMS_TOKEN")
	if f.smsTokenFile != "" {
		b, err := os.ReadFile(f.smsTokenFile)
		if err != nil {
			return nil, fmt.Errorf("SMS token: %w; check -sms-token-file", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &sms.Webhook{URL: f.smsWebhook, Token: token}, nil
}

// handler is the server's one handler: the device API under /api/device/,
// everything else (the web UI and the admin API) to the office.
func handler(device *backoffice.Server, office *backoffice.Office) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/device/", device.Handler())
	mux.Handle("/", office.Handler())
	return mux
}

// listenAndServe serves the device API, the web UI and the admin API
// until ctx is done, then shuts down gracefully: requests in flight finish
// (their writes are durable), new ones are refused.
func listenAndServe(ctx context.Context, f *flags, store *backoffice.Store, log *slog.Logger, sender sms.Sender, stdout io.Writer) error {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; is another server running there?", f.addr, err)
	}
	scheme := "http"
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS certificate: %w; check -tls-cert and -tls-key", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	office := backoffice.NewOffice(store, backoffice.OfficeOptions{
		Logger: log, SMS: sender, PublicURL: f.publicURL,
		Secure:      f.tlsCert != "" || strings.HasPrefix(f.publicURL, "https://"),
		ReleaseKeys: f.trusted,
	})
	srv := &http.Server{
		Handler:           handler(backoffice.NewServer(store, backoffice.ServerOptions{Logger: log}), office),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 4 MB photo over a slow site link
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "serving the device API on %s://%s (data in %s)\n", scheme, ln.Addr(), store.Dir())
	ui := fmt.Sprintf("%s://%s/", scheme, ln.Addr())
	if f.publicURL != "" {
		ui = f.publicURL
	}
	fmt.Fprintf(stdout, "admin web UI: %s\n", ui)
	log.Info("serving", "addr", ln.Addr().String(), "tls", f.tlsCert != "", "data", store.Dir())
	// systemd hears READY=1 now that the database is open and the server
	// listens, and WATCHDOG=1 after each health check of the store, so a
	// writer stuck on a dead disk gets the server restarted.
	sd := &systemd.Notifier{Logger: log}
	sd.Status(fmt.Sprintf("serving on %s://%s", scheme, ln.Addr()))
	every, err := systemd.WatchdogInterval()
	if err != nil {
		log.Warn("no watchdog pings", "err", err)
	}

	pctx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		purgePhotos(pctx, store, log)
	}()
	// The store closes after this returns: the purge must be over.
	defer func() { stopPurge(); <-purged }()
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		sd.Heartbeat(pctx, every, store.Check)
	}()
	defer func() { stopPurge(); <-beat }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sd.Stopping()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// purgePhotos applies the photo retention rule now and every hour; the
// Settings page shows when it last ran.
func purgePhotos(ctx context.Context, store *backoffice.Store, log *slog.Logger) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		if _, err := store.ApplyPhotoRetention(time.Now()); err != nil && ctx.Err() == nil {
			log.Error("photo retention: deleting old photos failed; retrying in an hour", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
