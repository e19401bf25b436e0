package sms

import (
	"strings"
	"testing"
)

func TestNormalizeUSAccepts(t *testing.T) {
	for _, in := range []string{
		"(555) 234-5678",
		"555-234-5678",
		"5552345678",
		"+1 555 234 5678",
		"1-555-234-5678",
		"555.234.5678",
		"+1 (555) 234-5678",
		"+15552345678",
		"15552345678",
		"  555 234 5678\n",       // pasted with whitespace around it
		"555\u00a0234\u00a05678", // no-break spaces from a web page
	} {
		got, err := NormalizeUS(in)
		if err != nil || got != "+15552345678" {
			t.Errorf("NormalizeUS(%q) = %q, %v; want +15552345678", in, got, err)
		}
	}
}

func TestNormalizeUSRefuses(t *testing.T) {
	tests := []struct {
		in   string
		what string // in the error, beside what to type
	}{
		{"", "no phone number given"},
		{"   ", "no phone number given"},
		{"+44 20 7946 0958", "country code is not +1"},
		{"+52 55 1234 5678", "country code is not +1"},
		{"+", "country code is not +1"},
		{"011 44 20 7946 0958", "011, the prefix for calling abroad"},
		{"234-5678", "it has 7 digits; a US number has 10"},
		{"555-234-567", "it has 9 digits"},
		{"555-234-56789", "it has 11 digits"},
		{"2-555-234-5678", "it has 11 digits"},
		{"+1 555 234 567", "it has 9 digits after +1"},
		{"+1 1 555 234 5678", "it has 11 digits after +1"},
		{"555-CALL-NOW", "letters"},
		{"555-234-5678 ext 12", "letters"},
		{"555/234/5678", `'/' does not belong`},
		{"555-234-5678#", `'#' does not belong`},
		{"1+555-234-5678", `'+' does not belong`},
		{"(055) 234-5678", "area code 055 starts with 0"},
		{"(155) 234-5678", "area code 155 starts with 1"},
		{"+1 155 234 5678", "area code 155 starts with 1"},
		{"555-034-5678", "exchange (the 3 digits after the area code) 034 starts with 0"},
		{"(555) 123-4567", "exchange (the 3 digits after the area code) 123 starts with 1"},
	}
	for _, tt := range tests {
		got, err := NormalizeUS(tt.in)
		if err == nil {
			t.Errorf("NormalizeUS(%q) = %q, want an error", tt.in, got)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.what) {
			t.Errorf("NormalizeUS(%q) error %q does not say %q", tt.in, msg, tt.what)
		}
		if !strings.Contains(msg, "like (555) 234-5678") || !strings.Contains(msg, "only US numbers are supported") {
			t.Errorf("NormalizeUS(%q) error %q does not say what to type and that only US numbers are supported", tt.in, msg)
		}
		if d := digitsOf(tt.in); len(d) >= 7 && strings.Contains(msg, d) {
			t.Errorf("NormalizeUS(%q) error %q repeats the number", tt.in, msg)
		}
	}
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
