package main

// The agent's side of the power-cut suite (hil/run.sh powercut, run by
// hil/powercut-init.sh): the kiosk's state folder is on a virtual ext4
// disk, and the host kills QEMU at a random moment while siteclockd
// commits punches. In every boot the agent
//
//  1. mounts the disk (the kernel replays ext4's journal, as after a
//     power cut on a Pi);
//  2. after the first boot, checks the state folder before siteclockd
//     opens it (powercut.Check), against every punch reported saved in the
//     boots before, which the host passes in /powercut/saved.txt;
//  3. punches: starts siteclockd in headless mode (keys on standard input,
//     screens on standard output, photos from the simulated camera), types
//     punches, with and without photos and for Clock For crews, and prints
//     a SAVED line for every punch whose "saved" screen appears (and
//     "POWERCUT saving" when a commit begins, for the host's aimed cuts),
//     until the host cuts the power; or, in the last boot, starts siteclockd once
//     without keys (it opens the queue, shows the idle screen and exits)
//     and unmounts the disk cleanly, so that the host can fsck it.
//
// Why the headless daemon and not the keypad and framebuffer of make
// test-hil: what a power cut tests is the storage path (SQLite, the photo
// files, ext4, the disk's flushes), the same whatever typed the PIN.
// Through the emulated keypad a punch takes seconds of emulated CPU (each
// key held until its screen is drawn), through standard input a fraction
// of one, so every boot has many more commits in flight for the cut to
// land on. The hardware path is make test-hil's.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/hil/powercut"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/punch"
)

const (
	pcDisk  = "/dev/vda"
	pcMount = "/kiosk"
	pcSaved = "/powercut/saved.txt" // the host's initramfs addition
)

// pcRoster has quick screens, so that a punch takes a fraction of a second,
// and the people the storm test uses: Ana (foreman, photo, Clock For), Ben
// (photo) and Carla (no photo).
const pcRoster = `{
  "version": "powercut-1",
  "pin_iterations": 1000,
  "settings": {"nickname": "Power-cut trailer", "timezone": "America/Chicago", "language": "en",
               "photo_countdown_seconds": 0.05, "photo_preview_seconds": 0.05,
               "saved_screen_seconds": 0.2, "message_screen_seconds": 0.2, "screen_timeout_seconds": 30},
  "roles": [{"id": "foreman", "facefront": true, "clock_for": true},
            {"id": "worker", "facefront": true},
            {"id": "office", "facefront": false}],
  "employees": [
    {"number": "1001", "name": "Ana Ruiz", "role": "foreman", "pin": "1111", "photo_consent": true},
    {"number": "1002", "name": "Ben Cole", "role": "worker", "pin": "2222", "photo_consent": true},
    {"number": "1003", "name": "Carla Diaz", "role": "office", "pin": "3333"}
  ]
}`

// pcActions are what people do at the kiosk, as keys, weighted towards
// punches with a photo (a photo file, fsync'd with its folder, then a row).
var pcActions = []string{
	"2222##", "2222##", "2222##", "1111##", "1111##", // with a photo
	"3333##",                                 // without
	"1111f1002#1003#i#", "1111f1002#1003#o#", // a crew of two, one transaction
}

// pcArgs are the suite's kernel arguments (powercut.NAME=VALUE), set by
// the host for each boot.
type pcArgs struct {
	mode       string // "punch" or "final"
	boot, cuts int    // this boot's number from 1; the cuts before it
	seed       uint64
}

func kernelArgs() (pcArgs, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return pcArgs{}, err
	}
	var a pcArgs
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "powercut.mode":
			a.mode = v
		case "powercut.boot":
			a.boot, err = strconv.Atoi(v)
		case "powercut.cuts":
			a.cuts, err = strconv.Atoi(v)
		case "powercut.seed":
			a.seed, err = strconv.ParseUint(v, 10, 64)
		}
		if err != nil {
			return a, fmt.Errorf("kernel argument %s: %v", f, err)
		}
	}
	if (a.mode != "punch" && a.mode != "final") || a.boot < 1 {
		return a, fmt.Errorf("kernel arguments %q lack powercut.mode=punch|final and powercut.boot=N", strings.TrimSpace(string(b)))
	}
	return a, nil
}

// pcPhotoKey is the company's photo key of a run, made from its seed: the
// agent seals to its public half in the first boot and opens the photos
// with it in the later ones, and no boot needs a key file from another.
func pcPhotoKey(seed uint64) (*photoseal.PrivateKey, error) {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	copy(s[8:], "siteclock power-cut photo key")
	return photoseal.GenerateKey(rand.NewChaCha8(s))
}

func powercutMain(bin string) int {
	a := &agent{bin: bin, start: time.Now()}
	err := a.powercut()
	if err != nil {
		a.fail("powercut", "%v", err)
	}
	if a.failed {
		fmt.Println("POWERCUT RESULT: FAIL")
		return 1
	}
	return 0
}

