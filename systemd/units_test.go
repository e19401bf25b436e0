package systemd

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
)

// units are the unit files of this folder, which the Debian packages ship.
var units = []string{"siteclockd.service", "siteclock-server.service"}

// maxExposure is the highest `systemd-analyze security` exposure a unit
// may have (0 is locked down, 10 is fully exposed).
const maxExposure = 3.0

// systemdAnalyze finds systemd-analyze, which Debian's systemd package
// ships; it works on unit files without systemd running.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is missing: install systemd (apt-get install systemd; `make test` does so as root); it checks the unit files")
	}
	return p
}

// testRoot is a file system root holding systemd's own units (the targets
// every service depends on), ours in /etc/systemd/system, and a stand-in
// executable at each ExecStart= path, for `systemd-analyze verify --root`:
// the real binaries are checked in place by the Debian package's test.
func testRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	sys := ""
	for _, d := range []string{"/lib/systemd/system", "/usr/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(d, "sysinit.target")); err == nil {
			sys = d
			break
		}
	}
	if sys == "" {
		t.Fatal("systemd's units (sysinit.target) are missing: install systemd (apt-get install systemd)")
	}
	if err := os.CopyFS(filepath.Join(root, "lib/systemd/system"), os.DirFS(sys)); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, o := range options(t, body) {
			if o.Name != "ExecStart" {
				continue
			}
			bin := filepath.Join(root, strings.Fields(o.Value)[0])
			if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func options(t *testing.T, body string) []*unit.UnitOption {
	t.Helper()
	opts, err := unit.DeserializeOptions(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func readUnit(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// verify runs `systemd-analyze verify` on the named units in root; it
// passes only with no complaint at all, since systemd merely warns about
// an unknown or malformed setting and then ignores it.
func verify(t *testing.T, root string, names ...string) (string, error) {
	t.Helper()
	args := append([]string{"verify", "--root=" + root, "--man=no", "--generators=no"}, names...)
	out, err := exec.Command(systemdAnalyze(t), args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestUnitsVerify(t *testing.T) {
	files := map[string]string{}
	for _, u := range units {
		files[u] = readUnit(t, u)
	}
	root := testRoot(t, files)
	if out, err := verify(t, root, units...); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestVerifyCatchesMistakes: the check above would notice a misspelt
// setting, a bad value and a missing binary.
func TestVerifyCatchesMistakes(t *testing.T) {
	good := readUnit(t, "siteclockd.service")
	for name, body := range map[string]string{
		"misspelt.service": strings.Replace(good, "ProtectHome=yes", "ProtectHom=yes", 1),
		"badvalue.service": strings.Replace(good, "ProtectHome=yes", "ProtectHome=mostly", 1),
	} {
		root := testRoot(t, map[string]string{name: body})
		if out, err := verify(t, root, name); err == nil && out == "" {
			t.Errorf("%s: verify found nothing wrong", name)
		}
	}
	root := testRoot(t, map[string]string{"siteclockd.service": good})
	if err := os.Remove(filepath.Join(root, "usr/bin/siteclockd")); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(t, root, "siteclockd.service"); err == nil || !strings.Contains(out, "/usr/bin/siteclockd") {
		t.Errorf("missing binary: verify said %q, %v", out, err)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// exposure is what `systemd-analyze security --offline=yes` rates a unit.
func exposure(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command(systemdAnalyze(t), "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security %s: %v\n%s", path, err, out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security %s: no overall exposure in\n%s", path, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestExposure: the kiosk's unit (and the server's) rate 3.0 or lower.
func TestExposure(t *testing.T) {
	for _, u := range units {
		got := exposure(t, u)
		t.Logf("%s: exposure %.1f", u, got)
		if got > maxExposure {
			t.Errorf("%s: exposure %.1f, want %.1f or lower (run systemd-analyze security --offline=yes systemd/%s)", u, got, maxExposure, u)
		}
	}
	// The rating tells a loose unit apart, so the check above means something.
	loose := filepath.Join(t.TempDir(), "loose.service")
	if err := os.WriteFile(loose, []byte("[Service]\nExecStart=/usr/bin/siteclockd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := exposure(t, loose); got <= maxExposure {
		t.Errorf("an unhardened unit rates %.1f", got)
	}
}

// settings is a unit's settings by section and name, all values of each.
func settings(t *testing.T, name string) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, o := range options(t, readUnit(t, name)) {
		k := o.Section + "." + o.Name
		m[k] = append(m[k], strings.Fields(o.Value)...)
	}
	return m
}

// TestUnitsContract: what the issue asks of both units, setting by
// setting, so that none goes missing while the rating stays under 3.0.
func TestUnitsContract(t *testing.T) {
	want := map[string]string{
		"Service.Type": "notify", "Service.NotifyAccess": "main", "Service.Restart": "on-failure",
		"Service.User": "siteclock", "Service.NoNewPrivileges": "yes", "Service.PrivateTmp": "yes",
		"Service.ProtectSystem": "strict", "Service.ProtectHome": "yes", "Service.ProtectKernelTunables": "yes",
		"Service.ProtectKernelModules": "yes", "Service.ProtectKernelLogs": "yes", "Service.DevicePolicy": "closed",
		"Service.ConfigurationDirectory": "siteclock", "Service.RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
	}
	for _, u := range units {
		s := settings(t, u)
		for k, v := range want {
			if got := strings.Join(s[k], " "); got != v {
				t.Errorf("%s: %s=%q, want %q", u, k, got, v)
			}
		}
		for _, k := range []string{"Unit.StartLimitIntervalSec", "Unit.StartLimitBurst", "Service.WatchdogSec", "Service.StateDirectory", "Service.TimeoutStopSec"} {
			if len(s[k]) == 0 {
				t.Errorf("%s: no %s", u, k)
			}
		}
	}
	s := settings(t, "siteclockd.service")
	if got := s["Service.StateDirectory"]; !slices.Equal(got, []string{"siteclock"}) {
		t.Errorf("siteclockd: StateDirectory=%q, want siteclock (/var/lib/siteclock)", got)
	}
	// The devices the kiosk's hardware uses, and nothing else.
	devices := strings.Join(s["Service.DeviceAllow"], " ")
	if want := "char-video4linux rw char-gpiochip rw char-i2c rw char-input r /dev/fb0 rw /dev/tty0 rw"; devices != want {
		t.Errorf("siteclockd: DeviceAllow %q, want %q", devices, want)
	}
	// adjtimex() stays allowed, last: the kiosk reads whether the clock is
	// synchronised with it for every punch, and ~@privileged (or
	// ProtectClock=) would make it fail, every punch then saying "not
	// synchronised".
	if got := strings.Join(s["Service.SystemCallFilter"], " "); got != "@system-service ~@privileged @resources adjtimex" {
		t.Errorf("siteclockd: SystemCallFilter %q, want @system-service, then ~@privileged @resources, then adjtimex", got)
	}
	if len(s["Service.ProtectClock"]) != 0 {
		t.Error("siteclockd: ProtectClock= forbids adjtimex()")
	}
	for _, g := range []string{"video", "gpio", "i2c", "input", "tty"} {
		if !slices.Contains(s["Service.SupplementaryGroups"], g) {
			t.Errorf("siteclockd: SupplementaryGroups %q lacks %s", s["Service.SupplementaryGroups"], g)
		}
	}
}

// TestUnitsAreShipped: the Debian packaging installs these very files.
func TestUnitsAreShipped(t *testing.T) {
	found, err := fs.Glob(os.DirFS("."), "*.service")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	want := slices.Sorted(slices.Values(units))
	if !slices.Equal(found, want) {
		t.Errorf("unit files %q, want %q: add a new unit to units (and to the packaging)", found, want)
	}
}
