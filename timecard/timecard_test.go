package timecard

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/Chicago even where the system has no zoneinfo

	"github.com/siteclock/siteclock/punch"
)

func chicago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatalf("load America/Chicago: %v", err)
	}
	return loc
}

// punches turns lines like "2026-03-02 07:00 IN" into punches at that wall
// time in loc, with IDs p1, p2... in line order.
func punches(t *testing.T, loc *time.Location, lines ...string) []Punch {
	t.Helper()
	var ps []Punch
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("punch %q: want DATE TIME IN|OUT", l)
		}
		at, err := time.ParseInLocation("2006-01-02 15:04", f[0]+" "+f[1], loc)
		if err != nil {
			t.Fatalf("punch %q: %v", l, err)
		}
		d := map[string]punch.Direction{"IN": punch.In, "OUT": punch.Out}[f[2]]
		if d == "" {
			t.Fatalf("punch %q: direction %q is not IN or OUT", l, f[2])
		}
		ps = append(ps, Punch{ID: fmt.Sprintf("p%d", i+1), Direction: d, At: at})
	}
	return ps
}

// render writes weeks the way a manager reads the card:
//
//	week of Mon 2026-03-02  40.00
//	  Mon 03-02  8.00
//	    07:00-15:30  8.50
//	    22:00-Tue 06:00  8.00
//	    07:00-still IN
//	    07:00-?  0.00  ! missing OUT
func render(weeks []Week, loc *time.Location) string {
	var b strings.Builder
	for _, w := range weeks {
		fmt.Fprintf(&b, "week of %s  %s\n", w.Start.Format("Mon 2006-01-02"), FormatHours(w.Total))
		for _, d := range w.Days {
			fmt.Fprintf(&b, "  %s  %s\n", d.Date.Format("Mon 01-02"), FormatHours(d.Total))
			for _, p := range d.Pairs {
				in, out := "?", "?"
				if p.In != nil {
					in = p.In.At.In(loc).Format("15:04")
				}
				if p.Out != nil {
					out = p.Out.At.In(loc).Format("15:04")
					if !midnight(p.Out.At, loc).Equal(d.Date) {
						out = p.Out.At.In(loc).Format("Mon 15:04")
					}
				}
				if p.Open() {
					fmt.Fprintf(&b, "    %s-still IN\n", in)
					continue
				}
				fmt.Fprintf(&b, "    %s-%s  %s", in, out, FormatHours(p.Hours))
				if p.Problem != "" {
					fmt.Fprintf(&b, "  ! %s", p.Problem)
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func TestBuild(t *testing.T) {
	chi := chicago(t)
	// "Now" for every case is Thursday afternoon of the week of March 2,
	// unless the case says otherwise; a shift counts as open for 16 h.
	const openFor = 16 * time.Hour
	thursday := time.Date(2026, 3, 5, 14, 0, 0, 0, chi)

	tests := []struct {
		name      string
		weekStart time.Weekday
		now       time.Time // zero: thursday
		punches   []string
		want      string
	}{
		{
			name:      "normal week with lunch breaks",
			weekStart: time.Monday,
			now:       time.Date(2026, 3, 9, 9, 0, 0, 0, chi),
			punches: []string{
				"2026-03-02 07:00 IN", "2026-03-02 11:30 OUT", "2026-03-02 12:00 IN", "2026-03-02 15:30 OUT",
				"2026-03-03 07:00 IN", "2026-03-03 11:30 OUT", "2026-03-03 12:00 IN", "2026-03-03 15:30 OUT",
				"2026-03-04 07:00 IN", "2026-03-04 11:30 OUT", "2026-03-04 12:00 IN", "2026-03-04 15:30 OUT",
				"2026-03-05 07:00 IN", "2026-03-05 11:30 OUT", "2026-03-05 12:00 IN", "2026-03-05 15:30 OUT",
				"2026-03-06 06:45 IN", "2026-03-06 11:00 OUT",
			},
			want: `
week of Mon 2026-03-02  36.25
  Mon 03-02  8.00
    07:00-11:30  4.50
    12:00-15:30  3.50
  Tue 03-03  8.00
    07:00-11:30  4.50
    12:00-15:30  3.50
  Wed 03-04  8.00
    07:00-11:30  4.50
    12:00-15:30  3.50
  Thu 03-05  8.00
    07:00-11:30  4.50
    12:00-15:30  3.50
  Fri 03-06  4.25
    06:45-11:00  4.25
`,
		},
		{
			name:      "night shifts cross midnight and stay on the day they began",
			weekStart: time.Monday,
			punches: []string{
				"2026-03-01 22:00 IN", "2026-03-02 06:30 OUT", // Sunday night: last week's Sunday
				"2026-03-02 22:00 IN", "2026-03-03 06:30 OUT",
				"2026-03-03 21:45 IN", "2026-03-04 06:00 OUT",
			},
			want: `
week of Mon 2026-02-23  8.50
  Sun 03-01  8.50
    22:00-Mon 06:30  8.50
week of Mon 2026-03-02  16.75
  Mon 03-02  8.50
    22:00-Tue 06:30  8.50
  Tue 03-03  8.25
    21:45-Wed 06:00  8.25
`,
		},
		{
			name:      "forgotten OUT, then forgotten again on the last punch",
			weekStart: time.Monday,
			punches: []string{
				"2026-03-02 07:00 IN", // went home without punching out
				"2026-03-03 07:00 IN", "2026-03-03 15:00 OUT",
				"2026-03-04 07:00 IN", // Thursday 14:00 now: 31 h ago, not still IN
			},
			want: `
week of Mon 2026-03-02  8.00
  Mon 03-02  0.00
    07:00-?  0.00  ! missing OUT
  Tue 03-03  8.00
    07:00-15:00  8.00
  Wed 03-04  0.00
    07:00-?  0.00  ! missing OUT
`,
		},
		{
			name:      "double IN: pressed IN twice",
			weekStart: time.Monday,
			punches: []string{
				"2026-03-02 07:00 IN", "2026-03-02 07:02 IN", "2026-03-02 15:00 OUT",
			},
			want: `
week of Mon 2026-03-02  7.97
  Mon 03-02  7.97
    07:00-?  0.00  ! missing OUT
    07:02-15:00  7.97
`,
		},
		{
			name:      "OUT without IN: forgot to punch in, and pressed OUT twice",
			weekStart: time.Monday,
			punches: []string{
				"2026-03-02 15:00 OUT",
				"2026-03-03 07:00 IN", "2026-03-03 15:00 OUT", "2026-03-03 15:01 OUT",
			},
			want: `
week of Mon 2026-03-02  8.00
  Mon 03-02  0.00
    ?-15:00  0.00  ! OUT without IN
  Tue 03-03  8.00
    07:00-15:00  8.00
    ?-15:01  0.00  ! OUT without IN
`,
		},
		{
			name:      "open shift today is still IN and adds nothing yet",
			weekStart: time.Monday,
			punches: []string{
				"2026-03-04 07:00 IN", "2026-03-04 15:00 OUT",
				"2026-03-05 06:30 IN",
			},
			want: `
week of Mon 2026-03-02  8.00
  Wed 03-04  8.00
    07:00-15:00  8.00
  Thu 03-05  0.00
    06:30-still IN
`,
		},
		{
			name:      "open night shift that began yesterday evening",
			weekStart: time.Monday,
			now:       time.Date(2026, 3, 5, 3, 0, 0, 0, chi),
			punches:   []string{"2026-03-04 22:00 IN"},
			want: `
week of Mon 2026-03-02  0.00
  Wed 03-04  0.00
    22:00-still IN
`,
		},
		{
			name:      "IN a little after now (kiosk clock ahead) is still IN",
			weekStart: time.Monday,
			punches:   []string{"2026-03-05 14:02 IN"},
			want: `
week of Mon 2026-03-02  0.00
  Thu 03-05  0.00
    14:02-still IN
`,
		},
		{
			name:      "over 24 hours: forgot OUT and IN, then punched OUT two days later",
			weekStart: time.Monday,
			punches:   []string{"2026-03-02 07:00 IN", "2026-03-04 15:00 OUT"},
			want: `
week of Mon 2026-03-02  56.00
  Mon 03-02  56.00
    07:00-Wed 15:00  56.00  ! over 24 hours
`,
		},
		{
			name:      "exactly 24 hours is not over",
			weekStart: time.Monday,
			punches:   []string{"2026-03-02 07:00 IN", "2026-03-03 07:00 OUT"},
			want: `
week of Mon 2026-03-02  24.00
  Mon 03-02  24.00
    07:00-Tue 07:00  24.00
`,
		},
		{
			name:      "DST starts: the night shift over the change is an hour short",
			weekStart: time.Sunday,
			now:       time.Date(2026, 3, 10, 9, 0, 0, 0, chi),
			punches: []string{
				// Clocks jump from 02:00 to 03:00 on Sunday March 8.
				"2026-03-07 22:00 IN", "2026-03-08 06:00 OUT",
				"2026-03-08 22:00 IN", "2026-03-09 06:00 OUT",
			},
			want: `
week of Sun 2026-03-01  7.00
  Sat 03-07  7.00
    22:00-Sun 06:00  7.00
week of Sun 2026-03-08  8.00
  Sun 03-08  8.00
    22:00-Mon 06:00  8.00
`,
		},
		{
			name:      "DST ends: the night shift over the change is an hour long",
			weekStart: time.Sunday,
			now:       time.Date(2026, 11, 3, 9, 0, 0, 0, chi),
			punches: []string{
				// Clocks fall back from 02:00 to 01:00 on Sunday November 1.
				"2026-10-31 22:00 IN", "2026-11-01 06:00 OUT",
				"2026-11-01 08:00 IN", "2026-11-01 16:00 OUT",
			},
			want: `
week of Sun 2026-10-25  9.00
  Sat 10-31  9.00
    22:00-Sun 06:00  9.00
week of Sun 2026-11-01  8.00
  Sun 11-01  8.00
    08:00-16:00  8.00
`,
		},
		{
			name:      "week starting Monday puts Sunday in the week before",
			weekStart: time.Monday,
			punches: []string{
				"2026-03-01 08:00 IN", "2026-03-01 12:00 OUT",
				"2026-03-02 07:00 IN", "2026-03-02 15:00 OUT",
			},
			want: `
week of Mon 2026-02-23  4.00
  Sun 03-01  4.00
    08:00-12:00  4.00
week of Mon 2026-03-02  8.00
  Mon 03-02  8.00
    07:00-15:00  8.00
`,
		},
		{
			name:      "week starting Sunday puts the same Sunday with Monday",
			weekStart: time.Sunday,
			punches: []string{
				"2026-03-01 08:00 IN", "2026-03-01 12:00 OUT",
				"2026-03-02 07:00 IN", "2026-03-02 15:00 OUT",
			},
			want: `
week of Sun 2026-03-01  12.00
  Sun 03-01  4.00
    08:00-12:00  4.00
  Mon 03-02  8.00
    07:00-15:00  8.00
`,
		},
		{
			name:      "IN and OUT at the same minute keep their input order",
			weekStart: time.Monday,
			punches: []string{
				"2026-03-02 07:00 IN", "2026-03-02 07:00 OUT",
				"2026-03-03 07:00 OUT", "2026-03-03 07:00 IN",
			},
			want: `
week of Mon 2026-03-02  0.00
  Mon 03-02  0.00
    07:00-07:00  0.00
  Tue 03-03  0.00
    ?-07:00  0.00  ! OUT without IN
    07:00-?  0.00  ! missing OUT
`,
		},
		{
			name:      "no punches",
			weekStart: time.Monday,
			want:      "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = thursday
			}
			ps := punches(t, chi, tt.punches...)
			got := "\n" + render(Build(ps, chi, tt.weekStart, now, openFor), chi)
			if got != tt.want {
				t.Errorf("Build:\ngot:%s\nwant:%s", got, tt.want)
			}
		})
	}
}

func TestBuildAnyOrder(t *testing.T) {
	chi := chicago(t)
	ps := punches(t, chi,
		"2026-03-02 07:00 IN", "2026-03-02 11:30 OUT", "2026-03-02 12:00 IN", "2026-03-02 15:30 OUT",
		"2026-03-03 22:00 IN", "2026-03-04 06:00 OUT", "2026-03-05 07:00 IN",
	)
	now := time.Date(2026, 3, 9, 0, 0, 0, 0, chi)
	want := render(Build(ps, chi, time.Monday, now, time.Hour), chi)

	shuffled := slices.Clone(ps)
	slices.Reverse(shuffled)
	shuffled[0], shuffled[3] = shuffled[3], shuffled[0]
	before := slices.Clone(shuffled)
	got := render(Build(shuffled, chi, time.Monday, now, time.Hour), chi)
	if got != want {
		t.Errorf("shuffled input:\ngot:\n%s\nwant:\n%s", got, want)
	}
	if !slices.Equal(shuffled, before) {
		t.Errorf("Build reordered the caller's slice")
	}
}

func TestBuildShape(t *testing.T) {
	chi := chicago(t)
	ps := []Punch{
		{ID: "a", Direction: punch.Out, At: time.Date(2026, 3, 8, 11, 0, 0, 0, time.UTC).In(time.FixedZone("", -5*3600)), // Sun 06:00 CDT,
			PhotoSHA256: strings.Repeat("ab", 32)},
		{ID: "b", Direction: punch.In, At: time.Date(2026, 3, 8, 4, 0, 0, 0, time.UTC), // Sat 22:00 in Chicago
			NoPhoto: punch.ClockFor, ClockedBy: "Dana Ruiz"},
		{ID: "bad", Direction: "sideways", At: time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC)},
	}
	weeks := Build(ps, chi, time.Sunday, time.Date(2026, 3, 10, 0, 0, 0, 0, chi), time.Hour)
	if len(weeks) != 1 || len(weeks[0].Days) != 1 || len(weeks[0].Days[0].Pairs) != 1 {
		t.Fatalf("Build: got %d weeks, want 1 week with 1 day with 1 pair:\n%s", len(weeks), render(weeks, chi))
	}
	w, d, p := weeks[0], weeks[0].Days[0], weeks[0].Days[0].Pairs[0]
	if want := time.Date(2026, 3, 1, 0, 0, 0, 0, chi); !w.Start.Equal(want) || w.Start.Location() != chi {
		t.Errorf("week Start = %v, want %v in America/Chicago", w.Start, want)
	}
	if want := time.Date(2026, 3, 7, 0, 0, 0, 0, chi); !d.Date.Equal(want) || d.Date.Location() != chi {
		t.Errorf("day Date = %v, want %v in America/Chicago", d.Date, want)
	}
	if p.In == nil || p.In.ID != "b" || p.In.ClockedBy != "Dana Ruiz" || p.In.NoPhoto != punch.ClockFor {
		t.Errorf("pair In = %+v, want punch b clocked for by Dana Ruiz", p.In)
	}
	if p.Out == nil || p.Out.ID != "a" || p.Out.PhotoSHA256 != strings.Repeat("ab", 32) {
		t.Errorf("pair Out = %+v, want punch a with its photo", p.Out)
	}
	// 04:00 UTC to 11:00 UTC, across the spring-forward change.
	if p.Hours != 7*time.Hour || d.Total != 7*time.Hour || w.Total != 7*time.Hour {
		t.Errorf("hours: pair %v, day %v, week %v; want 7h each", p.Hours, d.Total, w.Total)
	}
}

func TestBuildEmpty(t *testing.T) {
	if got := Build(nil, nil, time.Monday, time.Now(), time.Hour); got != nil {
		t.Errorf("Build(nil) = %v, want nil", got)
	}
	if got := Build([]Punch{}, time.UTC, time.Sunday, time.Time{}, 0); got != nil {
		t.Errorf("Build([]) = %v, want nil", got)
	}
}

func TestFormatHours(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0.00"},
		{7*time.Hour + 30*time.Minute, "7.50"},
		{8 * time.Hour, "8.00"},
		{15 * time.Minute, "0.25"},
		{time.Minute, "0.02"},      // 0.0167 rounds up
		{17 * time.Second, "0.00"}, // under half a hundredth
		{18 * time.Second, "0.01"}, // exactly half rounds up
		{7*time.Hour + 58*time.Minute, "7.97"},
		{7*time.Hour + 59*time.Minute + 59*time.Second, "8.00"},
		{56 * time.Hour, "56.00"},
		{1234*time.Hour + 6*time.Minute, "1234.10"},
		{-30 * time.Minute, "-0.50"},
		{-17 * time.Second, "0.00"},
	}
	for _, tt := range tests {
		if got := FormatHours(tt.d); got != tt.want {
			t.Errorf("FormatHours(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
