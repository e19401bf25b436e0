package display

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/kiosk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testPhoto returns the JPEG in testdata/photo.jpg. It is a file rather than
// encoded on the fly so that a change in the JPEG encoder cannot change the
// golden files; -update regenerates it.
func testPhoto(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join("testdata", "photo.jpg")
	if *update {
		// A 64×48 gradient with a dark square in the middle.
		img := image.NewRGBA(image.Rect(0, 0, 64, 48))
		for y := range 48 {
			for x := range 64 {
				c := color.RGBA{uint8(x * 4), uint8(y * 5), 160, 255}
				if x >= 24 && x < 40 && y >= 16 && y < 32 {
					c = color.RGBA{20, 20, 20, 255}
				}
				img.Set(x, y, c)
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run go test ./display -update to create it", err)
	}
	return data
}

func TestTerminalGolden(t *testing.T) {
	photo := testPhoto(t)
	tests := []struct {
		name   string
		width  int
		screen kiosk.Screen
	}{
		{"idle", 0, kiosk.Screen{
			Name: kiosk.ScreenIdle, Title: "Main St · Gate 3", Big: "7:02 AM",
			Lines: []string{"Enter your PIN"}, Status: "online · synced 7:01 AM",
		}},
		{"pin", 0, kiosk.Screen{
			Name: kiosk.ScreenPIN, Title: "Main St · Gate 3", Big: "••••",
			Hints: []string{"# OK", "* Back"},
		}},
		{"preview", 0, kiosk.Screen{
			Name: kiosk.ScreenPreview, Title: "Good morning, Ana", Icon: kiosk.IconCamera,
			Photo: photo, Hints: []string{"# Keep", "* Retake"}, Status: "offline · 2 waiting",
		}},
		{"saved", 0, kiosk.Screen{
			Name: kiosk.ScreenSaved, Title: "Good morning, Ana", Big: "Clocked IN 7:02 AM",
			Icon: kiosk.IconSaved, Lines: []string{"Main St site", "Have a safe day"},
			Photo: photo, Status: "online",
		}},
		{"not-saved-narrow", 24, kiosk.Screen{
			Name: kiosk.ScreenNotSaved, Big: "Not saved", Icon: kiosk.IconError,
			Lines: []string{"The punch could not be written to storage; tell your supervisor"},
			Photo: []byte("not a jpeg"), Hints: []string{"# OK"},
		}},
		{"locked", 0, kiosk.Screen{
			Name: kiosk.ScreenLocked, Big: "4:59", Icon: kiosk.IconLocked,
			Lines: []string{"Too many wrong PINs"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := NewTerminal(&out, tt.width).Show(tt.screen); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if bare := regexp.MustCompile("[^\r]\n").FindStringIndex(got); bare != nil {
				t.Errorf("output has a bare newline at byte %d; a raw-mode terminal needs \\r\\n", bare[0])
			}
			// The golden files use plain newlines so they read well in an editor.
			got = strings.ReplaceAll(got, "\r\n", "\n")
			checkBoxWidth(t, got, max(tt.width, 0))
			golden := filepath.Join("testdata", "terminal-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v; run go test ./display -update to create it", err)
			}
			if got != string(want) {
				t.Errorf("screen differs from %s (cat both to compare; go test ./display -update accepts it):\ngot:\n%s", golden, got)
			}
		})
	}
}

// checkBoxWidth checks that every line of the box is the same width, so a
// long line or a wide symbol does not push the right border out.
func checkBoxWidth(t *testing.T, out string, width int) {
	t.Helper()
	if width == 0 {
		width = DefaultTerminalWidth
	}
	width = max(width, minTerminalWidth)
	lines := strings.Split(strings.TrimPrefix(out, ansiClear), "\n")
	inBox := false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "╭"):
			inBox = true
		case !inBox:
			continue
		}
		if w := visibleWidth(l); w != width {
			t.Errorf("line %d is %d columns, want %d: %q", i, w, width, l)
		}
		if strings.HasPrefix(l, "╰") {
			break
		}
	}
	if !inBox {
		t.Error("no box drawn")
	}
}

