package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/systemd"
)

// exitStatus is an error that ends siteclockd with that status and no
// message: the supervisor passing on its daemon's, the daemon asking
// its supervisor to start an update.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// firmwareDir is where updates are installed.
func firmwareDir(cfg config) string { return filepath.Join(cfg.StateDir, "firmware") }

// newUpdater makes the updater of a kiosk that talks to a back office;
// it tells the kiosk of progress through events.
func newUpdater(ctx context.Context, cfg config, log *slog.Logger, events chan<- kiosk.Event) (*firmware.Updater, error) {
	store, err := firmware.OpenStore(firmwareDir(cfg))
	if err != nil {
		return nil, err
	}
	keys, err := cfg.releaseKeys()
	if err != nil {
		return nil, err
	}
	_, probation, _ := cfg.updateTimes()
	// The supervisor hands on the unit's watchdog timeout and stretches
	// the probation to cover it.
	if watchdog, err := systemd.WatchdogTimeout(); err == nil {
		probation = firmware.ProbationFor(probation, watchdog)
	}
	return &firmware.Updater{
		Probation:  probation,
		Store:      store,
		Keys:       keys,
		Running:    firmware.Version,
		Arch:       firmware.Arch(),
		Supervised: os.Getenv(firmware.SupervisedEnv) == "1",
		Logger:     log.With("part", "update"),
		Changed: func(version string, percent int, ready bool) {
			select {
			case events <- kiosk.UpdateChanged{Update: kiosk.Update{Version: version, Percent: percent, Ready: ready}}:
			case <-ctx.Done():
			}
		},
	}, nil
}

// softwareStatus tells `siteclockd status` which version runs and how the
// last update went. It only reads: the firmware folder may not exist.
func softwareStatus(w io.Writer, cfg config) {
	cur, st, err := firmware.Inspect(firmwareDir(cfg))
	switch {
	case err != nil:
		fmt.Fprintf(w, "software:\t%s (this program); the firmware folder: %v\n", firmware.Version, err)
		return
	case cur == "":
		fmt.Fprintf(w, "software:\t%s (this program; no update installed over the air)\n", firmware.Version)
	case firmware.Compare(cur, firmware.Version) > 0:
		fmt.Fprintf(w, "software:\t%s installed over the air (the package is %s)\n", cur, firmware.Version)
	default:
		fmt.Fprintf(w, "software:\t%s (this program; %s installed over the air is older)\n", firmware.Version, cur)
	}
	if st.Trial != nil {
		fmt.Fprintf(w, "on probation:\t%s, since %s, %d starts\n", st.Trial.Version, st.Trial.Since.Local().Format(time.DateTime), st.Trial.Attempts)
	}
	if r := st.Report; r != nil {
		line := r.State + " " + r.Version
		if r.Detail != "" {
			line += ": " + r.Detail
		}
		fmt.Fprintf(w, "last update:\t%s (%s)\n", line, r.At.Local().Format(time.DateTime))
	}
}

// supervise runs the kiosk daemon as a child, in the version the firmware
// folder names, and puts the previous version back when a new one fails
// its health check (firmware.Supervisor). The systemd unit runs this.
func supervise(args []string, stderr io.Writer) error {
	c := newFlags("supervise", stderr)
	c.fs.BoolVar(&c.headless, "headless", false, "keys from standard input, screens as text on standard output")
	c.fs.StringVar(&c.camera, "camera", "", "camera driver: sim, v4l2 or none")
	cfg, err := c.load(args)
	if err != nil {
		return err
	}
	level, _ := parseLevel(cfg.LogLevel)
	log := slog.New(systemd.NewLogHandler(stderr, &slog.HandlerOptions{Level: level})).With("part", "supervisor")
	store, err := firmware.OpenStore(firmwareDir(cfg))
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("supervise: find this program: %w", err)
	}
	watchdog, err := systemd.WatchdogTimeout()
	if err != nil {
		log.Warn("no watchdog", "err", err)
	}
	ready, probation, _ := cfg.updateTimes()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &firmware.Supervisor{
		Store: store, Self: self, SelfVersion: firmware.Version, Args: args,
		Watchdog: watchdog, ReadyTimeout: ready, Probation: probation,
		Notify: systemd.Notify, Logger: log,
	}
	code, err := s.Run(ctx)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