func (a *agent) powercut() error {
	args, err := kernelArgs()
	if err != nil {
		return err
	}
	fmt.Printf("POWERCUT boot %d (%s) seed %d\n", args.boot, args.mode, args.seed)
	key, err := pcPhotoKey(args.seed)
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(pcDisk); err == nil {
			break
		} else if i == 100 {
			return fmt.Errorf("no %s after 10s (see the init lines for virtio_blk)", pcDisk)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := os.MkdirAll(pcMount, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(pcDisk, pcMount, "ext4", unix.MS_NOATIME, ""); err != nil {
		a.fail("mount", "mount %s (ext4) on %s: %v", pcDisk, pcMount, err)
		return errors.New("the disk does not mount")
	}
	a.state = filepath.Join(pcMount, "state")

	if args.boot > 1 {
		if err := a.pcCheck(args, key); err != nil {
			return err
		}
	}
	if args.mode == "final" {
		return a.pcFinal()
	}
	if args.boot == 1 {
		if err := a.pcSetup(key); err != nil {
			return err
		}
	}
	return a.pcPunch(args)
}

// pcCheck checks the state folder as the last cut left it.
func (a *agent) pcCheck(args pcArgs, key *photoseal.PrivateKey) error {
	f, err := os.Open(pcSaved)
	if err != nil {
		return fmt.Errorf("the host's list of saved punches: %v", err)
	}
	saved, err := powercut.ReadSaved(f)
	f.Close()
	if err != nil {
		return err
	}
	t := time.Now()
	r := powercut.Check(a.state, saved, powercut.Options{PhotoKey: key, Cuts: args.cuts})
	journal := "clean"
	if strings.Contains(kernelLog(), "EXT4-fs (vda): recovery complete") {
		journal = "replayed"
	}
	fmt.Printf("CHECK boot=%d punches=%d photos=%d saved=%d unreported=%d orphans=%d tmp=%d lost=%d corrupt=%d wal=%d journal=%s\n",
		args.boot, r.Punches, r.Photos, r.Saved, r.Unreported, r.Orphans, r.TempFiles, r.Lost, r.Corrupt, r.WALBytes, journal)
	for _, p := range r.Problems {
		a.fail("check", "%s", p)
	}
	if !r.OK() {
		return fmt.Errorf("the state folder after cut %d has %d problems", args.cuts, len(r.Problems))
	}
	a.pass("check", "after cut %d (ext4 journal %s at mount, a %d-byte WAL left): integrity ok; %d punches (%d reported saved, all there as shown; %d committed without a reported screen), %d photos whole with their SHA-256, %d whole photos without a row, %d half-written (%.1fs)",
		args.cuts, journal, r.WALBytes, r.Punches, r.Saved, r.Unreported, r.Photos, r.Orphans, r.TempFiles, time.Since(t).Seconds())
	return nil
}

// kernelLog returns the kernel's messages so far, from /dev/kmsg: the
// console shows only warnings, and ext4 says at the info level that it
// replayed its journal at mount. Raw system calls, because the runtime's
// poller would wait for more messages instead of saying there are none.
func kernelLog() string {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	var b strings.Builder
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EPIPE) {
			continue // overwritten while reading: go on with the next
		}
		if err != nil || n <= 0 {
			return b.String()
		}
		b.Write(buf[:n])
	}
}

// pcSetup provisions the kiosk on the fresh disk: the company's photo key
// and the roster.
func (a *agent) pcSetup(key *photoseal.PrivateKey) error {
	if err := os.MkdirAll(a.state, 0o700); err != nil {
		return err
	}
	if err := durable.SyncDir(pcMount); err != nil {
		return err
	}
	text, _ := key.Public().MarshalText()
	if err := durable.WriteFile(filepath.Join(a.state, "photo-key.pub"), text); err != nil {
		return err
	}
	rf := "/tmp/roster.json"
	if err := os.WriteFile(rf, []byte(pcRoster), 0o600); err != nil {
		return err
	}
	out, err := exec.Command(a.bin, "roster", "import", "-state", a.state, rf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("siteclockd roster import: %v: %s", err, strings.TrimSpace(string(out)))
	}
	a.pass("setup", "photo key %s; %s", key.Public().Fingerprint(), strings.TrimSpace(string(out)))
	return nil
}

// pcFinal starts siteclockd once more, without keys: it must open the
// queue (its quick_check and clean-up) and exit at rest. Then the disk is
// unmounted, for the host's fsck.
func (a *agent) pcFinal() error {
	cmd := exec.Command(a.bin, "-headless", "-state", a.state, "-camera", "sim")
	cmd.Stdin = strings.NewReader("")
	done := make(chan error, 1)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			a.fail("restart", "siteclockd on the disk after the cuts: %v\n%s", err, out.String())
		} else {
			a.pass("restart", "siteclockd opened the queue after the cuts and stopped cleanly")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		a.fail("restart", "siteclockd did not stop within 60s of its input's end\n%s", out.String())
	}
	if err := unix.Unmount(pcMount, 0); err != nil {
		return fmt.Errorf("unmount %s: %v", pcMount, err)
	}
	if !a.failed {
		fmt.Println("POWERCUT RESULT: PASS")
	}
	return nil
}

