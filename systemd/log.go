package systemd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/journal"
)

// NewLogHandler is the handler the daemons log through. When w is the
// process's standard error and systemd connected it to the journal
// (JOURNAL_STREAM names it), records go to the journal over its native
// protocol instead, each attribute a field of its own (PUNCH_ID=…,
// DEVICE_ID=…), so that `journalctl -u siteclockd PUNCH_ID=…` finds them
// and the priority is the record's level. Anywhere else, and in a terminal
// on a machine that runs systemd, records are text lines on w.
//
// Either way, attributes whose name says they hold a secret (pin, token,
// password, secret, setup_code, …) are replaced by "[redacted]" and byte
// slices (a photo) by their length: the daemons never log them, and this
// keeps a slip from reaching a journal that may be shipped off the device.
func NewLogHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	if f, ok := w.(*os.File); ok && f == os.Stderr && stderrIsJournal() {
		return newJournalHandler(journalSend, filepath.Base(os.Args[0]), opts)
	}
	text := *opts
	text.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 || (a.Key != slog.TimeKey && a.Key != slog.LevelKey && a.Key != slog.MessageKey && a.Key != slog.SourceKey) {
			a = redact(a)
		}
		if opts.ReplaceAttr != nil {
			a = opts.ReplaceAttr(groups, a)
		}
		return a
	}
	return slog.NewTextHandler(w, &text)
}

// The journal as the process sees it; tests replace these.
var (
	// stderrIsJournal reports whether systemd connected standard error to
	// the journal, and the journal's socket takes entries.
	stderrIsJournal = func() bool {
		on, err := journal.StderrIsJournalStream()
		return err == nil && on && journal.Enabled()
	}
	journalSend sendFunc = journal.Send
)

// secretKeys are attribute names whose values must never be logged.
var secretKeys = []string{"pin", "pins", "pin_hash", "pin_salt", "password", "passwd", "token", "secret",
	"setup_code", "authorization", "cookie", "session", "key", "private_key", "device_key"}

// redact hides secrets and bytes (photos) in a; groups are walked.
func redact(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch {
	case slices.Contains(secretKeys, strings.ToLower(a.Key)):
		return slog.String(a.Key, "[redacted]")
	case v.Kind() == slog.KindGroup:
		as := v.Group()
		out := make([]slog.Attr, len(as))
		for i, g := range as {
			out[i] = redact(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case v.Kind() == slog.KindAny:
		if b, ok := v.Any().([]byte); ok {
			return slog.String(a.Key, fmt.Sprintf("[%d bytes]", len(b)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// sendFunc sends one journal entry (journal.Send; a fake in tests).
type sendFunc func(message string, priority journal.Priority, fields map[string]string) error

// journalHandler writes records to the journal's native protocol.
type journalHandler struct {
	send       sendFunc
	identifier string
	opts       slog.HandlerOptions
	attrs      []slog.Attr // from WithAttrs, already prefixed by their groups
	groups     []string    // from WithGroup
	mu         *sync.Mutex // the fallback to stderr
}

func newJournalHandler(send sendFunc, identifier string, opts *slog.HandlerOptions) *journalHandler {
	return &journalHandler{send: send, identifier: identifier, opts: *opts, mu: new(sync.Mutex)}
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	c := *h
	c.attrs = slices.Clip(h.attrs)
	for _, a := range as {
		c.attrs = append(c.attrs, h.prefixed(a)...)
	}
	return &c
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(slices.Clip(h.groups), name)
	return &c
}

// prefixed flattens a (a group becomes its members) and names each
// attribute with the groups it is in: "uplink.device_id".
func (h *journalHandler) prefixed(a slog.Attr) []slog.Attr {
	var out []slog.Attr
	var walk func(groups []string, a slog.Attr)
	walk = func(groups []string, a slog.Attr) {
		a.Value = a.Value.Resolve()
		if a.Value.Kind() == slog.KindGroup {
			if a.Key != "" {
				groups = append(slices.Clip(groups), a.Key)
			}
			for _, g := range a.Value.Group() {
				walk(groups, g)
			}
			return
		}
		if h.opts.ReplaceAttr != nil {
			a = h.opts.ReplaceAttr(groups, a)
		}
		if a.Key == "" {
			return // dropped by ReplaceAttr
		}
		a = redact(a)
		a.Key = strings.Join(append(slices.Clip(groups), a.Key), ".")
		out = append(out, a)
	}
	walk(h.groups, a)
	return out
}

func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := slices.Clip(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, h.prefixed(a)...)
		return true
	})
	fields := map[string]string{}
	if h.identifier != "" {
		fields["SYSLOG_IDENTIFIER"] = h.identifier
	}
	if h.opts.AddSource && r.PC != 0 {
		fs := runtime.CallersFrames([]uintptr{r.PC})
		f, _ := fs.Next()
		fields["CODE_FILE"], fields["CODE_LINE"], fields["CODE_FUNC"] = f.File, strconv.Itoa(f.Line), f.Function
	}
	// The message carries the attributes too, as text: journalctl shows
	// only MESSAGE unless asked for the fields.
	var msg strings.Builder
	msg.WriteString(r.Message)
	for _, a := range attrs {
		val := valueString(a.Value)
		msg.WriteString(" " + a.Key + "=" + quote(val))
		name := fieldName(a.Key)
		if _, taken := fields[name]; taken || reserved[name] {
			name = "ATTR_" + name
		}
		fields[name] = val
	}
	err := h.send(msg.String(), priority(r.Level), fields)
	if err != nil {
		// The journal went away (it restarts on upgrades): keep the line.
		h.mu.Lock()
		fmt.Fprintf(os.Stderr, "<%d>%s\n", priority(r.Level), msg.String())
		h.mu.Unlock()
	}
	return nil
}

// reserved are the journal fields this handler sets itself, and the
// trusted ones an attribute must not pretend to be.
var reserved = map[string]bool{"MESSAGE": true, "PRIORITY": true, "SYSLOG_IDENTIFIER": true,
	"CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true, "MESSAGE_ID": true}

// fieldName turns an attribute name into a journal field name: upper-case
// letters, digits and underscores, not starting with an underscore or a
// digit, at most 64 characters.
func fieldName(key string) string {
	b := make([]byte, 0, len(key))
	for _, c := range []byte(strings.ToUpper(key)) {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 || b[0] == '_' || (b[0] >= '0' && b[0] <= '9') {
		b = append([]byte("F_"), b...)
	}
	return string(b[:min(len(b), 64)])
}

func valueString(v slog.Value) string {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
	}
	return v.String()
}

// quote quotes s for the message text when it would not read as one word.
func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}

// priority is the syslog priority of a slog level.
func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
