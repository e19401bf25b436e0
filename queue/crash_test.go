package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// The crash test runs this test binary again as a committer child, which
// TestMain recognises by these variables. (A TestMain switch rather than a
// TestHelperCommitter test, so that no test passes or skips without
// checking anything in a normal run.)
const (
	crashDirEnv   = "SITECLOCK_QUEUE_CRASH_DIR"
	crashRoundEnv = "SITECLOCK_QUEUE_CRASH_ROUND"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(crashRoundEnv)))
	}
	os.Exit(m.Run())
}

// crashChild commits punches in dir until it is killed: three single
// punches with a 20 KB photo, then a crew of three, over and over. After
// each Commit returns it writes the IDs to stdout, one line each, in one
// write, so that whatever the parent reads was committed.
func crashChild(dir, round string) int {
	db, err := Open(dir, Options{Key: chainKey})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second) // the parent kills us long before
	for i := 0; time.Now().Before(deadline); i++ {
		var (
			ps    []punch.Punch
			photo []byte
		)
		if i%4 == 3 {
			for k := range 3 {
				ps = append(ps, crashPunch(fmt.Sprintf("r%s-c%05d-%d", round, i, k)))
			}
		} else {
			id := fmt.Sprintf("r%s-s%05d", round, i)
			ps = []punch.Punch{crashPunch(id)}
			photo = crashPhoto(id)
		}
		if _, err := db.Commit(ctx, ps, photo); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		var lines strings.Builder
		for _, p := range ps {
			lines.WriteString(p.ID + "\n")
		}
		if _, err := os.Stdout.WriteString(lines.String()); err != nil {
			return 4 // the parent is gone
		}
	}
	db.Close()
	return 0
}

// crashPunch is the punch the child commits under id; the parent derives
// the same to check what it finds.
func crashPunch(id string) punch.Punch {
	h := sha256.Sum256([]byte(id))
	emp := int(h[0] % 50)
	p := punch.Punch{
		ID:             id,
		EmployeeID:     "emp-" + strconv.Itoa(emp),
		EmployeeNumber: strconv.Itoa(1000 + emp),
		EmployeeName:   "Worker " + hex.EncodeToString(h[1:4]),
		Direction:      []punch.Direction{punch.In, punch.Out}[h[4]&1],
		At:             time.Unix(1_790_000_000+int64(binary.BigEndian.Uint32(h[5:9])%1_000_000), int64(binary.BigEndian.Uint32(h[9:13])%1_000_000_000)).In(cst),
		BootTime:       time.Duration(binary.BigEndian.Uint64(h[13:21]) >> 16),
		BootID:         hex.EncodeToString(h[21:29]),
	}
	if strings.Contains(id, "-c") {
		p.ClockedBy, p.NoPhoto = "foreman", punch.ClockFor
	} else {
		p.Photo = id + ".jpg"
	}
	return p
}

// crashPhoto is 20 KB derived from id.
func crashPhoto(id string) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 20<<10; i++ {
		h := sha256.Sum256([]byte(id + "/" + strconv.Itoa(i)))
		b.Write(h[:])
	}
	return b.Bytes()[:20<<10]
}

// runCrashRound starts a committer child in dir, kills it with SIGKILL
// 50–400 ms after it reports its first punch, and returns the IDs it
// reported.
func runCrashRound(t *testing.T, dir string, round int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+fmt.Sprintf("%02d", round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A line without its newline was not fully written; it
				// cannot happen with single small writes to a pipe, and
				// is not counted if it does.
				if err != io.EOF {
					t.Errorf("read child output: %v", err)
				}
				return
			}
			lines <- strings.TrimSuffix(line, "\n")
		}
	}()

	var ids []string
	select {
	case line, ok := <-lines:
		if !ok {
			cmd.Wait()
			t.Fatalf("round %d: committer reported nothing and exited: %s", round, stderr.String())
		}
		ids = append(ids, line)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("round %d: committer reported nothing in 30s: %s", round, stderr.String())
	}
	kill := time.After(time.Duration(50+rand.IntN(351)) * time.Millisecond)
	killed := false
	for !killed {
		select {
		case line, ok := <-lines:
			if !ok {
				killed = true // exited on its own; Wait below says how
				break
			}
			ids = append(ids, line)
		case <-kill:
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	for line := range lines { // what it wrote before dying
		ids = append(ids, line)
	}
	err = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: committer ended with %v, not by SIGKILL: %s", round, err, stderr.String())
	}
	return ids
}

