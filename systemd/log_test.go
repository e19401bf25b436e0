package systemd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// entry is one journal entry the fake journal received.
type entry struct {
	msg    string
	prio   journal.Priority
	fields map[string]string
}

// fakeJournal stands in for journald's native socket.
type fakeJournal struct {
	mu      sync.Mutex
	entries []entry
	err     error
}

func (j *fakeJournal) send(msg string, prio journal.Priority, fields map[string]string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, entry{msg, prio, maps.Clone(fields)})
	return j.err
}

// onJournal makes the process look as if systemd connected its standard
// error to the journal, which is j.
func onJournal(t *testing.T, j *fakeJournal) {
	isJ, send := stderrIsJournal, journalSend
	t.Cleanup(func() { stderrIsJournal, journalSend = isJ, send })
	stderrIsJournal = func() bool { return true }
	journalSend = j.send
}

// TestJournalFields: under systemd each attribute reaches the journal as a
// field of its own, the level as the priority, and the message text keeps
// the attributes for a plain `journalctl -u`.
func TestJournalFields(t *testing.T) {
	j := &fakeJournal{}
	onJournal(t, j)
	h := NewLogHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	if _, ok := h.(*journalHandler); !ok {
		t.Fatalf("under the journal NewLogHandler gave %T", h)
	}
	log := slog.New(h).With("device_id", "d-17")
	log.Error("punch not saved", "punch_id", "p-1", "punches", 3, "err", errors.New("disk full"))
	log.WithGroup("uplink").Warn("sync failed", slog.Group("http", "status", 503))
	log.Debug("tick", "message", "spoofed", "priority", 0)

	if len(j.entries) != 3 {
		t.Fatalf("%d entries, want 3", len(j.entries))
	}
	e := j.entries[0]
	if e.msg != `punch not saved device_id=d-17 punch_id=p-1 punches=3 err="disk full"` || e.prio != journal.PriErr {
		t.Errorf("entry 1: %q priority %d", e.msg, e.prio)
	}
	want := map[string]string{"SYSLOG_IDENTIFIER": e.fields["SYSLOG_IDENTIFIER"], "DEVICE_ID": "d-17", "PUNCH_ID": "p-1", "PUNCHES": "3", "ERR": "disk full"}
	if !maps.Equal(e.fields, want) || e.fields["SYSLOG_IDENTIFIER"] == "" {
		t.Errorf("entry 1 fields %v, want %v", e.fields, want)
	}
	e = j.entries[1]
	if e.prio != journal.PriWarning || e.fields["UPLINK_HTTP_STATUS"] != "503" || e.fields["DEVICE_ID"] != "d-17" {
		t.Errorf("entry 2: priority %d fields %v; want warning, UPLINK_HTTP_STATUS=503 and DEVICE_ID from before the group", e.prio, e.fields)
	}
	// Attributes named like the fields the journal gives meaning to must
	// not replace them.
	e = j.entries[2]
	if e.prio != journal.PriDebug || e.msg != `tick device_id=d-17 message=spoofed priority=0` {
		t.Errorf("entry 3: %q priority %d", e.msg, e.prio)
	}
	if e.fields["ATTR_MESSAGE"] != "spoofed" || e.fields["ATTR_PRIORITY"] != "0" || e.fields["MESSAGE"] != "" || e.fields["PRIORITY"] != "" {
		t.Errorf("entry 3 fields %v; want ATTR_MESSAGE and ATTR_PRIORITY, not MESSAGE or PRIORITY", e.fields)
	}
}

func TestJournalLevel(t *testing.T) {
	j := &fakeJournal{}
	onJournal(t, j)
	log := slog.New(NewLogHandler(os.Stderr, nil))
	log.Debug("hidden")
	log.Info("shown")
	if len(j.entries) != 1 || j.entries[0].msg != "shown" || j.entries[0].prio != journal.PriInfo {
		t.Errorf("entries %+v, want only the info one", j.entries)
	}
}

func TestFieldNames(t *testing.T) {
	for key, want := range map[string]string{
		"punch_id": "PUNCH_ID", "uplink.device-id": "UPLINK_DEVICE_ID", "_hidden": "F__HIDDEN",
		"2fa": "F_2FA", "": "F_", "ünïcode": "F___N__CODE",
		strings.Repeat("a", 80): strings.Repeat("A", 64),
	} {
		if got := fieldName(key); got != want {
			t.Errorf("fieldName(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestSecretsNeverLogged: a PIN, a token or a photo handed to the logger
// by mistake does not reach the journal or the text log.
func TestSecretsNeverLogged(t *testing.T) {
	photo := bytes.Repeat([]byte{0xff, 0xd8}, 100)
	logAll := func(log *slog.Logger) {
		log.Info("oops", "pin", "4821", "token", "tok-secret", "photo", photo,
			slog.Group("req", "Authorization", "Bearer tok-secret"), "setup_code", "12345678")
	}

	var text bytes.Buffer
	logAll(slog.New(NewLogHandler(&text, nil)))
	j := &fakeJournal{}
	onJournal(t, j)
	logAll(slog.New(NewLogHandler(os.Stderr, nil)))
	if len(j.entries) != 1 {
		t.Fatalf("%d journal entries, want 1", len(j.entries))
	}
	journalText := j.entries[0].msg
	for _, v := range j.entries[0].fields {
		journalText += "\n" + v
	}
	for name, out := range map[string]string{"text": text.String(), "journal": journalText} {
		for _, secret := range []string{"4821", "tok-secret", "12345678", string(photo[:8])} {
			if strings.Contains(out, secret) {
				t.Errorf("%s log holds %q:\n%s", name, secret, out)
			}
		}
		if !strings.Contains(out, "[200 bytes]") || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s log does not say what was left out:\n%s", name, out)
		}
	}
}

// TestTextOutsideJournal: in a terminal, under a test, or with standard
// error redirected to a file, the log is text lines.
func TestTextOutsideJournal(t *testing.T) {
	j := &fakeJournal{}
	onJournal(t, j)
	var buf bytes.Buffer
	slog.New(NewLogHandler(&buf, nil)).Info("siteclockd starting", "version", "v1")
	if !strings.Contains(buf.String(), `msg="siteclockd starting" version=v1`) || len(j.entries) != 0 {
		t.Errorf("text %q, journal %v; want a text line and nothing in the journal", buf.String(), j.entries)
	}
	stderrIsJournal = func() bool { return false }
	if h := NewLogHandler(os.Stderr, nil); h == nil {
		t.Fatal("no handler")
	} else if _, ok := h.(*journalHandler); ok {
		t.Error("standard error not on the journal, yet the handler writes to the journal")
	}
}

// TestJournalGoneKeepsTheLine: when the journal's socket refuses an entry
// (journald restarting), the line goes to standard error, which systemd
// still collects.
func TestJournalGoneKeepsTheLine(t *testing.T) {
	j := &fakeJournal{err: errors.New("connection refused")}
	h := newJournalHandler(j.send, "siteclockd", &slog.HandlerOptions{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	err = h.Handle(context.Background(), slog.NewRecord(time.Time{}, slog.LevelWarn, "camera unplugged", 0))
	os.Stderr = old
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(r)
	if got.String() != "<4>camera unplugged\n" {
		t.Errorf("stderr %q, want the line with its priority prefix", got.String())
	}
}