const releaseUsage = `usage:
  siteclockd release keygen -out FILE          make a release key (keep it offline); prints the public key
                                               for the kiosks' [update] release_keys
  siteclockd release sign -key FILE BINARY     sign a siteclockd build: writes BINARY.manifest, naming the
                                               version and architecture stamped in the build, its size and SHA-256
  siteclockd release verify -pub KEY BINARY    check BINARY.manifest's signature and BINARY against it
`

// release makes release keys and signs and checks releases: the work of
// whoever builds siteclock, on their own machine, never on the server.
func release(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, releaseUsage)
		return errors.New("release: say keygen, sign or verify")
	}
	fs := flag.NewFlagSet("release "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, releaseUsage) }
	out := fs.String("out", "", "keygen: the private key file to write")
	keyFile := fs.String("key", "", "sign: the private release key")
	pub := fs.String("pub", "", "verify: the public release key")
	manifest := fs.String("manifest", "", "sign, verify: the manifest file (default BINARY.manifest)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "keygen":
		if *out == "" || fs.NArg() > 0 {
			return errors.New("release keygen: say where to write the key: -out FILE")
		}
		p, err := firmware.GenerateKey(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "release key written to %s: keep it offline, backed up, readable only by you.\n", *out)
		fmt.Fprintf(stdout, "public key, for the kiosks' configuration:\n\n[update]\nrelease_keys = [%q]\n", p)
		return nil
	case "sign":
		if *keyFile == "" || fs.NArg() != 1 {
			return errors.New("release sign: say `siteclockd release sign -key FILE BINARY`")
		}
		bin := fs.Arg(0)
		key, err := firmware.LoadKey(*keyFile)
		if err != nil {
			return err
		}
		m, err := describe(bin)
		if err != nil {
			return err
		}
		env, err := firmware.Sign(m, key)
		if err != nil {
			return err
		}
		path := manifestPath(*manifest, bin)
		if err := os.WriteFile(path, env, 0o644); err != nil {
			return fmt.Errorf("release sign: %w", err)
		}
		fmt.Fprintf(stdout, "signed %s: %s, %d bytes, sha256 %s\nupload %s and %s to the back office\n", m.Name(), bin, m.Size, m.SHA256, path, bin)
		return nil
	case "verify":
		if *pub == "" || fs.NArg() != 1 {
			return errors.New("release verify: say `siteclockd release verify -pub KEY BINARY`")
		}
		bin := fs.Arg(0)
		k, err := firmware.ParsePublicKey(*pub)
		if err != nil {
			return err
		}
		env, err := os.ReadFile(manifestPath(*manifest, bin))
		if err != nil {
			return fmt.Errorf("release verify: %w", err)
		}
		m, err := firmware.Verify(env, []ed25519.PublicKey{k})
		if err != nil {
			return err
		}
		size, sum, err := hashFile(bin)
		if err != nil {
			return err
		}
		if size != m.Size || sum != m.SHA256 {
			return fmt.Errorf("release verify: %s is not the binary the manifest names: %d bytes, sha256 %s; the manifest says %d bytes, sha256 %s", bin, size, sum, m.Size, m.SHA256)
		}
		fmt.Fprintf(stdout, "ok: %s, signed, %d bytes, sha256 %s\n", m.Name(), m.Size, m.SHA256)
		return nil
	}
	fmt.Fprint(stderr, releaseUsage)
	return fmt.Errorf("release: unknown command %q", args[0])
}

func manifestPath(flagValue, bin string) string {
	if flagValue != "" {
		return flagValue
	}
	return bin + ".manifest"
}

// describe is the manifest of a siteclockd build: version and architecture
// from the build itself, size and SHA-256 of the file.
func describe(bin string) (firmware.Manifest, error) {
	version, arch, err := firmware.BinaryInfo(bin)
	if err != nil {
		return firmware.Manifest{}, err
	}
	if !firmware.ValidVersion(version) {
		return firmware.Manifest{}, fmt.Errorf("release sign: %s is stamped %q, not a release version: build it with `make pi VERSION=1.4.0`", bin, version)
	}
	size, sum, err := hashFile(bin)
	if err != nil {
		return firmware.Manifest{}, err
	}
	return firmware.Manifest{Product: firmware.Product, Version: version, Arch: arch, Size: size, SHA256: sum, Created: time.Now().UTC().Truncate(time.Second)}, nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("release: %w", err)
	}
	defer f.Close()
	n, sum, err := firmware.Digest(f)
	if err != nil {
		return 0, "", fmt.Errorf("release: read %s: %w", path, err)
	}
	return n, sum, nil
}
