package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/roster"
)

var stormSeed = flag.Uint64("storm-seed", 0, "seed of TestSIGKILLStorm's keys and kill times; 0: from the clock (the log names it)")

// stormPeople are the demo's people (demo/roster.json, and the office's
// demo: siteclock-server demo) but Diego, whose screens are in Spanish.
var stormPeople = []struct {
	backoffice.Employee
	pin string
}{
	{backoffice.Employee{Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true, PhotoConsent: true}, "1111"},
	{backoffice.Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true, PhotoConsent: true}, "2222"},
	{backoffice.Employee{Number: "1003", Name: "Carla Diaz", RoleID: "office", Active: true}, "3333"},
	{backoffice.Employee{Number: "1005", Name: "Erin Walsh", RoleID: "office", Active: true}, "5555"},
}

// stormActions are what a person does at the kiosk, as keys: a punch with
// a photo (Ana, Ben), one without (Carla, Erin: office role), and Ana
// clocking in or out a crew of two or three.
var stormActions = []string{
	"2222##", "1111##", "3333##", "5555##",
	"1111f1002#1003#i#", "1111f1002#1003#1005#o#",
}

// office is a real siteclock-server serving a data folder on a fixed
// address, which a test kills and restarts.
type officeProc struct {
	t    *testing.T
	data string
	addr string
	cmd  *exec.Cmd
	logs bytes.Buffer
}

