package backoffice

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/timecard"
)

// The Settings, Timecards and API tokens pages.

type settingsView struct {
	// Device settings, as the form shows them.
	Nickname, Timezone, ScreenTimeout string
	Languages, Rotations              []option
	Zones                             []string
	ServerZone                        string
	// Company settings.
	Name, SyncEveryMinutes, RetentionDays, PeriodDays string
	Retention                                         string // what the retention rule does, in a sentence
	LastPurge                                         string // when it last ran and what it deleted
	Errors                                            map[string]string
	Error                                             string
}

// usZones are offered for the time zone; any IANA name is accepted.
var usZones = []string{"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
	"America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico", "UTC"}

func (o *Office) settingsView() (settingsView, error) {
	st, err := o.store.Settings()
	if err != nil {
		return settingsView{}, err
	}
	c, err := o.store.Company()
	if err != nil {
		return settingsView{}, err
	}
	last, lastDel, err := o.store.PhotoPurges()
	if err != nil {
		return settingsView{}, err
	}
	now, loc := o.companyNow()
	v := settingsView{
		Nickname: st.Nickname, Timezone: st.Timezone, ScreenTimeout: formatSeconds(st.ScreenTimeout),
		Zones: usZones, ServerZone: time.Local.String(),
		Name: c.Name, SyncEveryMinutes: strconv.FormatFloat(c.SyncEvery.Minutes(), 'f', -1, 64),
		RetentionDays: strconv.Itoa(c.PhotoRetentionDays), PeriodDays: strconv.FormatFloat(c.SetupCodePeriod.Hours()/24, 'f', -1, 64),
		Errors: map[string]string{},
	}
	for _, l := range roster.Langs {
		v.Languages = append(v.Languages, option{Value: string(l), Label: langNames[l], Selected: l == st.Language})
	}
	for _, deg := range []int{0, 90, 180, 270} {
		label := fmt.Sprintf("%d°", deg)
		if deg == 0 {
			label = "0° (as taken)"
		}
		v.Rotations = append(v.Rotations, option{Value: strconv.Itoa(deg), Label: label, Selected: deg == st.PhotoRotation})
	}
	if c.PhotoRetentionDays == 0 {
		v.Retention = "Photos are kept (0 days): set a number of days to delete older ones, as biometric-privacy rules may require."
	} else {
		v.Retention = fmt.Sprintf("Photos older than %d days are deleted; the server checks every hour, and timecards then say the photo was deleted. 0 keeps photos.", c.PhotoRetentionDays)
	}
	switch {
	case last.At.IsZero():
		v.LastPurge = "The retention rule has not run yet."
	default:
		v.LastPurge = fmt.Sprintf("The last check ran %s (%s) and deleted %d photo%s.", dateTime(last.At, loc), ago(last.At, now), last.Deleted, plural(last.Deleted))
		if last.Deleted == 0 && !lastDel.At.IsZero() {
			v.LastPurge += fmt.Sprintf(" Photos were last deleted %s: %d photo%s.", dateTime(lastDel.At, loc), lastDel.Deleted, plural(lastDel.Deleted))
		}
	}
	return v, nil
}

func (o *Office) settingsPage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	v, err := o.settingsView()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, http.StatusOK, "settings", "settings", "Settings", v)
}

// formNumber reads a number a person typed in a form.
func formNumber(r *http.Request, name, unit string) (float64, *fieldError) {
	s := strings.TrimSpace(r.PostForm.Get(name))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, badField(name, "Give a number of %s above 0.", unit)
	}
	return v, nil
}

func (o *Office) deviceSettingsForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	nick, tz, lang := r.PostForm.Get("nickname"), strings.TrimSpace(r.PostForm.Get("timezone")), r.PostForm.Get("language")
	in := deviceSettingsInput{Nickname: &nick, Timezone: &tz, Language: &lang}
	var err error
	rot, cerr := strconv.Atoi(r.PostForm.Get("photo_rotation"))
	if cerr != nil {
		err = badField("photo_rotation", "Choose 0, 90, 180 or 270 degrees.")
	}
	in.PhotoRotation = &rot
	if timeout, fe := formNumber(r, "screen_timeout_seconds", "seconds"); fe != nil {
		err = fe
	} else {
		in.ScreenTimeout = &timeout
	}
	if err == nil {
		_, err = o.updateDeviceSettings(in)
	}
	if err == nil {
		o.log.Info("device settings changed by an admin", "admin", sess.Admin.Username)
		o.done(w, r, "/settings", "Saved the device settings. Kiosks get them at their next sync.")
		return
	}
	o.settingsFailed(w, r, sess, err, func(v *settingsView) {
		v.Nickname, v.Timezone, v.ScreenTimeout = nick, tz, r.PostForm.Get("screen_timeout_seconds")
	})
}

