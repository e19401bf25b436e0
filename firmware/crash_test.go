package firmware

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// fakeSupervisor runs the real Supervisor in a process of its own, so
// that a kill at one of its steps kills it and not the test.
func fakeSupervisor() {
	s, err := OpenStore(os.Getenv("FAKE_STORE"))
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	sup := &Supervisor{Store: s, Self: os.Getenv("FAKE_SELF"), SelfVersion: "1.0.0",
		ReadyTimeout: 5 * time.Second, Probation: 500 * time.Millisecond, StopTimeout: 2 * time.Second}
	code, _ := sup.Run(ctx)
	os.Exit(code)
}

// fileSource serves a release binary from a file.
type fileSource string

func (f fileSource) Fetch(ctx context.Context, path string, offset int64) (io.ReadCloser, int64, error) {
	fh, err := os.Open(string(f))
	if err != nil {
		return nil, 0, err
	}
	fh.Seek(offset, io.SeekStart)
	return fh, offset, nil
}

// fakeInstall is the daemon's part of an update, with the real Updater:
// take the offer, download, verify, install, switch.
func fakeInstall() int {
	s, err := OpenStore(os.Getenv("FAKE_STORE"))
	if err != nil {
		return 2
	}
	pub, _ := base64.StdEncoding.DecodeString(os.Getenv("FAKE_PUB"))
	env, _ := os.ReadFile(os.Getenv("FAKE_MANIFEST"))
	u := &Updater{Store: s, Keys: []ed25519.PublicKey{pub}, Running: "1.0.0", Arch: "amd64", Supervised: true}
	u.init()
	u.handle(context.Background(), &offer{protocol.UpdateOffer{Manifest: env, Path: protocol.PathRelease + "x"}, fileSource(os.Getenv("FAKE_BINARY"))})
	if u.Ready() == "" {
		return 3
	}
	if err := u.Install(); err != nil {
		return 4
	}
	return ExitRestart
}

// runSupervisor starts the supervisor process; crashAt names the step to
// kill at ("" for none).
func (f *fixture) startSupervisor(crashAt string) *exec.Cmd {
	f.t.Helper()
	dir := f.t.TempDir()
	bin := filepath.Join(dir, "supervisor")
	os.WriteFile(bin, f.exe, 0o755)
	os.WriteFile(filepath.Join(dir, "mode"), []byte("supervisor"), 0o644)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "FAKE_SELF="+f.self, CrashEnv+"="+crashAt)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	// As systemd stops a unit's whole control group.
	f.t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd
}

// TestKillAtEachInstallStep kills the daemon, or the supervisor, with
// SIGKILL at each step of an install and of a rollback, the way a power
// cut would, then starts the supervisor again as systemd would: each time
// exactly one version runs, and the update completes (or the bad version
// is rolled back) with nothing half-done left in the firmware folder.
func TestKillAtEachInstallStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts some forty processes; make test runs it")
	}
	pub, priv := testKey(t)
	for _, step := range []string{"download-done", "install-moved", "install-renamed", "switch-state", "link-made", "link-renamed", "probation-over", "rollback-state"} {
		t.Run(step, func(t *testing.T) {
			rollback := step == "rollback-state"
			f := newFixture(t, "install")
			if rollback {
				// 2.0.0 runs; 3.0.0, which exits, is switched to.
				f = newFixture(t, "ok")
				f.version("2.0.0", "ok")
				f.version("3.0.0", "exit")
				f.store.link("2.0.0")
				f.store.Update(func(st *State) error { st.Highest = "2.0.0"; return nil })
				f.store.Switch("3.0.0", "2.0.0", t0)
			} else {
				exe := filepath.Join(t.TempDir(), "siteclockd")
				os.WriteFile(exe, f.exe, 0o755)
				env, err := Sign(manifestFor("2.0.0", "amd64", f.exe), priv)
				if err != nil {
					t.Fatal(err)
				}
				mf := filepath.Join(t.TempDir(), "manifest")
				os.WriteFile(mf, env, 0o644)
				t.Setenv("FAKE_PUB", base64.StdEncoding.EncodeToString(pub))
				t.Setenv("FAKE_MANIFEST", mf)
				t.Setenv("FAKE_BINARY", exe)
			}

			// The cut.
			cut := f.startSupervisor(step)
			done := make(chan error, 1)
			go func() { done <- cut.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				killed := errors.As(err, &ee) && (ee.ExitCode() == 128+9 || ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL)
				if !killed {
					t.Fatalf("the run meant to be cut at %s ended with %v: the step was never reached", step, err)
				}
			case <-time.After(30 * time.Second):
				cut.Process.Kill()
				t.Fatalf("the run meant to be cut at %s went on", step)
			}

			// systemd starts the supervisor again.
			again := f.startSupervisor("")
			defer func() { again.Process.Signal(syscall.SIGTERM); again.Wait() }()
			want, wantCur := protocol.UpdateInstalled, "2.0.0"
			if rollback {
				want = protocol.UpdateRolledBack
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				st, _ := f.store.State()
				cur, _ := f.store.Current()
				if st.Report != nil && st.Report.State == want && st.Trial == nil && cur == wantCur {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the cut at %s: current %q, state %+v, report %+v", step, cur, st, st.Report)
				}
				time.Sleep(20 * time.Millisecond)
			}
			ents, _ := os.ReadDir(filepath.Join(f.store.Dir(), "versions"))
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if rollback && (len(names) != 2 || names[0] != "2.0.0") || !rollback && (len(names) != 1 || names[0] != "2.0.0") {
				t.Errorf("versions left: %q", names)
			}
			if _, err := os.Lstat(filepath.Join(f.store.Dir(), "current.new")); err == nil {
				t.Error("a stray current.new link is left")
			}
			if parts, _ := os.ReadDir(filepath.Join(f.store.Dir(), "download")); !rollback && len(parts) != 0 {
				t.Errorf("downloads left: %d", len(parts))
			}
		})
	}
}