func TestTerminalRedrawsOnlyChanges(t *testing.T) {
	var out bytes.Buffer
	term := NewTerminal(&out, 0)
	idle := kiosk.Screen{Name: "idle", Big: "7:02 AM"}
	draws := func() int { return strings.Count(out.String(), ansiClear) }

	for range 3 {
		if err := term.Show(idle); err != nil {
			t.Fatal(err)
		}
	}
	if n := draws(); n != 1 {
		t.Fatalf("drew %d times for one screen shown three times, want 1", n)
	}
	idle.Big = "7:03 AM"
	if err := term.Show(idle); err != nil {
		t.Fatal(err)
	}
	if n := draws(); n != 2 {
		t.Fatalf("drew %d times after the time changed, want 2", n)
	}
	if second := strings.Split(out.String(), ansiClear)[2]; !strings.Contains(second, "█") {
		t.Errorf("second drawing has no block digits:\n%s", second)
	}
}

func TestTerminalLegend(t *testing.T) {
	var out bytes.Buffer
	if err := NewTerminal(&out, 200).Show(kiosk.Screen{Name: "idle"}); err != nil {
		t.Fatal(err)
	}
	want := "digits PIN · # Enter · * Clear/Back · i IN · o OUT · f Clock For · l Language · Ctrl-C quit"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output has no key legend %q:\n%s", want, out.String())
	}
}

func TestThumbnailRotation(t *testing.T) {
	// A landscape photo turned 90° is shown portrait: more rows than a
	// landscape thumbnail of the same width.
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	flat, turned := thumbnail(b.Bytes(), 0, 8), thumbnail(b.Bytes(), 90, 8)
	if len(flat) != 2 || len(turned) != 8 {
		t.Errorf("rows: %d unturned, %d turned 90°; want 2 and 8", len(flat), len(turned))
	}
}

func TestThumbnail(t *testing.T) {
	// Left half red, right half blue: the thumbnail's cells follow.
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			c := color.RGBA{255, 0, 0, 255}
			if x >= 20 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	rows := thumbnail(b.Bytes(), 0, 8)
	if len(rows) != 2 { // 8 cells wide at 2:1 is 4 pixels, 2 rows, tall
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	cell := regexp.MustCompile(`\x1b\[38;2;(\d+);(\d+);(\d+)m\x1b\[48;2;\d+;\d+;\d+m▀`)
	for _, r := range rows {
		cells := cell.FindAllStringSubmatch(r, -1)
		if len(cells) != 8 || visibleWidth(r) != 8 {
			t.Fatalf("row has %d cells, %d columns; want 8: %q", len(cells), visibleWidth(r), r)
		}
		rgb := func(c []string) (r, g, b int) {
			r, _ = strconv.Atoi(c[1])
			g, _ = strconv.Atoi(c[2])
			b, _ = strconv.Atoi(c[3])
			return r, g, b
		}
		if r, g, b := rgb(cells[0]); r < 200 || g > 50 || b > 50 {
			t.Errorf("left cell is %d,%d,%d, want red", r, g, b)
		}
		if r, g, b := rgb(cells[7]); r > 50 || g > 50 || b < 200 {
			t.Errorf("right cell is %d,%d,%d, want blue", r, g, b)
		}
	}
	// A portrait photo (a camera mounted on its side) keeps its shape.
	b.Reset()
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 480, 640)), nil); err != nil {
		t.Fatal(err)
	}
	if rows := thumbnail(b.Bytes(), 0, thumbWidth); len(rows) != thumbMaxRows || visibleWidth(rows[0]) != 18 {
		t.Errorf("portrait thumbnail is %d rows of %d columns, want %d of 18", len(rows), visibleWidth(rows[0]), thumbMaxRows)
	}
	if got := thumbnail([]byte("junk"), 0, 8); len(got) != 1 || got[0] != "[photo]" {
		t.Errorf("thumbnail of junk = %q, want [photo]", got)
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		text  string
		width int
		want  []string
	}{
		{"", 10, []string{""}},
		{"one two three", 7, []string{"one two", "three"}},
		{"one two three", 100, []string{"one two three"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"ab abcdefghij", 4, []string{"ab", "abcd", "efgh", "ij"}},
	}
	for _, tt := range tests {
		got := wrap(tt.text, tt.width)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.text, tt.width, got, tt.want)
		}
	}
}
