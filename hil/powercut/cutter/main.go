// Command cutter is the host's side of the power-cut suite (make
// test-powercut, hil/run.sh powercut): it makes an ext4 disk image for the
// kiosk's state folder, boots the emulated machine of hil/ on it again and
// again, and cuts its power by killing QEMU with SIGKILL at a random moment
// while siteclockd commits punches. It collects the punches the agent
// reported saved from the serial console and gives them to the next boot,
// whose agent checks the state folder (hil/powercut.Check) before the
// daemon opens it. A last boot checks the folder after the last cut and
// unmounts it cleanly, and the host checks the file system with e2fsck.
//
// The random moments and the keys typed come from one seed, which it
// prints; -seed repeats them. (Not the instruction the cut lands on: the
// emulated machine's pace depends on the host's load.)
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/siteclock/siteclock/hil/powercut"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "powercut: FAILED:", err)
		os.Exit(1)
	}
}

type config struct {
	qemu, kernel, initrd, work string
	cuts                       int
	seed                       uint64
	cutMin, cutMax, aimMax     time.Duration
	timeout                    time.Duration
	diskSize                   int64
}

func run(args []string, stdout io.Writer) error {
	var c config
	fs := flag.NewFlagSet("cutter", flag.ContinueOnError)
	fs.StringVar(&c.qemu, "qemu", "qemu-system-x86_64", "the QEMU to run")
	fs.StringVar(&c.kernel, "kernel", "", "the kernel (hil/run.sh's cached vmlinuz)")
	fs.StringVar(&c.initrd, "initrd", "", "the initramfs of hil/run.sh, with /powercut-init")
	fs.StringVar(&c.work, "work", "out/hil/powercut", "work folder: the disk image, each boot's initramfs and console log")
	fs.IntVar(&c.cuts, "cuts", 6, "power cuts; one more boot checks the last")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the cut times and the keys typed; 0: from the clock")
	fs.DurationVar(&c.cutMin, "cut-min", 500*time.Millisecond, "the earliest cut after siteclockd's first screen")
	fs.DurationVar(&c.cutMax, "cut-max", 8*time.Second, "the latest cut after siteclockd's first screen")
	fs.DurationVar(&c.timeout, "boot-timeout", 150*time.Second, "how long a boot may take to start punching, or the last boot to finish")
	fs.DurationVar(&c.aimMax, "aim-max", 60*time.Millisecond, "an aimed cut comes up to this long after a commit begins")
	fs.Int64Var(&c.diskSize, "disk-mb", 256, "the disk's size in MiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.kernel == "" || c.initrd == "" || c.cuts < 1 || c.cutMax < c.cutMin {
		return errors.New("usage: cutter -kernel VMLINUZ -initrd INITRAMFS [-work DIR] [-cuts N] [-seed N]")
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(c.work, "boot-*.log"))
	for _, f := range old { // an earlier run's consoles
		os.Remove(f)
	}
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(stdout, "powercut: [%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	say("seed %d (POWERCUT_SEED=%d make test-powercut repeats its cut times and keys)", c.seed, c.seed)
	rng := rand.New(rand.NewPCG(c.seed, 0))
	disk := filepath.Join(c.work, "kiosk-disk.img")
	if err := makeDisk(disk, c.diskSize<<20); err != nil {
		return err
	}
	base, err := os.ReadFile(c.initrd)
	if err != nil {
		return err
	}

	var (
		saved []powercut.Saved
		cuts  []cutRecord
		prev  checkLine // the check before: its counts are cumulative
	)
	for boot := 1; boot <= c.cuts+1; boot++ {
		final := boot == c.cuts+1
		initrd := filepath.Join(c.work, "boot.cpio.gz")
		if err := writeInitrd(initrd, base, saved); err != nil {
			return err
		}
		// Every other cut is aimed at a commit: the moments when a photo
		// is half-written, or renamed without its row yet, are a few
		// milliseconds of each punch's quarter second, which cuts at any
		// moment would seldom hit.
		var cutAfter time.Duration
		aim := time.Duration(-1)
		if !final {
			cutAfter = c.cutMin + time.Duration(rng.Int64N(int64(c.cutMax-c.cutMin)+1))
			if boot%2 == 0 {
				aim = time.Duration(rng.Int64N(int64(c.aimMax) + 1))
			}
		}
		res, err := boot1(c, bootSpec{n: boot, final: final, cutAfter: cutAfter, aim: aim, disk: disk, initrd: initrd,
			log: filepath.Join(c.work, fmt.Sprintf("boot-%d.log", boot))})
		if err != nil {
			return err
		}
		if len(res.fails) > 0 {
			return fmt.Errorf("boot %d: %d checks failed:\n  %s\nits console: %s", boot, len(res.fails), strings.Join(res.fails, "\n  "), res.log)
		}
		what := "a fresh disk"
		if boot > 1 {
			if res.check == "" {
				return fmt.Errorf("boot %d did not report its check of cut %d; its console: %s", boot, boot-1, res.log)
			}
			chk, err := parseCheck(res.check)
			if err != nil {
				return err
			}
			cr := &cuts[boot-2]
			cr.after = chk
			cr.unreported, cr.orphans = chk.unreported-prev.unreported, chk.orphans-prev.orphans
			prev = chk
			what = fmt.Sprintf("cut %d checked: ext4 journal %s at mount, WAL %d KiB, %d punches (%d reported saved, %d more), %d photos, %d half-written and %d whole photos without a row, lost %d, corrupt %d",
				boot-1, chk.journal, chk.wal>>10, chk.punches, chk.saved, chk.unreported, chk.photos, chk.tmp, chk.orphans, chk.lost, chk.corrupt)
		}
		if final {
			if res.result != "POWERCUT RESULT: PASS" {
				return fmt.Errorf("the last boot did not report POWERCUT RESULT: PASS; its console: %s", res.log)
			}
			say("boot %d: %s; siteclockd started on the disk and stopped, the disk unmounted", boot, what)
			break
		}
		if !res.killed {
			return fmt.Errorf("boot %d ended before its power cut; its console: %s", boot, res.log)
		}
		saved = append(saved, res.saved...)
		cuts = append(cuts, cutRecord{saved: len(res.saved), at: cutAfter, aimed: aim >= 0})
		when := fmt.Sprintf("%.1fs later", cutAfter.Seconds())
		if aim >= 0 {
			when = fmt.Sprintf("%.1fs later, %dms into the commit that began then", cutAfter.Seconds(), aim.Milliseconds())
		}
		say("boot %d: %s; siteclockd up %.1fs after power-on; power cut %s, %d punches reported saved",
			boot, what, res.punching.Seconds(), when, len(res.saved))
	}

	out, err := exec.Command("e2fsck", "-fn", disk).CombinedOutput()
	if err != nil {
		return fmt.Errorf("e2fsck -fn of the disk after the last boot: %v\n%s", err, out)
	}
	say("e2fsck -fn: the file system is clean")
	var perCut []string
	var aimed, replayed, wal, tmp, orphans int // cuts aimed at a commit, and that left each
	for _, cr := range cuts {
		perCut = append(perCut, fmt.Sprint(cr.saved))
		if cr.aimed {
			aimed++
		}
		for _, left := range []struct {
			n   *int
			yes bool
		}{{&replayed, cr.after.journal == "replayed"}, {&wal, cr.after.wal > 0}, {&tmp, cr.after.tmp > 0}, {&orphans, cr.orphans > 0}} {
			if left.yes {
				*left.n++
			}
		}
	}
	say("figures: | boots | power cuts | punches reported saved before each cut | saved, total | committed, cut before the report | in the queue | photos | cuts that left the ext4 journal to replay / a WAL / a half-written photo / a photo without a row | lost | corrupt | wall time | seed |")
	say("figures: | %d | %d (%d aimed at a commit) | %s | %d | %d | %d | %d | %d / %d / %d / %d | %d | %d | %.0f s | %d |", c.cuts+1, c.cuts, aimed,
		strings.Join(perCut, ", "), prev.saved, prev.unreported, prev.punches, prev.photos, replayed, wal, tmp, orphans,
		prev.lost, prev.corrupt, time.Since(start).Seconds(), c.seed)
	return nil
}

// cutRecord is one power cut: what was saved before it, when it came, and
// what the next boot's check found.
type cutRecord struct {
	saved               int
	at                  time.Duration
	aimed               bool
	after               checkLine
	unreported, orphans int
}

// checkLine is the agent's CHECK line.
type checkLine struct {
	boot, punches, photos, saved, unreported, orphans, tmp, lost, corrupt int
	wal                                                                   int64
	journal                                                               string
}

func parseCheck(s string) (checkLine, error) {
	var c checkLine
	_, err := fmt.Sscanf(s, "CHECK boot=%d punches=%d photos=%d saved=%d unreported=%d orphans=%d tmp=%d lost=%d corrupt=%d wal=%d journal=%s",
		&c.boot, &c.punches, &c.photos, &c.saved, &c.unreported, &c.orphans, &c.tmp, &c.lost, &c.corrupt, &c.wal, &c.journal)
	if err != nil {
		return c, fmt.Errorf("the agent's line %q: %v", s, err)
	}
	return c, nil
}

// makeDisk makes the kiosk's disk: a sparse file with a fresh ext4, its
// inode tables and journal written out now (not by the kernel's lazy
// initialisation in the background of the first boots).
func makeDisk(path string, size int64) error {
	os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-L", "kiosk",
		"-E", "lazy_itable_init=0,lazy_journal_init=0", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mke2fs: %v: %s", err, out)
	}
	return nil
}