func TestCrashSIGKILL(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	dir := t.TempDir()
	var reported []string
	for r := range rounds {
		reported = append(reported, runCrashRound(t, dir, r)...)
	}

	db := openTest(t, dir, Options{}) // runs quick_check: refuses a damaged file
	var integrity string
	if err := db.sql.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	all, err := db.Unsent(0)
	if err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]punch.Punch, len(all))
	var lastSeq int64
	for _, p := range all {
		if _, dup := stored[p.ID]; dup {
			t.Errorf("punch %s stored twice", p.ID)
		}
		stored[p.ID] = p
		if p.Seq <= lastSeq {
			t.Errorf("seq %d of %s not above %d", p.Seq, p.ID, lastSeq)
		}
		lastSeq = p.Seq
	}

	// The signed chain runs unbroken through every kill and restart:
	// each punch names the hash of the one before, with no gap.
	checkChain(t, all, chainPub())

	// Every reported punch is there, whole, with its photo, and reported
	// punches got increasing seqs across all the kills and restarts.
	seen := make(map[string]bool, len(reported))
	lastSeq = 0
	for _, id := range reported {
		if seen[id] {
			t.Errorf("punch %s reported twice", id)
		}
		seen[id] = true
		got, ok := stored[id]
		if !ok {
			t.Errorf("reported punch %s lost", id)
			continue
		}
		if got.Seq <= lastSeq {
			t.Errorf("seq %d of %s not above the previous report's %d", got.Seq, id, lastSeq)
		}
		lastSeq = got.Seq
		want := crashPunch(id)
		want.Seq = got.Seq
		samePunch(t, got, want)
	}

	// Every stored punch: its photo is whole (it was on disk before the
	// row), its crew is complete, and if it was not reported it is from
	// the one commit that was in flight when its round was killed.
	crews := make(map[string]int)
	unreported := make(map[string]map[string]bool) // round → commit numbers
	for id, p := range stored {
		samePunch(t, p, withSeq(crashPunch(id), p.Seq))
		round, commit, _ := strings.Cut(strings.TrimPrefix(id, "r"), "-")
		commit, _, _ = strings.Cut(commit, "-") // "c00007-1" → "c00007"
		if strings.HasPrefix(commit, "c") {
			crews[round+"-"+commit]++
		} else {
			b, err := db.ReadPhoto(p.Photo)
			if err != nil || !bytes.Equal(b, crashPhoto(id)) {
				t.Errorf("photo of %s damaged or lost (err %v)", id, err)
			}
		}
		if !seen[id] {
			if unreported[round] == nil {
				unreported[round] = make(map[string]bool)
			}
			unreported[round][commit] = true
		}
	}
	for crew, n := range crews {
		if n != 3 {
			t.Errorf("crew %s has %d of its 3 punches", crew, n)
		}
	}
	for round, commits := range unreported {
		if len(commits) > 1 {
			t.Errorf("round %s: %d commits stored but not reported, want at most the one in flight", round, len(commits))
		}
	}
	for _, name := range photoFiles(t, db) {
		if strings.HasPrefix(name, tmpPrefix) {
			t.Errorf("half-written photo %s left after Open", name)
		}
	}
	t.Logf("%d rounds: %d punches reported, %d stored", rounds, len(reported), len(stored))
}

func withSeq(p punch.Punch, seq int64) punch.Punch {
	p.Seq = seq
	return p
}
