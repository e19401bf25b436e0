package firmware

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/siteclock/siteclock/durable"
	"github.com/siteclock/siteclock/protocol"
)

// A Store is the kiosk's firmware folder (state_dir/firmware): the
// versions installed over the air and which of them runs.
//
//	versions/1.4.0/siteclockd   an installed version (verified before it got here)
//	current -> versions/1.4.0   the version to run; absent: the packaged binary
//	state.json                  highest version ever installed, the version on
//	                            probation, versions that failed, the last outcome
//	download/SHA256.part        a download in progress, kept across a cut
//
// Every change is made so that a kill or a power cut at any moment leaves
// one version that runs: files are fsync'd before they are renamed into
// place and their folder after; state.json is replaced by rename; the
// current link is replaced by renaming a new link over it. Open repairs
// what a cut left half done.
type Store struct {
	dir string
}

// State is what state.json holds.
type State struct {
	// Highest is the highest version ever installed (run, even on
	// probation). No version at or below it is installed again: no
	// downgrades, and a version that failed is not retried.
	Highest string `json:"highest,omitempty"`
	// Trial is the version on probation: switched to, not yet proven.
	Trial *Trial `json:"trial,omitempty"`
	// Failed lists versions that failed their health check.
	Failed []string `json:"failed,omitempty"`
	// FailedStarts counts the exits before ready, in a row, of a version
	// kept after its probation (Supervisor, MaxFailedStarts).
	FailedStarts int `json:"failed_starts,omitempty"`
	// Report is the outcome of the last update, told to the office at
	// every check-in.
	Report *protocol.UpdateReport `json:"report,omitempty"`
}

// Trial is a version on probation.
type Trial struct {
	Version string `json:"version"`
	// Previous is the version to go back to ("" for the packaged binary).
	Previous string `json:"previous"`
	// Attempts counts the starts of the trial version. A power cut during
	// probation is not the new version's fault, so it gets MaxAttempts.
	Attempts int       `json:"attempts"`
	Since    time.Time `json:"since"`
}

// OpenStore opens (making it if need be) the firmware folder dir and
// repairs what an interrupted install left: half-made version folders,
// a stray new link.
func OpenStore(dir string) (*Store, error) {
	s := &Store{dir: dir}
	for _, d := range []string{dir, s.path("versions"), s.path("download")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("firmware: make %s: %w", d, err)
		}
	}
	ents, err := os.ReadDir(s.path("versions"))
	if err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			if err := os.RemoveAll(s.path("versions", e.Name())); err != nil {
				return nil, fmt.Errorf("firmware: remove a half-installed version: %w", err)
			}
		}
	}
	os.Remove(s.path("current.new"))
	if _, err := durable.RemoveTemp(dir); err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	return s, nil
}

// Inspect reads a firmware folder without changing it (for `siteclockd
// status`): the current version and the state. A folder that does not
// exist is an empty one.
func Inspect(dir string) (current string, st State, err error) {
	s := &Store{dir: dir}
	if current, err = s.Current(); err != nil {
		return "", st, err
	}
	st, err = s.State()
	return current, st, err
}

// Dir is the firmware folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// Binary is the path of an installed version's program.
func (s *Store) Binary(version string) string {
	return s.path("versions", version, Product)
}

// Installed reports whether version is installed (complete and verified:
// a version folder appears only by rename once its binary is synced).
func (s *Store) Installed(version string) bool {
	fi, err := os.Stat(s.Binary(version))
	return err == nil && fi.Mode().IsRegular()
}

