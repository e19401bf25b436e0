package backoffice

import (
	"context"
	"fmt"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/timecard"
)

// Timecard settings. A week starts on Monday (ISO 8601); an IN without an
// OUT is a shift in progress ("still IN") for up to openShift, after
// which the timecard says the OUT is missing.
const (
	timecardWeekStart = time.Monday
	openShift         = 16 * time.Hour
	// pairReach is how far before and after the week punches are read,
	// so that a shift crossing the week's edges pairs up as it should.
	pairReach = 48 * time.Hour
)

// weekCard is one employee's timecard for one week, as both the web page
// and the API show it.
type weekCard struct {
	Employee Employee
	Zone     *time.Location
	Start    time.Time  // midnight of the week's first day in Zone
	Days     [7]dayCard // every day of the week, punches or not
	Total    time.Duration
	Rotation int // degrees the photos are turned when shown
}

type dayCard struct {
	Date  time.Time
	Pairs []pairCard
	Total time.Duration
}

type pairCard struct {
	In, Out *punchCard
	Hours   time.Duration
	Problem string
	Open    bool // a shift still in progress
	// Unverified: the hours rest on a time the office could not check
	// against its own (timecard.Pair.TimeUnverified).
	Unverified bool
}

// Photo states of a punch.
const (
	photoShown   = "available"
	photoPending = "not_uploaded"
	photoDeleted = "deleted"
	photoNone    = "none"
)

type punchCard struct {
	ID            string
	Direction     punch.Direction
	At            time.Time // in the company's zone: the trusted time, or the kiosk's when unverified
	DeviceAt      time.Time // the kiosk's own clock, in the company's zone
	TimeVerified  bool      // At is the server's time by the kiosk's boot clock
	Clock         punch.Clock
	Integrity     Integrity
	DeviceID      string
	DeviceName    string
	PhotoSHA256   string
	PhotoState    string        // photoShown, photoPending, photoDeleted or photoNone
	NoPhoto       punch.NoPhoto // why none was taken
	ClockedByID   string
	ClockedByName string
	Note          string // why no photo can be shown, in words; "" when one can
}

// weekStartOf returns midnight of the first day of t's week in loc.
func weekStartOf(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, loc)
	back := (int(day.Weekday()) - int(timecardWeekStart) + 7) % 7
	return time.Date(y, m, d-back, 0, 0, 0, 0, loc)
}

// timecard builds employee empID's timecard for the week containing day.
func (o *Office) timecard(ctx context.Context, empID string, day time.Time) (weekCard, error) {
	emp, err := o.store.Employee(empID)
	if err != nil {
		return weekCard{}, err
	}
	st, err := o.store.Settings()
	if err != nil {
		return weekCard{}, err
	}
	loc := o.zone()
	c := weekCard{Employee: emp, Zone: loc, Start: weekStartOf(day, loc), Rotation: st.PhotoRotation}
	end := c.Start.AddDate(0, 0, 7)
	ps, err := o.store.Punches(PunchFilter{EmployeeID: empID, From: c.Start.Add(-pairReach), To: end.Add(pairReach)})
	if err != nil {
		return weekCard{}, err
	}
	names := map[string]string{}
	if es, err := o.store.Employees(); err == nil {
		for _, e := range es {
			names[e.ID] = e.Name
		}
	}
	devices := map[string]string{}
	if ds, err := o.store.Devices(); err == nil {
		for _, d := range ds {
			devices[d.ID] = d.Nickname
		}
	}
	company, err := o.store.Company()
	if err != nil {
		return weekCard{}, err
	}
	byID := make(map[string]Punch, len(ps))
	tps := make([]timecard.Punch, len(ps))
	for i, p := range ps {
		byID[p.ID] = p
		tps[i] = timecard.Punch{ID: p.ID, Direction: p.Direction, At: p.Time(), PhotoSHA256: p.PhotoSHA256, NoPhoto: p.NoPhoto,
			ClockedBy: names[p.ClockedBy], TimeUnverified: !p.TimeVerified()}
		if p.ClockedBy != "" && tps[i].ClockedBy == "" {
			tps[i].ClockedBy = "an unknown foreman"
		}
	}
	card := func(tp *timecard.Punch) *punchCard {
		if tp == nil {
			return nil
		}
		p := byID[tp.ID]
		pc := &punchCard{
			ID: p.ID, Direction: p.Direction, At: p.Time().In(loc), DeviceAt: p.At.In(loc), TimeVerified: p.TimeVerified(),
			Clock: p.Clock, Integrity: p.Integrity, DeviceID: p.DeviceID, DeviceName: devices[p.DeviceID],
			PhotoSHA256: p.PhotoSHA256, NoPhoto: p.NoPhoto, ClockedByID: p.ClockedBy, ClockedByName: tp.ClockedBy,
		}
		switch {
		case p.PhotoSHA256 == "":
			pc.PhotoState, pc.Note = photoNone, noPhotoWords(p.NoPhoto, tp.ClockedBy)
		case !p.PhotoDeletedAt.IsZero():
			pc.PhotoState = photoDeleted
			days, ok := o.store.purgeRetention(ctx, p.PhotoDeletedAt)
			if !ok {
				days = company.PhotoRetentionDays
			}
			pc.Note = fmt.Sprintf("photo deleted after %d days (retention)", days)
		case p.PhotoReceivedAt.IsZero():
			pc.PhotoState, pc.Note = photoPending, "photo not uploaded yet: the kiosk sends it when it can"
		default:
			pc.PhotoState = photoShown
		}
		return pc
	}
	for i := range c.Days {
		c.Days[i].Date = c.Start.AddDate(0, 0, i)
	}
	for _, w := range timecard.Build(tps, loc, timecardWeekStart, o.now(), openShift) {
		if !w.Start.Equal(c.Start) {
			continue
		}
		c.Total = w.Total
		for _, d := range w.Days {
			i := int(d.Date.Sub(c.Start).Hours()+12) / 24 // DST days are 23 or 25 hours
			if i < 0 || i >= 7 {
				continue
			}
			c.Days[i].Total = d.Total
			for _, pr := range d.Pairs {
				c.Days[i].Pairs = append(c.Days[i].Pairs, pairCard{In: card(pr.In), Out: card(pr.Out), Hours: pr.Hours, Problem: pr.Problem, Open: pr.Open(),
					Unverified: pr.TimeUnverified()})
			}
		}
	}
	return c, nil
}