func (o *Office) companySettingsForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	name := r.PostForm.Get("name")
	in := companyInput{Name: &name}
	var err error
	if mins, fe := formNumber(r, "sync_every_minutes", "minutes"); fe != nil {
		err = fe
	} else {
		secs := mins * 60
		in.SyncEvery = &secs
	}
	days, cerr := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("photo_retention_days")))
	if cerr != nil {
		err = badField("photo_retention_days", "Give a whole number of days (0 keeps photos).")
	}
	in.PhotoRetentionDays = &days
	if pd, fe := formNumber(r, "setup_code_period_days", "days"); fe != nil {
		err = fe
	} else {
		secs := pd * 24 * 3600
		in.SetupCodePeriod = &secs
	}
	if err == nil {
		_, err = o.updateCompany(in)
	}
	if err == nil {
		o.done(w, r, "/settings", "Saved the company settings.")
		return
	}
	o.settingsFailed(w, r, sess, err, func(v *settingsView) {
		v.Name, v.SyncEveryMinutes = name, r.PostForm.Get("sync_every_minutes")
		v.RetentionDays, v.PeriodDays = r.PostForm.Get("photo_retention_days"), r.PostForm.Get("setup_code_period_days")
	})
}

// settingsFailed shows the settings again with what was typed and the
// error next to its field.
func (o *Office) settingsFailed(w http.ResponseWriter, r *http.Request, sess adminSession, err error, typed func(*settingsView)) {
	v, verr := o.settingsView()
	if verr != nil {
		o.failPage(w, r, sess, verr)
		return
	}
	typed(&v)
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		// The form asks for minutes and days where the API takes seconds.
		field := map[string]string{"sync_every_seconds": "sync_every_minutes", "setup_code_period_seconds": "setup_code_period_days"}[fe.Field]
		if field == "" {
			field = fe.Field
		}
		v.Errors[field] = fe.Msg
	case errors.Is(err, ErrInvalid):
		v.Error = strings.TrimPrefix(err.Error(), "backoffice: ")
	default:
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, http.StatusBadRequest, "settings", "settings", "Settings", v)
}

type timecardsView struct {
	Employees        []option
	Week             string // YYYY-MM-DD of the week's first day
	Selected         bool
	Name, Number     string
	Heading          string // "Week of Mon Nov 23, 2026"
	Prev, Next, This string // links
	Days             []dayRow
	Total            string
	Rotation         int
	Zone             string
	WeekError        string
}

type dayRow struct {
	Date  string
	Pairs []pairRow
	Total string
}

type pairRow struct {
	In, Out *punchRow
	Hours   string
	Problem string
	Open    bool
}

type punchRow struct {
	Time, Direction, Where string
	PhotoURL, Alt          string
	Note                   string
	ClockedBy              string
	Unverified             bool   // the time is the kiosk's, unchecked
	TimeNote               string // how far the time can be trusted, when it is worth saying
	Integrity              string // a short label when the punch is unsigned or something is wrong with it
	IntegrityNote          string
	IntegrityProblem       bool
}

// integrityLabels are the timecard's short labels for integrity statuses
// (none for a verified punch).
var integrityLabels = map[string]string{
	IntegrityUnsigned:     "unsigned",
	IntegrityUnsignedLate: "unsigned",
	IntegrityBadSignature: "signature broken",
	IntegrityBrokenLink:   "out of sequence",
	IntegrityGap:          "punches missing before",
	IntegrityReplay:       "replayed",
	IntegrityContested:    "contested",
}

func punchRowOf(p *punchCard, name string) *punchRow {
	if p == nil {
		return nil
	}
	pr := &punchRow{Time: timeOfDay(p.At), Direction: strings.ToUpper(string(p.Direction)), Where: p.DeviceName, Note: p.Note, ClockedBy: p.ClockedByName,
		Unverified: !p.TimeVerified, TimeNote: timeWords(p),
		Integrity: integrityLabels[p.Integrity.Status], IntegrityNote: p.Integrity.Words(), IntegrityProblem: p.Integrity.Problem()}
	if p.PhotoState == photoShown {
		pr.PhotoURL = "/photos/" + p.PhotoSHA256
		pr.Alt = fmt.Sprintf("FaceFront photo of %s, %s %s", name, pr.Direction, p.At.Format("Mon Jan 2 3:04 PM"))
	}
	return pr
}

