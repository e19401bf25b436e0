package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/sqlitedb"
)

var (
	serverOnce sync.Once
	serverBin  string
	serverErr  error
)

func siteclockServer(t testing.TB) string {
	t.Helper()
	serverOnce.Do(func() {
		dir, err := os.MkdirTemp("", "siteclock-server-e2e")
		if err != nil {
			serverErr = err
			return
		}
		serverBin = filepath.Join(dir, "siteclock-server")
		out, err := exec.Command("go", "build", "-o", serverBin, "../siteclock-server").CombinedOutput()
		if err != nil {
			serverErr = fmt.Errorf("go build siteclock-server: %v\n%s", err, out)
		}
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverBin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestKioskWithOffice runs the two real binaries as `make run` does: the
// back office's demo, a kiosk enrolled with its setup code, punches typed
// into the headless kiosk, and checks that the office holds them with the
// photo.
func TestKioskWithOffice(t *testing.T) {
	data, state, addr := t.TempDir(), t.TempDir(), freeAddr(t)
	srv := exec.Command(siteclockServer(t), "demo", "-data", data, "-addr", addr)
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()

	// The demo prints its setup code, then serves.
	var code string
	lines := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`setup code: (\d{8})`)
	for lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			code = m[1]
		}
		if strings.Contains(lines.Text(), "serving") {
			break
		}
	}
	go func() {
		for lines.Scan() {
		}
	}()
	if code == "" {
		t.Fatal("the demo printed no setup code")
	}
	url := "http://" + addr

	if _, err := cmdRun(t, "", "enroll", "-state", state, "-server", url, "-code", "00000000"); err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Errorf("enroll with a wrong code: %v", err)
	}
	out, err := cmdRun(t, "", "enroll", "-state", state, "-server", url, "-code", code)
	if err != nil || !strings.Contains(out, "enrolled with") {
		t.Fatalf("enroll: %q, %v", out, err)
	}
	if fi, err := os.Stat(filepath.Join(state, "device.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("device.json: %v, %v; want a file only the daemon can read", fi, err)
	}

	// The roster came from the office: Ben (FaceFront) and Carla (office).
	screens, err := cmdRun(t, "2222##3333#o", "-headless", "-state", state, "-server", url, "-camera", "sim")
	if err != nil {
		t.Fatalf("kiosk: %v\n%s", err, screens)
	}
	for _, want := range []string{"Hello, Ben Cole", "Photo saved", "Clocked OUT"} {
		if !strings.Contains(screens, want) {
			t.Errorf("kiosk screens lack %q", want)
		}
	}
	st, err := cmdRun(t, "", "status", "-state", state)
	if err != nil || !strings.Contains(st, "0 waiting") {
		t.Errorf("kiosk status after the script: %v\n%s\nwant nothing waiting (uploaded)", err, st)
	}

	db, err := sql.Open("sqlite3", sqlitedb.ReadOnlyDSN(filepath.Join(data, "office.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var punches, photos int
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		db.QueryRow(`SELECT count(*) FROM punches`).Scan(&punches)
		db.QueryRow(`SELECT count(*) FROM photos`).Scan(&photos)
		if punches == 2 && photos == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if punches != 2 || photos != 1 {
		t.Errorf("the office holds %d punches and %d photos, want 2 and 1", punches, photos)
	}
}