// timeWords says in words how far a punch's time can be trusted, for the
// timecard: "" when it is the server's time and the kiosk's clock agreed
// with it.
func timeWords(p *punchCard) string {
	const near = time.Minute
	switch {
	case !p.TimeVerified && p.Clock.Behind:
		return "time unverified: the kiosk's clock had gone backwards, and the kiosk did not reach the office before it restarted"
	case !p.TimeVerified && p.Clock.Synced:
		return "time unverified: the kiosk did not reach the office before it restarted (its clock said it was synchronised)"
	case !p.TimeVerified:
		return "time unverified: the kiosk's own clock, which the office could not check (the kiosk did not reach it before it restarted)"
	case p.DeviceAt.Sub(p.At) > near || p.At.Sub(p.DeviceAt) > near:
		return "time from the office's clock; the kiosk's clock said " + p.DeviceAt.Format("Mon Jan 2 2006 3:04:05 PM")
	}
	return ""
}

// noPhotoWords says in words why a punch has no photo.
func noPhotoWords(n punch.NoPhoto, clockedBy string) string {
	switch n {
	case punch.RoleFaceFrontOff:
		return "no photo: FaceFront is off for this employee's role"
	case punch.NoConsent:
		return "no photo: no photo consent is on record for this employee"
	case punch.NoCamera:
		return "no photo: the kiosk has no camera"
	case punch.CameraPermission:
		return "no photo: the kiosk was not allowed to use its camera"
	case punch.CameraError:
		return "no photo: the camera failed when the photo was taken"
	case punch.ClockFor:
		if clockedBy == "" {
			return "no photo: punched by a foreman with Clock For"
		}
		return "no photo: clocked by " + clockedBy + " with Clock For"
	}
	return "no photo"
}

// cameraWords says in words what a kiosk reported about its camera.
func cameraWords(d Device) (string, bool) {
	if d.LastCheckIn.IsZero() {
		return "not reported yet", true
	}
	switch d.Camera {
	case punch.PhotoTaken:
		return "working", true
	case punch.NoCamera:
		return "no camera", false
	case punch.CameraPermission:
		return "not allowed to open the camera", false
	case punch.CameraError:
		return "camera failing", false
	}
	return string(d.Camera), false
}

// rosterWords says whether a kiosk holds the current roster.
func rosterWords(d Device, current string) (string, bool) {
	switch {
	case d.LastCheckIn.IsZero():
		return "never checked in", false
	case d.RosterVersion == "":
		return "no roster yet", false
	case d.RosterVersion == current:
		return "latest (" + current + ")", true
	}
	return "outdated (" + d.RosterVersion + ")", false
}