func (o *Office) timecardsPage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	q := r.URL.Query()
	empID := q.Get("employee")
	es, err := o.store.Employees()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	v := timecardsView{}
	status := http.StatusOK
	day, err := o.parseWeek(q.Get("week"))
	if err != nil {
		v.WeekError = "Give a date as YYYY-MM-DD; showing this week."
		status = http.StatusBadRequest
		day = o.now()
	}
	loc := o.zone()
	start := weekStartOf(day, loc)
	v.Week = start.Format(time.DateOnly)
	v.Heading = "Week of " + dateLong(start, loc)
	v.Zone = loc.String()
	for _, e := range es {
		label := e.Name + " (" + e.Number + ")"
		if !e.Active {
			label += " — inactive"
		}
		v.Employees = append(v.Employees, option{Value: e.ID, Label: label, Selected: e.ID == empID})
	}
	link := func(t time.Time) string {
		return "/timecards?" + url.Values{"employee": {empID}, "week": {t.Format(time.DateOnly)}}.Encode()
	}
	v.Prev, v.Next, v.This = link(start.AddDate(0, 0, -7)), link(start.AddDate(0, 0, 7)), link(weekStartOf(o.now(), loc))
	if empID != "" {
		c, err := o.timecard(r.Context(), empID, day)
		if err != nil {
			o.failPage(w, r, sess, err)
			return
		}
		v.Selected, v.Name, v.Number, v.Rotation = true, c.Employee.Name, c.Employee.Number, c.Rotation
		v.Total = timecard.FormatHours(c.Total)
		for _, d := range c.Days {
			dr := dayRow{Date: d.Date.Format("Mon Jan 2"), Total: timecard.FormatHours(d.Total)}
			for _, p := range d.Pairs {
				dr.Pairs = append(dr.Pairs, pairRow{In: punchRowOf(p.In, c.Employee.Name), Out: punchRowOf(p.Out, c.Employee.Name),
					Hours: timecard.FormatHours(p.Hours), Problem: p.Problem, Open: p.Open})
			}
			v.Days = append(v.Days, dr)
		}
	}
	o.show(w, r, sess, status, "timecards", "timecards", "Timecards", v)
}

func (o *Office) photo(w http.ResponseWriter, r *http.Request, _ adminSession) {
	o.servePhoto(w, r, false)
}

type tokensView struct {
	Tokens   []tokenRow
	Name     string
	NameErr  string
	NewToken string // the secret, shown once right after it is made
	NewName  string
}

type tokenRow struct {
	ID, Name, CreatedBy, CreatedAt, LastUsed, RevokedAt string
}

func (o *Office) tokensView() (tokensView, error) {
	ts, err := o.store.APITokens()
	if err != nil {
		return tokensView{}, err
	}
	now, loc := o.companyNow()
	var v tokensView
	for _, t := range ts {
		row := tokenRow{ID: t.ID, Name: t.Name, CreatedBy: t.CreatedBy, CreatedAt: dateTime(t.CreatedAt, loc), RevokedAt: dateTime(t.RevokedAt, loc)}
		if !t.LastUsed.IsZero() {
			row.LastUsed = ago(t.LastUsed, now)
		}
		v.Tokens = append(v.Tokens, row)
	}
	return v, nil
}

func (o *Office) tokensPage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	v, err := o.tokensView()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, http.StatusOK, "tokens", "tokens", "API tokens", v)
}

// createTokenForm makes a token and shows it on this one answer: it is
// never shown again, so the page is not a redirect to a reloadable one.
func (o *Office) createTokenForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	var (
		t      APIToken
		secret string
		err    error
	)
	if name == "" {
		err = badField("name", "Give the token a name that says what it is for, such as \"payroll export\".")
	} else {
		t, secret, err = o.store.CreateAPIToken(sess.Admin.ID, name, o.now())
	}
	v, verr := o.tokensView()
	if verr != nil {
		o.failPage(w, r, sess, verr)
		return
	}
	status := http.StatusOK
	var fe *fieldError
	switch {
	case err == nil:
		v.NewToken, v.NewName = secret, t.Name
	case errors.As(err, &fe):
		status, v.Name, v.NameErr = http.StatusBadRequest, name, fe.Msg
	case errors.Is(err, ErrInvalid):
		status, v.Name, v.NameErr = http.StatusBadRequest, name, strings.TrimPrefix(err.Error(), "backoffice: ")
	default:
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, status, "tokens", "tokens", "API tokens", v)
}

func (o *Office) revokeTokenForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	id := r.PathValue("id")
	if err := o.store.RevokeAPIToken(id, o.now()); err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.log.Info("API token revoked by an admin", "token_id", id, "admin", sess.Admin.Username)
	o.done(w, r, "/tokens", "Revoked the token; programs using it are refused from now on.")
}
