// Package timecard turns one employee's punches into the timecard a manager
// reads: per day the IN/OUT pairs and their hours, per week the totals, and a
// short note on every pair a manager has to fix.
//
// It is pure: no I/O and no clock reads; the caller passes now.
package timecard

import (
	"slices"
	"strconv"
	"time"

	"github.com/siteclock/siteclock/punch"
)

// Problems a pair can have. Each is a short note a manager acts on.
const (
	MissingOut = "missing OUT"    // an IN with no OUT: the employee forgot to punch out
	OutWithout = "OUT without IN" // an OUT with no IN before it: the employee forgot to punch in
	Over24h    = "over 24 hours"  // a pair longer than a day: most likely a forgotten OUT and IN
)

// Punch is one punch as the timecard shows it.
type Punch struct {
	ID          string
	Direction   punch.Direction
	At          time.Time
	PhotoSHA256 string        // "" when none
	NoPhoto     punch.NoPhoto // why there is no photo
	ClockedBy   string        // name of the foreman who recorded it with Clock For; "" for a self punch
	// TimeUnverified: At is the kiosk's own clock, which the back office
	// could not check against its time (the kiosk never reached it during
	// the boot the punch was made in). A Pi without a battery-backed
	// clock may be hours or years off then.
	TimeUnverified bool
}

// Pair is an IN and the OUT that ends it.
type Pair struct {
	In, Out *Punch        // either may be nil: an IN with no OUT yet (open, or missing), an OUT with no IN
	Hours   time.Duration // Out.At - In.At when both exist; 0 otherwise
	Problem string        // "" or a short English note a manager acts on: "missing OUT", "OUT without IN", "over 24 hours"
}

// TimeUnverified reports whether the pair's hours rest on a time the back
// office could not verify (either punch's); such hours are counted like
// any other, flagged for a manager to check.
func (p Pair) TimeUnverified() bool {
	return p.In != nil && p.In.TimeUnverified || p.Out != nil && p.Out.TimeUnverified
}

// Open reports whether p is a shift still in progress (shown as "still IN"):
// an IN with no OUT that Build did not flag as missing its OUT.
func (p Pair) Open() bool { return p.In != nil && p.Out == nil && p.Problem == "" }

// Day is one calendar day of a timecard.
type Day struct {
	Date  time.Time // midnight of the day in loc
	Pairs []Pair
	Total time.Duration
}

// Week is one week of a timecard.
type Week struct {
	Start time.Time // midnight of the first day of the week in loc
	Days  []Day     // only days with punches, in order
	Total time.Duration
}

// Build groups punches (any order; sort by At, ties by input order) into
// weeks starting on weekStart in loc (nil means UTC). Only weeks with
// punches are returned, in order; no punches gives nil.
//
// A pair belongs to the day of its IN (an OUT without IN to the day of the
// OUT). A shift that crosses midnight stays one pair on the IN's day, and its
// hours are real elapsed time, so a night shift across a DST change counts
// an hour less or more than the wall clocks suggest.
//
// An IN followed by another IN: the first becomes a pair with no OUT and
// Problem "missing OUT". The employee's last punch, when it is an IN, is
// open (Problem "", Hours 0, shown as "still IN") if it is at most openFor
// before now, or after now (a kiosk clock a little ahead); older than that
// it is "missing OUT". An OUT with no IN before it: a pair with In nil,
// Problem "OUT without IN". Pairs longer than 24 h: Problem "over 24 hours",
// with their hours counted in the totals like any other pair so the totals
// match what the card shows.
//
// Punches whose Direction is neither In nor Out are skipped: the back office
// refuses them on ingest, so none should reach here.
func Build(ps []Punch, loc *time.Location, weekStart time.Weekday, now time.Time, openFor time.Duration) []Week {
	if loc == nil {
		loc = time.UTC
	}
	// Sort a copy: the pairs point into it, and the caller's slice keeps
	// its order.
	sorted := make([]Punch, 0, len(ps))
	for _, p := range ps {
		if p.Direction.Valid() {
			sorted = append(sorted, p)
		}
	}
	slices.SortStableFunc(sorted, func(a, b Punch) int { return a.At.Compare(b.At) })

	var weeks []Week
	add := func(pr Pair) {
		var at time.Time
		if pr.In != nil {
			at = pr.In.At
		} else {
			at = pr.Out.At
		}
		date := midnight(at, loc)
		start := weekOf(date, weekStart)
		// Pairs come in time order, so a new day or week is always after
		// the last one.
		if len(weeks) == 0 || !weeks[len(weeks)-1].Start.Equal(start) {
			weeks = append(weeks, Week{Start: start})
		}
		w := &weeks[len(weeks)-1]
		if len(w.Days) == 0 || !w.Days[len(w.Days)-1].Date.Equal(date) {
			w.Days = append(w.Days, Day{Date: date})
		}
		d := &w.Days[len(w.Days)-1]
		d.Pairs = append(d.Pairs, pr)
		d.Total += pr.Hours
		w.Total += pr.Hours
	}

	var in *Punch // the IN waiting for its OUT
	for i := range sorted {
		p := &sorted[i]
		switch p.Direction {
		case punch.In:
			if in != nil {
				add(Pair{In: in, Problem: MissingOut})
			}
			in = p
		case punch.Out:
			if in == nil {
				add(Pair{Out: p, Problem: OutWithout})
				continue
			}
			pr := Pair{In: in, Out: p, Hours: p.At.Sub(in.At)}
			if pr.Hours > 24*time.Hour {
				pr.Problem = Over24h
			}
			add(pr)
			in = nil
		}
	}
	if in != nil {
		pr := Pair{In: in}
		if now.Sub(in.At) > openFor {
			pr.Problem = MissingOut
		}
		add(pr)
	}
	return weeks
}

// midnight returns the start of t's calendar day in loc. In the few zones
// whose DST change skips midnight itself, time.Date moves it to the first
// instant that exists, which is still the start of that day.
func midnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// weekOf returns midnight of the first day of the week containing date (a
// midnight). It steps by calendar days, not by 24 h, so a DST change in the
// week does not shift it off midnight.
func weekOf(date time.Time, weekStart time.Weekday) time.Time {
	back := (int(date.Weekday()) - int(weekStart) + 7) % 7
	y, m, d := date.Date()
	return time.Date(y, m, d-back, 0, 0, 0, 0, date.Location())
}

// FormatHours renders a duration as hours with two decimals, the way payroll
// reads it: "7.50". It rounds to the nearest hundredth of an hour (36 s),
// halves away from zero, in integers so no float error creeps into a total.
func FormatHours(d time.Duration) string {
	const hundredth = 36 * time.Second
	sign := ""
	if d < 0 {
		sign = "-"
		d = -d // math.MinInt64 stays negative, but is 292 years: not a timecard
	}
	h := int64((d + hundredth/2) / hundredth)
	frac := strconv.FormatInt(h%100, 10)
	if len(frac) < 2 {
		frac = "0" + frac
	}
	if h == 0 {
		sign = "" // no "-0.00"
	}
	return sign + strconv.FormatInt(h/100, 10) + "." + frac
}