var (
	committedRE = regexp.MustCompile(`msg="punch committed" punch_id=(\S+) seq=(\d+) direction=(in|out) photo=(true|false)`)
	singleRE    = regexp.MustCompile(`^Clocked (IN|OUT) `)
	crewRE      = regexp.MustCompile(`^(\d+) clocked (IN|OUT) `)
)

// pcCommit is a commit the daemon logged, waiting for its saved screen.
type pcCommit struct {
	id    string
	seq   int64
	dir   punch.Direction
	photo bool
}

// pcPunch runs siteclockd with keys until the power is cut. Its screens
// and its log share one pipe, so they come in the order the daemon wrote
// them: a commit's log line before its saved screen.
func (a *agent) pcPunch(args pcArgs) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(a.bin, "-headless", "-state", a.state, "-camera", "sim")
	cmd.Stdout, cmd.Stderr = pw, pw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	pw.Close()
	// Keys far beyond any boot: the cut, not the script, ends it.
	go func() {
		rng := rand.New(rand.NewPCG(args.seed, uint64(args.boot)))
		for {
			if _, err := io.WriteString(stdin, pcActions[rng.IntN(len(pcActions))]); err != nil {
				return
			}
		}
	}()

	var (
		pending     []pcCommit
		block, prev []string
		punching    bool
		saved       int
	)
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "time=") {
			if m := committedRE.FindStringSubmatch(line); m != nil {
				seq, _ := strconv.ParseInt(m[2], 10, 64)
				pending = append(pending, pcCommit{id: m[1], seq: seq, dir: punch.Direction(m[3]), photo: m[4] == "true"})
			} else if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				fmt.Println("DAEMON " + line)
			}
			continue
		}
		if line != "" {
			block = append(block, line)
			continue
		}
		if len(block) == 0 {
			continue
		}
		lines := block
		block = nil
		// The same screen again with another status line (the count of
		// punches waiting) is not another punch.
		again := len(prev) > 0 && slices.Equal(prev[:len(prev)-1], lines[:len(lines)-1])
		prev = lines
		if !punching {
			punching = true
			up, _ := os.ReadFile("/proc/uptime")
			fmt.Printf("POWERCUT punching (uptime %s)\n", strings.Fields(string(up) + " ?")[0])
		}
		switch {
		case again:
		case lines[0] == "--- preview ---" || lines[0] == "--- saving ---":
			// "Saving…" is up: the commit starts now (the photo file,
			// then the row). The host may aim its cut at this line.
			fmt.Println("POWERCUT saving")
		case lines[0] == "--- not-saved ---":
			a.fail("punch", "siteclockd could not save a punch:\n    %s", strings.Join(lines, "\n    "))
		case lines[0] == "--- saved ---":
			n, err := a.pcSaved(args.boot, lines, &pending)
			if err != nil {
				a.fail("punch", "%v", err)
				cmd.Process.Kill()
				return err
			}
			saved += n
		}
	}
	err = cmd.Wait()
	a.fail("punch", "siteclockd ended before the power cut (%v) after %d punches saved", err, saved)
	return errors.New("siteclockd ended")
}

// pcSaved reports the punches of a saved screen, taking their commits
// from pending, and returns how many.
func (a *agent) pcSaved(boot int, lines []string, pending *[]pcCommit) (int, error) {
	if len(lines) < 3 {
		return 0, fmt.Errorf("a saved screen this agent cannot read: %q", lines)
	}
	dirOf := func(s string) punch.Direction {
		if s == "IN" {
			return punch.In
		}
		return punch.Out
	}
	var (
		names []string
		dir   punch.Direction
		photo bool
		crew  int
	)
	title, big := lines[1], lines[2]
	switch {
	case singleRE.MatchString(big):
		names, dir = []string{title}, dirOf(singleRE.FindStringSubmatch(big)[1])
		photo = slices.Contains(lines[3:], "Photo saved")
	case crewRE.MatchString(big):
		m := crewRE.FindStringSubmatch(big)
		crew, _ = strconv.Atoi(m[1])
		dir = dirOf(m[2])
		// After the icon line: the crew's names, then "Recorded by".
		if len(lines) < 4+crew {
			return 0, fmt.Errorf("a crew's saved screen without its names: %q", lines)
		}
		names = lines[4 : 4+crew]
	default:
		return 0, fmt.Errorf("a saved screen this agent cannot read: %q", lines)
	}
	if len(*pending) < len(names) {
		return 0, fmt.Errorf("a saved screen for %d punches (%q) with %d commits logged before it", len(names), lines, len(*pending))
	}
	for i, name := range names {
		c := (*pending)[i]
		if c.dir != dir || (crew == 0 && c.photo != photo) {
			return 0, fmt.Errorf("the saved screen %q does not match the commit logged before it: %+v", lines, c)
		}
		fmt.Println(powercut.Saved{Boot: boot, Seq: c.seq, ID: c.id, Dir: dir, Photo: photo, Crew: crew, Name: name}.String())
	}
	*pending = (*pending)[len(names):]
	return len(names), nil
}