// writeInitrd writes the boot's initramfs: the base, and a second archive
// with /powercut/saved.txt (the kernel unpacks one after the other).
func writeInitrd(path string, base []byte, saved []powercut.Saved) error {
	var list bytes.Buffer
	for _, s := range saved {
		list.WriteString(s.String() + "\n")
	}
	var b bytes.Buffer
	b.Write(base)
	zw := gzip.NewWriter(&b)
	cw := &cpioWriter{w: zw}
	cw.add("powercut", 0o040755, nil)
	cw.add("powercut/saved.txt", 0o100644, list.Bytes())
	cw.add("TRAILER!!!", 0, nil)
	if cw.err != nil {
		return cw.err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// cpioWriter writes the "newc" cpio format the kernel's initramfs takes.
type cpioWriter struct {
	w   io.Writer
	off int
	ino int
	err error
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
		c.off += len(b)
	}
}

func (c *cpioWriter) pad() { c.write(make([]byte, (4-c.off%4)%4)) }

func (c *cpioWriter) add(name string, mode int, data []byte) {
	c.ino++
	nlink := 1
	if mode&0o040000 != 0 {
		nlink = 2
	}
	c.write(fmt.Appendf(nil, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
}

type bootSpec struct {
	n                 int
	final             bool
	cutAfter          time.Duration
	aim               time.Duration // >= 0: after cutAfter, cut this long after the next commit begins
	disk, initrd, log string
}

type bootResult struct {
	saved    []powercut.Saved
	check    string   // the agent's CHECK line
	fails    []string // its FAIL lines
	result   string   // its POWERCUT RESULT line
	killed   bool
	aimed    bool          // an aimed cut's delay is over: waiting for a commit, or cut in one
	punching time.Duration // from QEMU's start to siteclockd's first screen
	log      string
}

// boot1 boots the machine once. A punching boot is cut cutAfter after the
// agent says siteclockd is up, or, aimed, aim after the first commit to
// begin after that; the last boot runs to its power-off.
func boot1(c config, b bootSpec) (bootResult, error) {
	res := bootResult{log: b.log}
	mode := "punch"
	if b.final {
		mode = "final"
	}
	logf, err := os.Create(b.log)
	if err != nil {
		return res, err
	}
	defer logf.Close()
	// The disk: virtio-blk on the raw image with cache=none. The guest
	// sees a disk with a volatile write cache, as the kiosk's storage may
	// have, so its ext4 and SQLite's fsyncs send the flushes and FUA
	// writes they send on the Pi; QEMU writes with O_DIRECT, past the host's page
	// cache, and turns each flush into an fdatasync of the image, so what
	// the guest flushed is on the host's disk. SIGKILL takes the guest's
	// RAM with it: its page cache, dirty buffers, journal blocks not yet
	// submitted, requests not yet handed to QEMU: everything an fsync had
	// not pushed out. What it cannot take is a write QEMU had handed to
	// the host before the kill: no QEMU cache mode loses those (the host
	// lives on), so this cut is a disk that keeps its write cache. A
	// missing fsync is caught while the data still sat in the guest's page
	// cache (ext4 writes dirty data back after 5 to 30 s, and the cuts
	// come seconds after the writes); a missing flush after the data
	// reached the disk is not. (cache=unsafe would drop the guest's
	// flushes on the host, and writethrough or directsync would show the
	// guest a disk without a write cache, so it would never send them.)
	cmd := exec.Command(c.qemu, "-accel", "tcg", "-M", "pc", "-m", "512", "-smp", "1",
		"-kernel", c.kernel, "-initrd", b.initrd,
		"-append", fmt.Sprintf("console=ttyS0 loglevel=4 panic=-1 rdinit=/powercut-init powercut.mode=%s powercut.boot=%d powercut.cuts=%d powercut.seed=%d",
			mode, b.n, b.n-1, c.seed),
		"-drive", "file="+b.disk+",format=raw,if=virtio,cache=none",
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nodefaults")
	pr, pw, err := os.Pipe()
	if err != nil {
		return res, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	started := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return res, fmt.Errorf("start %s: %v", c.qemu, err)
	}
	pw.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	timeout := time.NewTimer(c.timeout)
	defer timeout.Stop()
	var (
		cut   <-chan time.Time
		armed bool // an aimed cut waits for the next commit
	)
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			fmt.Fprintln(logf, line)
			switch {
			case strings.HasPrefix(line, "POWERCUT punching"):
				res.punching = time.Since(started)
				if !b.final {
					cut = time.After(b.cutAfter)
					timeout.Stop()
				}
			case line == "POWERCUT saving":
				if armed {
					armed = false
					cut = time.After(b.aim)
				}
			case strings.HasPrefix(line, "CHECK "):
				res.check = line
			case strings.HasPrefix(line, "FAIL "):
				res.fails = append(res.fails, line)
			case strings.HasPrefix(line, "POWERCUT RESULT:"):
				res.result = line
			default:
				if s, ok := powercut.ParseSaved(line); ok {
					res.saved = append(res.saved, s)
				}
			}
		case <-cut:
			if b.aim >= 0 && !res.aimed {
				res.aimed, armed = true, true
				cut = time.After(10 * time.Second) // if no commit begins, cut all the same
				continue
			}
			// The power cut.
			cmd.Process.Kill()
			res.killed = true
			fmt.Fprintf(logf, "=== power cut (SIGKILL to QEMU) %.1fs after the first screen (aimed at a commit: %v)\n", b.cutAfter.Seconds(), b.aim >= 0 && !armed)
			cut = nil
		case <-timeout.C:
			cmd.Process.Kill()
			cmd.Wait()
			return res, fmt.Errorf("boot %d: no progress within %v; its console: %s", b.n, c.timeout, b.log)
		}
	}
	err = cmd.Wait()
	if !res.killed && err != nil {
		return res, fmt.Errorf("boot %d: QEMU: %v; its console: %s", b.n, err, b.log)
	}
	return res, nil
}