// Current is the version the current link names; "" when there is none
// (the packaged binary runs).
func (s *Store) Current() (string, error) {
	t, err := os.Readlink(s.path("current"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("firmware: read the current version: %w", err)
	}
	v := filepath.Base(t)
	if filepath.Dir(t) != "versions" || !ValidVersion(v) {
		return "", fmt.Errorf("firmware: the current link points at %q, not at an installed version: remove %s to run the packaged version", t, s.path("current"))
	}
	return v, nil
}

// State reads state.json; a missing file is the zero State.
func (s *Store) State() (State, error) {
	var st State
	b, err := os.ReadFile(s.path("state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("firmware: read state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("firmware: %s is damaged (%v): remove it; the kiosk then runs the current version and takes the next update offered", s.path("state.json"), err)
	}
	return st, nil
}

// Update changes state.json under a lock, so the supervisor and the
// daemon never lose each other's changes.
func (s *Store) Update(change func(*State) error) error {
	lock, err := os.OpenFile(s.path("lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("firmware: lock state: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("firmware: lock state: %w", err)
	}
	st, err := s.State()
	if err != nil {
		return err
	}
	if err := change(&st); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("firmware: encode state: %w", err)
	}
	if err := durable.ReplaceFile(s.path("state.json"), b); err != nil {
		return fmt.Errorf("firmware: write state: %w", err)
	}
	return nil
}

// Report records the outcome of an update for the office.
func (s *Store) Report(r protocol.UpdateReport) error {
	return s.Update(func(st *State) error {
		st.Report = &r
		return nil
	})
}

// Install moves a verified binary (a file in the download folder, or
// anywhere on the same filesystem) into versions/VERSION: into a
// temporary folder first, synced, then renamed into place, so that a
// version folder is complete or absent.
func (s *Store) Install(version, binary string) error {
	if !ValidVersion(version) {
		return fmt.Errorf("firmware: install: %q is not a version", version)
	}
	if s.Installed(version) {
		return os.Remove(binary)
	}
	tmp := s.path("versions", version+".tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	dst := filepath.Join(tmp, Product)
	if err := os.Rename(binary, dst); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	crash("install-moved")
	if err := os.Chmod(dst, 0o755); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	if err := durable.SyncDir(dst); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	if err := durable.SyncDir(tmp); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	if err := os.Rename(tmp, s.path("versions", version)); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	crash("install-renamed")
	if err := durable.SyncDir(s.path("versions")); err != nil {
		return fmt.Errorf("firmware: install %s: %w", version, err)
	}
	return durable.SyncDir(filepath.Dir(binary))
}

// Switch makes an installed version the one to run, on probation: the
// supervisor starts it next and keeps it only if it proves healthy.
// running is the version running now ("" for the packaged binary): it
// is where a failed trial goes back to.
func (s *Store) Switch(version, running string, now time.Time) error {
	if !s.Installed(version) {
		return fmt.Errorf("firmware: switch to %s: it is not installed", version)
	}
	err := s.Update(func(st *State) error {
		if Compare(version, st.Highest) <= 0 {
			return fmt.Errorf("firmware: switch to %s: not newer than %s, the highest version installed before", version, st.Highest)
		}
		st.Highest = version
		st.Trial = &Trial{Version: version, Previous: running, Since: now}
		st.Report = &protocol.UpdateReport{Version: version, State: protocol.UpdateInstalling, At: now,
			Detail: "switched from " + versionName(running) + "; on probation"}
		return nil
	})
	if err != nil {
		return err
	}
	crash("switch-state")
	return s.link(version)
}

// link points current at version ("" removes it) by renaming a new link
// over the old one, then syncs the folder.
func (s *Store) link(version string) error {
	cur := s.path("current")
	if version == "" {
		if err := os.Remove(cur); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("firmware: remove the current link: %w", err)
		}
		return durable.SyncDir(s.dir)
	}
	tmp := s.path("current.new")
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join("versions", version), tmp); err != nil {
		return fmt.Errorf("firmware: link %s: %w", version, err)
	}
	crash("link-made")
	if err := os.Rename(tmp, cur); err != nil {
		return fmt.Errorf("firmware: link %s: %w", version, err)
	}
	crash("link-renamed")
	return durable.SyncDir(s.dir)
}

// Commit keeps the version on probation: it proved healthy. Versions
// other than it and the one before are removed.
func (s *Store) Commit(now time.Time) error {
	var keep [2]string
	err := s.Update(func(st *State) error {
		if st.Trial == nil {
			return errors.New("firmware: commit: no version is on probation")
		}
		keep = [2]string{st.Trial.Version, st.Trial.Previous}
		st.Report = &protocol.UpdateReport{Version: st.Trial.Version, State: protocol.UpdateInstalled, At: now,
			Detail: "came up healthy; " + versionName(st.Trial.Previous) + " kept to go back to"}
		st.Trial = nil
		return nil
	})
	if err != nil {
		return err
	}
	s.prune(keep)
	return nil
}

// Rollback goes back from the version on probation to the one before it
// and records why; the failed version is never tried again.
func (s *Store) Rollback(reason string, now time.Time) error {
	var back string
	err := s.Update(func(st *State) error {
		if st.Trial == nil {
			return errors.New("firmware: roll back: no version is on probation")
		}
		back = st.Trial.Previous
		if !slices.Contains(st.Failed, st.Trial.Version) {
			st.Failed = append(st.Failed, st.Trial.Version)
		}
		st.Report = &protocol.UpdateReport{Version: st.Trial.Version, State: protocol.UpdateRolledBack, At: now,
			Detail: reason + "; back to " + versionName(back)}
		return nil
	})
	if err != nil {
		return err
	}
	crash("rollback-state")
	if err := s.link(back); err != nil {
		return err
	}
	// Only once the link is back is the trial over: a cut before this
	// line rolls back again at the next start.
	return s.dropTrial()
}

// Repair makes the link agree with state.json after a cut: a trial whose
// switch was cut before the link moved gets its link; a trial whose
// version vanished is dropped.
func (s *Store) Repair() error {
	st, err := s.State()
	if err != nil {
		return err
	}
	if st.Trial == nil {
		return nil
	}
	cur, err := s.Current()
	if err != nil {
		return err
	}
	if cur == st.Trial.Version {
		return nil
	}
	if s.Installed(st.Trial.Version) {
		return s.link(st.Trial.Version)
	}
	return s.dropTrial()
}

// dropTrial ends the probation in state.json, whatever its outcome.
func (s *Store) dropTrial() error {
	return s.Update(func(st *State) error {
		st.Trial = nil
		return nil
	})
}

// prune removes installed versions other than keep.
func (s *Store) prune(keep [2]string) {
	ents, _ := os.ReadDir(s.path("versions"))
	for _, e := range ents {
		if e.Name() != keep[0] && e.Name() != keep[1] {
			os.RemoveAll(s.path("versions", e.Name()))
		}
	}
}

func versionName(v string) string {
	if v == "" {
		return "the packaged version"
	}
	return v
}
