package backoffice

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// How the web UI writes times and durations for people.

// approxDuration says d the way a person would: "7 days", "5 hours",
// "12 minutes", "30 seconds".
func approxDuration(d time.Duration) string {
	unit := func(n int64, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	switch {
	case d >= 48*time.Hour:
		return unit(int64((d+12*time.Hour)/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return unit(int64((d+30*time.Minute)/time.Hour), "hour")
	case d >= 2*time.Minute:
		return unit(int64((d+30*time.Second)/time.Minute), "minute")
	}
	return unit(max(0, int64((d+time.Second/2)/time.Second)), "second")
}

// ago says how long before now t was: "5 minutes ago", "just now".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return approxDuration(d) + " ago"
}

// dateTime is the UI's date and time: "Mon Nov 23, 7:02 AM".
func dateTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("Mon Jan 2, 3:04 PM")
}

// dateLong is a date with its year: "Mon Nov 23, 2026".
func dateLong(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("Mon Jan 2, 2006")
}

// timeOfDay is a time of day: "7:02 AM".
func timeOfDay(t time.Time) string { return t.Format("3:04 PM") }

// groupDigits writes a setup code in groups of four: "1234 5678".
func groupDigits(code string) string {
	var b strings.Builder
	for i, c := range code {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// shortID is the first part of a UUID, enough to tell devices apart.
func shortID(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}

// formatSeconds writes a duration as seconds for a form field: "20", "1.5".
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
