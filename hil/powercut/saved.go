// Package powercut checks a kiosk's state folder after the power was cut
// under it. The power-cut suite (make test-powercut, hil/run.sh powercut)
// boots Debian's kernel in QEMU with the state folder on a virtual ext4
// disk, lets siteclockd commit punches until the host kills QEMU, and boots
// again on the same disk: the agent (hil/agent) checks the folder with Check
// before the daemon touches it, against every punch whose "saved" screen
// the agent reported on the serial console before a cut.
//
// The cutter (hil/powercut/cutter) is the host's side: it makes the disk,
// boots, kills, collects the reports and passes them to the next boot.
package powercut

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/siteclock/siteclock/punch"
)

// Saved is a punch whose "saved" screen appeared, as the agent reports it
// on the console: the sequence number and ID come from the daemon's log
// line for the commit ("punch committed"), the name, direction and photo
// from the screen.
type Saved struct {
	Boot  int // the boot of the suite (1, 2, …) that showed it
	Seq   int64
	ID    string
	Dir   punch.Direction
	Photo bool // the screen said "Photo saved"
	Crew  int  // the size of the Clock For crew it was saved with; 0 for a punch of one's own
	Name  string
}

// String is the console line for s, which ParseSaved reads back.
func (s Saved) String() string {
	photo := 0
	if s.Photo {
		photo = 1
	}
	return fmt.Sprintf("SAVED boot=%d seq=%d id=%s dir=%s photo=%d crew=%d name=%q", s.Boot, s.Seq, s.ID, s.Dir, photo, s.Crew, s.Name)
}

// savedRE is a whole SAVED line. The console may cut the last line short
// at the kill, or a kernel message may land in a line: such lines do not
// match and are not counted (a punch not counted is a punch not checked,
// never a false failure).
var savedRE = regexp.MustCompile(`^SAVED boot=(\d+) seq=(\d+) id=([0-9a-f-]{36}) dir=(in|out) photo=([01]) crew=(\d+) name=("(?:[^"\\]|\\.)*")$`)

// ParseSaved reads a line written by Saved.String.
func ParseSaved(line string) (Saved, bool) {
	m := savedRE.FindStringSubmatch(line)
	if m == nil {
		return Saved{}, false
	}
	boot, err1 := strconv.Atoi(m[1])
	seq, err2 := strconv.ParseInt(m[2], 10, 64)
	crew, err3 := strconv.Atoi(m[6])
	name, err4 := strconv.Unquote(m[7])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return Saved{}, false
	}
	return Saved{Boot: boot, Seq: seq, ID: m[3], Dir: punch.Direction(m[4]), Photo: m[5] == "1", Crew: crew, Name: name}, true
}

// ReadSaved reads the SAVED lines of r, skipping any other line.
func ReadSaved(r io.Reader) ([]Saved, error) {
	var out []Saved
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s, ok := ParseSaved(sc.Text()); ok {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}
