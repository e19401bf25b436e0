package sms

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestSetupCodeMessage(t *testing.T) {
	until := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	got := SetupCodeMessage("COMPANY", "12345678", until)
	want := "siteclock setup code for COMPANY: 12345678 (valid until Mon Jan 2). Type it on the new kiosk's Enter setup code screen."
	if got != want {
		t.Errorf("SetupCodeMessage:\n got %q\nwant %q", got, want)
	}
	// The date is the one in until's zone: 02:00 UTC on the 3rd is still
	// the 2nd in Chicago.
	chi := time.FixedZone("CST", -6*3600)
	if got := SetupCodeMessage("Acme Framing", "87654321", time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC).In(chi)); !strings.Contains(got, "(valid until Mon Mar 2)") {
		t.Errorf("SetupCodeMessage in CST = %q, want valid until Mon Mar 2", got)
	}
}

func TestLogMasksNumber(t *testing.T) {
	var buf bytes.Buffer
	var s Sender = Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	body := SetupCodeMessage("Acme Framing", "12345678", time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC))
	if err := s.Send(context.Background(), "+15559876543", body); err != nil {
		t.Fatalf("Send: %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "to=+*******6543") {
		t.Errorf("log %q: want to=+*******6543", out)
	}
	if strings.Contains(out, "555987") || strings.Contains(out, "9876543") {
		t.Errorf("log %q shows more of the number than its last 4 digits", out)
	}
	// The demo's technician reads the code from the log.
	if !strings.Contains(out, "12345678") || !strings.Contains(out, "Acme Framing") {
		t.Errorf("log %q: want the whole message", out)
	}
}

func TestLogNilLogger(t *testing.T) {
	if err := (Log{}).Send(context.Background(), "+15552345678", "hello"); err != nil {
		t.Errorf("Send with nil Logger: %v", err)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"+15552345678":   "+*******5678",
		"(555) 234-5678": "(***) ***-5678",
		"5678":           "5678",
		"":               "",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