// seedOffice makes the demo company in data with screens that pass
// quickly, so that a punch takes a fraction of a second, and returns the
// setup code.
func seedOffice(t *testing.T, data string) string {
	t.Helper()
	store, err := backoffice.Open(data, backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	if _, err := store.CreateCompany("Storm Construction", now); err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	if _, err := store.SetSettings(roster.Settings{Nickname: "Storm trailer", PhotoCountdown: 20 * ms, PhotoPreview: 5 * ms,
		SavedScreen: 5 * ms, MessageScreen: 5 * ms, ScreenTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for _, p := range stormPeople {
		if _, err := store.CreateEmployee(p.Employee, p.pin); err != nil {
			t.Fatal(err)
		}
	}
	code, err := store.SetupCode(now)
	if err != nil {
		t.Fatal(err)
	}
	return code.Code
}

// start runs the server and waits until it serves.
func (o *officeProc) start() {
	o.t.Helper()
	cmd := exec.Command(siteclockServer(o.t), "serve", "-data", o.data, "-addr", o.addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		o.t.Fatal(err)
	}
	cmd.Stderr = &o.logs
	if err := cmd.Start(); err != nil {
		o.t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "serving") {
			break
		}
	}
	go io.Copy(io.Discard, out)
	o.cmd = cmd
}

// kill SIGKILLs the server.
func (o *officeProc) kill() {
	o.cmd.Process.Signal(syscall.SIGKILL)
	o.cmd.Wait()
}

// stop ends the server as systemd would.
func (o *officeProc) stop() {
	o.cmd.Process.Signal(syscall.SIGTERM)
	if err := o.cmd.Wait(); err != nil {
		o.t.Errorf("the office did not stop cleanly: %v\n%s", err, o.logs.String())
	}
}

// savedScreen is a "saved" screen as headless mode prints it.
type savedScreen struct {
	names []string // the employee, or the crew
	dir   punch.Direction
	crew  bool
	photo bool
}

var (
	singleRE = regexp.MustCompile(`^Clocked (IN|OUT) `)
	crewRE   = regexp.MustCompile(`^(\d+) clocked (IN|OUT) `)
)

// savedScreens returns the complete "saved" screens in out, in order.
func savedScreens(t *testing.T, out string) []savedScreen {
	t.Helper()
	var (
		screens []savedScreen
		prev    []string // the block before, without its status line
	)
	for _, block := range strings.Split(out, "\n\n") {
		lines := strings.Split(strings.TrimPrefix(block, "\n"), "\n")
		// The same screen is printed again when only its status line
		// changes (online, waiting): that is not another punch.
		again := slices.Equal(prev, lines[:len(lines)-1])
		prev = lines[:len(lines)-1]
		if len(lines) < 3 || lines[0] != "--- saved ---" || again {
			continue
		}
		title, big := lines[1], lines[2]
		dirOf := func(s string) punch.Direction {
			if s == "IN" {
				return punch.In
			}
			return punch.Out
		}
		switch {
		case singleRE.MatchString(big):
			s := savedScreen{names: []string{title}, dir: dirOf(singleRE.FindStringSubmatch(big)[1])}
			for _, l := range lines[3:] {
				s.photo = s.photo || l == "Photo saved"
			}
			screens = append(screens, s)
		case crewRE.MatchString(big):
			m := crewRE.FindStringSubmatch(big)
			n, _ := strconv.Atoi(m[1])
			// After the icon line: the crew's names, then "Recorded by".
			if len(lines) < 4+n {
				t.Fatalf("crew saved screen without its names:\n%s", block)
			}
			screens = append(screens, savedScreen{names: lines[4 : 4+n], dir: dirOf(m[2]), crew: true})
		default:
			t.Fatalf("a saved screen this test cannot read:\n%s", block)
		}
	}
	return screens
}

// officePhotoKey reads the office's photo key, which the kiosk seals its
// photos to.
func officePhotoKey(t *testing.T, data string) *photoseal.PrivateKey {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(data, "photo-key"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := photoseal.ParsePrivateKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkRun checks, as the kiosk restarts, that the queue holds every punch
// whose saved screen appeared in the run, intact and in order, and at
// most the one commit in progress at the kill beyond them. fromSeq is the
// highest sequence number before the run; it returns the highest after.
func checkRun(t *testing.T, state string, run int, fromSeq int64, screens []savedScreen, key *photoseal.PrivateKey) (toSeq int64, extra int) {
	t.Helper()
	db, err := queue.Open(state, queue.Options{})
	if err != nil {
		t.Fatalf("run %d: the queue does not open after SIGKILL: %v", run, err)
	}
	defer db.Close()
	all, err := db.All(0)
	if err != nil {
		t.Fatal(err)
	}
	var mine []punch.Punch
	for _, p := range all {
		if p.Seq > fromSeq {
			mine = append(mine, p)
		}
	}
	i := 0
	for si, s := range screens {
		for _, name := range s.names {
			if i >= len(mine) {
				t.Fatalf("run %d: saved screen %d (%v) showed, but its punch is not in the queue (punches of this run: %d)", run, si, s.names, len(mine))
			}
			p := mine[i]
			i++
			switch {
			case p.EmployeeName != name || p.Direction != s.dir:
				t.Fatalf("run %d: saved screen %d says %s %s; the queue has %s %s", run, si, name, s.dir, p.EmployeeName, p.Direction)
			case s.crew && (p.ClockedBy == "" || p.NoPhoto != punch.ClockFor):
				t.Errorf("run %d: crew punch %s lacks its foreman: %+v", run, p.ID, p)
			case s.photo && p.Photo == "":
				t.Errorf("run %d: saved screen said \"Photo saved\"; punch %s names no photo", run, p.ID)
			}
			if p.Photo != "" {
				checkPhoto(t, db, p, key)
			}
		}
	}
	extra = len(mine) - i
	if extra > 0 {
		// Killed between the commit and its screen: one commit at most,
		// a single punch or a crew.
		rest := mine[i:]
		crew := rest[0].ClockedBy != ""
		if (!crew && extra > 1) || extra > 3 {
			t.Errorf("run %d: %d punches committed beyond the saved screens: %+v", run, extra, rest)
		}
		for _, p := range rest {
			if p.Photo != "" {
				checkPhoto(t, db, p, key)
			}
		}
	}
	if len(all) > 0 {
		toSeq = all[len(all)-1].Seq
	}
	return max(toSeq, fromSeq), extra
}

// checkPhoto checks that a punch's photo is a whole JPEG, unless the kiosk
// has already removed it after the office acknowledged it. The kiosk seals
// its photos to the office's key once it has it: such a photo must open
// with the office's key to a whole JPEG.
func checkPhoto(t *testing.T, db *queue.DB, p punch.Punch, key *photoseal.PrivateKey) {
	t.Helper()
	b, err := db.ReadPhoto(p.Photo)
	if errors.Is(err, queue.ErrNotFound) {
		waiting, err := db.UnsentPhotos(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range waiting {
			if w.ID == p.ID {
				t.Errorf("the photo of punch %s is gone before it was uploaded", p.ID)
			}
		}
		return
	}
	if err != nil {
		t.Errorf("photo of punch %s: %v", p.ID, err)
		return
	}
	if photoseal.IsSealed(b) {
		if b, err = key.Open(b); err != nil {
			t.Errorf("sealed photo of punch %s: %v", p.ID, err)
			return
		}
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("photo of punch %s is damaged: %v", p.ID, err)
	}
}

// TestSIGKILLStorm runs the real siteclockd, enrolled with the real
// siteclock-server, in headless mode with a storm of punches (PINs typed
// on standard input, photos from the simulated camera) and kills it with
// SIGKILL 20 to 300 ms after each start, while it commits and uploads.
// Every 20th run the office is killed too, mid-run, and restarted. After
// each kill the queue must hold every punch whose "saved" screen appeared;
// at the end every punch must be on the office exactly once, with its
// photo.
//
// go test -v -run TestSIGKILLStorm ./cmd/siteclockd prints the figures
// for docs/RELIABILITY.md; -short kills 40 times instead of 200.
func TestSIGKILLStorm(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 40
	}
	seed := *stormSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	data, state := t.TempDir(), t.TempDir()
	code := seedOffice(t, data)
	office := &officeProc{t: t, data: data, addr: freeAddr(t)}
	key := officePhotoKey(t, data)
	office.start()
	defer func() {
		if office.cmd.ProcessState == nil {
			office.kill()
		}
	}()
	url := "http://" + office.addr
	if out, err := cmdRun(t, "", "enroll", "-state", state, "-server", url, "-code", code); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	start := time.Now() // both programs are built by now

	var (
		seq                       int64
		saved, extra, officeKills int
		uploads                   int // "punches uploaded" and "photo uploaded" log lines
		exitedEarly               int
	)
	for run := 1; run <= kills; run++ {
		var script strings.Builder
		for range 20 {
			script.WriteString(stormActions[rng.IntN(len(stormActions))])
		}
		cmd := exec.Command(siteclockd(t), "-headless", "-state", state, "-camera", "sim")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The script is far longer than the run: the kill, not the end
		// of the keys, ends it. The pipe stays open until then.
		io.WriteString(stdin, script.String())
		killOffice := run%20 == 10
		officeDone := make(chan struct{})
		if killOffice {
			at := time.Duration(rng.IntN(300)) * time.Millisecond
			go func() {
				defer close(officeDone)
				time.Sleep(at)
				office.kill()
			}()
		} else {
			close(officeDone)
		}
		time.Sleep(time.Duration(20+rng.IntN(281)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err = cmd.Wait()
		stdin.Close()
		<-officeDone
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			// It ended before the kill: that is a failure unless it is
			// a clean exit, which the script's length rules out.
			exitedEarly++
			t.Fatalf("run %d: siteclockd ended on its own (%v)\nstderr:\n%s", run, err, stderr.String())
		}
		uploads += strings.Count(stderr.String(), "punches uploaded") + strings.Count(stderr.String(), "photo uploaded")
		screens := savedScreens(t, stdout.String())
		for _, s := range screens {
			saved += len(s.names)
		}
		var more int
		seq, more = checkRun(t, state, run, seq, screens, key)
		extra += more
		if t.Failed() {
			t.Fatalf("run %d failed; its stderr:\n%s", run, stderr.String())
		}
		if killOffice {
			officeKills++
			office.start()
		}
	}
	stormTime := time.Since(start)

	// Let the kiosk finish: runs without keys send what waits and exit.
	drained := false
	for try := 0; try < 10 && !drained; try++ {
		out, err := cmdRun(t, "", "-headless", "-state", state, "-camera", "sim")
		if err != nil {
			t.Fatalf("last run: %v\n%s", err, out)
		}
		db, err := queue.Open(state, queue.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := db.Stats()
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		drained = st.Waiting == 0 && st.PhotosWaiting == 0
	}
	if !drained {
		t.Fatal("the kiosk did not send everything in 10 runs after the storm")
	}
	office.stop()
	lost, doubled, photos, total := compareWithOffice(t, state, data)
	t.Logf("seed %d (-storm-seed repeats this run's keys and kill times)", seed)
	t.Logf("figures: | siteclockd SIGKILLs | office SIGKILLs | punches with a saved screen | punches committed | committed but killed before the screen | photos | uploads logged | lost | doubled | wall time |")
	t.Logf("figures: | %d | %d | %d | %d | %d | %d | %d | %d | %d | %v |",
		kills, officeKills, saved, total, extra, photos, uploads, lost, doubled, stormTime.Round(100*time.Millisecond))
}

// compareWithOffice checks that every punch in the kiosk's queue is on the
// office exactly once, with the same contents and its photo, that the
// office holds nothing else, and that nothing was refused.
func compareWithOffice(t *testing.T, state, data string) (lost, doubled, photos, total int) {
	t.Helper()
	db, err := queue.Open(state, queue.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mine, err := db.All(0)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := db.Stats(); st.Rejected != 0 {
		rj, _ := db.Rejected()
		t.Errorf("the office refused %d punches or photos: %+v", st.Rejected, rj)
	}
	store, err := backoffice.Open(data, backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	theirs, err := store.Punches(backoffice.PunchFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]backoffice.Punch{}
	for _, p := range theirs {
		if _, ok := byID[p.ID]; ok {
			doubled++
			t.Errorf("punch %s is on the office twice", p.ID)
		}
		byID[p.ID] = p
	}
	seen := map[string]bool{}
	for _, p := range mine {
		seen[p.ID] = true
		sp, ok := byID[p.ID]
		if !ok {
			lost++
			t.Errorf("punch %s (seq %d, %s %s) is not on the office", p.ID, p.Seq, p.EmployeeName, p.Direction)
			continue
		}
		if sp.Seq != p.Seq || sp.EmployeeID != p.EmployeeID || sp.Direction != p.Direction || !sp.At.Equal(p.At) || sp.ClockedBy != p.ClockedBy {
			t.Errorf("punch %s differs on the office: %+v, kiosk %+v", p.ID, sp, p)
		}
		if p.Photo == "" {
			continue
		}
		photos++
		if sp.PhotoSHA256 == "" || sp.PhotoReceivedAt.IsZero() {
			t.Errorf("the photo of punch %s (%s) is not on the office: %+v", p.ID, p.EmployeeName, sp)
			continue
		}
		b, err := store.Photo(sp.PhotoSHA256)
		sum := sha256.Sum256(b)
		if err != nil || hex.EncodeToString(sum[:]) != sp.PhotoSHA256 {
			t.Errorf("the photo of punch %s on the office: %v", p.ID, err)
			continue
		}
		if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("the photo of punch %s on the office is not a JPEG: %v", p.ID, err)
		}
	}
	for id := range byID {
		if !seen[id] {
			doubled++
			t.Errorf("the office has punch %s the kiosk never committed", id)
		}
	}
	if rj, err := store.RejectedPunches(); err != nil || len(rj) != 0 {
		t.Errorf("the office rejected %d punches (%v): %+v", len(rj), err, rj)
	}
	files, _ := os.ReadDir(filepath.Join(data, "photos"))
	if len(files) != photos {
		t.Errorf("the office holds %d photo files for %d photos", len(files), photos)
	}
	return lost, doubled, photos, len(mine)
}
