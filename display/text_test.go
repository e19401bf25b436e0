package display

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/kiosk"
)

func TestTextFull(t *testing.T) {
	s := kiosk.Screen{
		Name:   kiosk.ScreenSaved,
		Title:  "Good morning, Ana",
		Big:    "Clocked IN 7:02 AM",
		Icon:   kiosk.IconSaved,
		Lines:  []string{"Main St site", "", "Have a safe day"},
		Photo:  []byte{0xff, 0xd8, 0xff, 0xd9},
		Hints:  []string{"# OK", "* Back"},
		Status: "online · synced 7:01",
	}
	want := `--- saved ---
Good morning, Ana
Clocked IN 7:02 AM
[saved]
Main St site

Have a safe day
[photo: 4 bytes]
# OK   * Back
online · synced 7:01
`
	if got := Text(s); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
}

func TestTextEmptyFields(t *testing.T) {
	tests := []struct {
		name   string
		screen kiosk.Screen
		want   string
	}{
		{"only name", kiosk.Screen{Name: kiosk.ScreenIdle}, "--- idle ---\n"},
		{"no name", kiosk.Screen{}, "---  ---\n"},
		{"title only", kiosk.Screen{Name: "idle", Title: "Gate 3"}, "--- idle ---\nGate 3\n"},
		{"big only", kiosk.Screen{Name: "pin", Big: "••••"}, "--- pin ---\n••••\n"},
		{"status only", kiosk.Screen{Name: "idle", Status: "offline"}, "--- idle ---\noffline\n"},
		{"hints only", kiosk.Screen{Name: "pin", Hints: []string{"# OK"}}, "--- pin ---\n# OK\n"},
		{"empty hints", kiosk.Screen{Name: "pin", Hints: []string{}}, "--- pin ---\n"},
		{"empty photo is still a photo", kiosk.Screen{Name: "preview", Photo: []byte{}}, "--- preview ---\n[photo: 0 bytes]\n"},
		{"icon without big", kiosk.Screen{Name: "saved", Title: "T", Icon: kiosk.IconSaved, Status: "S"}, "--- saved ---\nT\n[saved]\nS\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.screen); got != tt.want {
				t.Errorf("Text = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTextIcons(t *testing.T) {
	icons := map[kiosk.Icon]string{
		kiosk.IconNone:    "",
		kiosk.IconSaved:   "[saved]\n",
		kiosk.IconError:   "[error]\n",
		kiosk.IconOffline: "[offline]\n",
		kiosk.IconLocked:  "[locked]\n",
		kiosk.IconCamera:  "[camera]\n",
		kiosk.IconWait:    "[wait]\n",
	}
	for icon, line := range icons {
		s := kiosk.Screen{Name: "message", Big: "BIG", Icon: icon, Lines: []string{"body"}}
		want := "--- message ---\nBIG\n" + line + "body\n"
		if got := Text(s); got != want {
			t.Errorf("Text with icon %q = %q, want %q", icon, got, want)
		}
	}
}

func TestTextHasNoEscapes(t *testing.T) {
	got := Text(kiosk.Screen{Name: "saved", Title: "t", Big: "7:02", Icon: kiosk.IconError, Photo: []byte{1}})
	if strings.ContainsRune(got, '\x1b') || strings.Contains(got, "\r") {
		t.Errorf("Text = %q; want plain text", got)
	}
}

func TestHeadlessDeduplicates(t *testing.T) {
	var out bytes.Buffer
	h := NewHeadless(&out)
	idle := kiosk.Screen{Name: "idle", Big: "7:02 AM", Lines: []string{"Main St"}, Hints: []string{"# OK"}}
	pin := kiosk.Screen{Name: "pin", Big: "•"}

	show := func(s kiosk.Screen) {
		t.Helper()
		if err := h.Show(s); err != nil {
			t.Fatal(err)
		}
	}
	show(idle)
	show(idle)
	// An equal screen built from fresh slices is still the same screen.
	show(kiosk.Screen{Name: "idle", Big: "7:02 AM", Lines: []string{"Main St"}, Hints: []string{"# OK"}})
	show(pin)
	show(pin)
	show(idle)
	tick := idle
	tick.Big = "7:03 AM"
	show(tick)
	show(tick)

	want := Text(idle) + "\n" + Text(pin) + "\n" + Text(idle) + "\n" + Text(tick) + "\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestHeadlessCopiesScreen(t *testing.T) {
	var out bytes.Buffer
	h := NewHeadless(&out)
	lines := []string{"one"}
	if err := h.Show(kiosk.Screen{Name: "message", Lines: lines}); err != nil {
		t.Fatal(err)
	}
	// The caller reuses its slice for the next screen: that is a change.
	lines[0] = "two"
	if err := h.Show(kiosk.Screen{Name: "message", Lines: lines}); err != nil {
		t.Fatal(err)
	}
	if want := "--- message ---\none\n\n--- message ---\ntwo\n\n"; out.String() != want {
		t.Errorf("output = %q, want %q", out.String(), want)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("broken pipe")
}

func TestHeadlessWriteError(t *testing.T) {
	w := &failWriter{}
	h := NewHeadless(w)
	s := kiosk.Screen{Name: "idle"}
	err := h.Show(s)
	if err == nil || !strings.HasPrefix(err.Error(), "display: headless:") || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("Show = %v, want a display: headless: error wrapping the write error", err)
	}
	// A screen that failed to show was not shown: the next Show tries again.
	if err := h.Show(s); err == nil || w.n != 2 {
		t.Errorf("second Show = %v after %d writes, want another attempt", err, w.n)
	}
}
