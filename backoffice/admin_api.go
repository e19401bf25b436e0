package backoffice

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/timecard"
)

// The admin JSON API (docs/admin-api.md). Every answer is JSON; every
// error is {"error": code, "message": what to do, "field": the field at
// fault if one is}.

// maxAPIBody bounds an admin API request body.
const maxAPIBody = 64 << 10

type apiErrorBody struct {
	Code    string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeAPIError(w http.ResponseWriter, status int, code, msg, field string) {
	writeJSON(w, status, apiErrorBody{Code: code, Message: msg, Field: field})
}

// apiFail answers with the error err stands for.
func (o *Office) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		status, code := http.StatusBadRequest, "invalid"
		switch {
		case errors.Is(fe, ErrNumberTaken):
			status, code = http.StatusConflict, "number_taken"
		case errors.Is(fe, ErrPINTaken):
			status, code = http.StatusConflict, "pin_taken"
		case errors.Is(fe, ErrRoleExists):
			status, code = http.StatusConflict, "role_exists"
		}
		msg := fe.Msg
		if msg != "" {
			msg = strings.ToLower(msg[:1]) + msg[1:]
		}
		writeAPIError(w, status, code, fe.Field+": "+msg, fe.Field)
		return
	}
	msg := strings.TrimPrefix(err.Error(), "backoffice: ")
	switch {
	case errors.Is(err, ErrInvalid):
		writeAPIError(w, http.StatusBadRequest, "invalid", msg, "")
	case errors.Is(err, ErrNotFound):
		writeAPIError(w, http.StatusNotFound, "not_found", msg+"; list what exists with GET on the collection", "")
	case errors.Is(err, ErrPhotoDeleted):
		writeAPIError(w, http.StatusGone, "photo_deleted", msg, "")
	case errors.Is(err, errSMSOff):
		writeAPIError(w, http.StatusServiceUnavailable, "sms_not_configured", err.Error(), "")
	case errors.Is(err, errSMSFailed):
		writeAPIError(w, http.StatusBadGateway, "sms_failed", "the SMS gateway did not take the message ("+strings.TrimPrefix(errors.Unwrap(err).Error(), "sms failed: ")+"); check the gateway, or read the setup code to the technician", "")
	case errors.Is(err, ErrNoCompany):
		writeAPIError(w, http.StatusServiceUnavailable, "no_company", msg, "")
	case errors.Is(err, ErrDiskFull):
		o.log.Error("admin API request failed", "path", r.URL.Path, "err", err)
		writeAPIError(w, http.StatusServiceUnavailable, "disk_full", "the back office is out of disk space; nothing was changed, free space on the server and retry", "")
	default:
		o.log.Error("admin API request failed", "path", r.URL.Path, "err", err)
		writeAPIError(w, http.StatusInternalServerError, "internal", "the back office failed; nothing was changed, retry later (the server log says more)", "")
	}
}

func (o *Office) apiNotFound(w http.ResponseWriter, r *http.Request) {
	writeAPIError(w, http.StatusNotFound, "not_found",
		fmt.Sprintf("no endpoint %s %s; the admin API is described in docs/admin-api.md", r.Method, r.URL.Path), "")
}

// decodeBody reads a JSON object into v strictly: at most maxAPIBody
// bytes, no unknown fields, nothing after it. It answers the request
// itself and returns false when the body is refused.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	e := decodeStrict(http.MaxBytesReader(w, r.Body, maxAPIBody), v)
	switch {
	case e == nil:
		return true
	case e.tooLarge:
		writeAPIError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes; send less", maxAPIBody), "")
		return false
	case e.unknown:
		e.msg += "; see docs/admin-api.md for the fields"
	}
	writeAPIError(w, http.StatusBadRequest, "bad_request", e.msg, e.field)
	return false
}

// optionalBody is for a POST whose body may be empty or {}.
func optionalBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 {
		return true
	}
	var empty struct{}
	return decodeBody(w, r, &empty)
}

// jsonTime is t in loc, or nil (JSON null) for the zero time.
func jsonTime(t time.Time, loc *time.Location) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.In(loc)
	return &t
}

type refJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type setupCodeJSON struct {
	Code       string    `json:"code"`
	IssuedAt   time.Time `json:"issued_at"`
	NextChange time.Time `json:"next_change"`
}

func (o *Office) setupCodeJSON(c SetupCode) setupCodeJSON {
	loc := o.zone()
	return setupCodeJSON{Code: c.Code, IssuedAt: c.Issued.In(loc), NextChange: c.NextChange.In(loc)}
}

func (o *Office) apiSetupCode(w http.ResponseWriter, r *http.Request, _ Admin) {
	c, err := o.store.SetupCode(o.now())
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o.setupCodeJSON(c))
}

func (o *Office) apiRotateCode(w http.ResponseWriter, r *http.Request, a Admin) {
	if !optionalBody(w, r) {
		return
	}
	c, err := o.store.RotateSetupCode(o.now())
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.log.Info("setup code rotated by an admin", "admin", a.Username)
	writeJSON(w, http.StatusOK, o.setupCodeJSON(c))
}

func (o *Office) apiSendCode(w http.ResponseWriter, r *http.Request, a Admin) {
	var req struct {
		Phone string `json:"phone"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	to, err := o.sendSetupCode(r.Context(), req.Phone, a.Username)
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SentTo string `json:"sent_to"`
	}{to})
}

type deviceJSON struct {
	ID             string     `json:"id"`
	Nickname       string     `json:"nickname"`
	Hardware       string     `json:"hardware"`
	Version        string     `json:"version"`
	InstallationID string     `json:"installation_id"`
	EnrolledAt     time.Time  `json:"enrolled_at"`
	LastCheckIn    *time.Time `json:"last_checkin"`
	LastUsedBy     *refJSON   `json:"last_used_by"`
	RosterVersion  string     `json:"roster_version"`
	RosterCurrent  bool       `json:"roster_current"`
	Waiting        int        `json:"punches_waiting"`
	OldestWaiting  *time.Time `json:"oldest_waiting"`
	Camera         string     `json:"camera"`
	CameraText     string     `json:"camera_text"`
	Disabled       bool       `json:"disabled"`
	DisabledAt     *time.Time `json:"disabled_at"`
	DisabledBy     string     `json:"disabled_by"`
	GoodbyeAt      *time.Time `json:"goodbye_at"`
	// PunchChain is what the office found checking the device's signed
	// punches (integrity.go).
	PunchChain *chainJSON `json:"punch_chain"`
	// Updates (web_releases.go): the architecture the kiosk reports, the
	// version chosen for it, and its latest update report.
	Arch         string      `json:"arch"`
	UpdateTarget *targetJSON `json:"update_target"`
	Update       *updateJSON `json:"update"`
}

type chainJSON struct {
	Signed       bool               `json:"signed"` // the device has sent signed punches
	OK           bool               `json:"ok"`     // nothing found wrong
	UnsignedLate int                `json:"unsigned_after_signed"`
	Problems     []chainProblemJSON `json:"problems"`
}

type chainProblemJSON struct {
	Kind        string    `json:"kind"` // gap, bad_signature, broken_link, replay, edit
	ChainID     string    `json:"chain_id"`
	Seq         int64     `json:"seq"`
	PunchID     string    `json:"punch_id"`
	Received    time.Time `json:"received_at"`
	MissingFrom int64     `json:"missing_from,omitempty"` // gap: the missing sequence numbers (from 0: the start of the chain)
	MissingTo   int64     `json:"missing_to,omitempty"`
	Text        string    `json:"text"`
}

// chainToJSON is a device's chain report for the API.
func chainToJSON(r ChainReport, loc *time.Location) *chainJSON {
	j := &chainJSON{Signed: r.Signed, OK: r.OK(), UnsignedLate: r.UnsignedLate, Problems: []chainProblemJSON{}}
	for _, p := range r.Problems {
		j.Problems = append(j.Problems, chainProblemJSON{Kind: p.Kind, ChainID: p.ChainID, Seq: p.Seq, PunchID: p.PunchID,
			Received: p.Received.In(loc), MissingFrom: p.MissingFrom, MissingTo: p.MissingTo, Text: p.Words()})
	}
	return j
}

// withChain adds each device's chain report to its JSON.
func (o *Office) withChain(js []deviceJSON, loc *time.Location) error {
	for i := range js {
		r, err := o.store.ChainReport(js[i].ID)
		if err != nil {
			return err
		}
		js[i].PunchChain = chainToJSON(r, loc)
	}
	return nil
}

func deviceToJSON(d Device, current string, loc *time.Location) deviceJSON {
	j := deviceJSON{
		ID: d.ID, Nickname: d.Nickname, Hardware: d.Hardware, Version: d.Version, InstallationID: d.InstallationID,
		EnrolledAt: d.EnrolledAt.In(loc), LastCheckIn: jsonTime(d.LastCheckIn, loc),
		RosterVersion: d.RosterVersion, RosterCurrent: d.RosterVersion == current, Waiting: d.Waiting,
		OldestWaiting: jsonTime(d.OldestWaiting, loc), Camera: string(d.Camera),
		Disabled: d.Disabled(), DisabledAt: jsonTime(d.DisabledAt, loc), DisabledBy: d.DisabledBy, GoodbyeAt: jsonTime(d.GoodbyeAt, loc),
	}
	j.CameraText, _ = cameraWords(d)
	if d.LastUsedBy != "" {
		j.LastUsedBy = &refJSON{ID: d.LastUsedBy, Name: d.LastUsedByName}
	}
	return j
}

func (o *Office) apiDevices(w http.ResponseWriter, r *http.Request, _ Admin) {
	ds, err := o.store.Devices()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	cur, err := o.store.RosterVersion()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	loc := o.zone()
	out := make([]deviceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceToJSON(d, cur, loc))
	}
	if err := o.withChain(out, loc); err != nil {
		o.apiFail(w, r, err)
		return
	}
	if err := o.withUpdates(out, ds, loc); err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		RosterVersion string       `json:"roster_version"`
		Devices       []deviceJSON `json:"devices"`
	}{cur, out})
}

func (o *Office) apiDevice(w http.ResponseWriter, r *http.Request, _ Admin) {
	o.writeDevice(w, r, r.PathValue("id"))
}

func (o *Office) writeDevice(w http.ResponseWriter, r *http.Request, id string) {
	d, err := o.store.Device(id)
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	cur, err := o.store.RosterVersion()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	js := []deviceJSON{deviceToJSON(d, cur, o.zone())}
	if err := o.withChain(js, o.zone()); err != nil {
		o.apiFail(w, r, err)
		return
	}
	if err := o.withUpdates(js, []Device{d}, o.zone()); err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, js[0])
}

func (o *Office) apiDisableDevice(w http.ResponseWriter, r *http.Request, a Admin) {
	if !optionalBody(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := o.store.DisableDevice(id, a.Username, o.now()); err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.writeDevice(w, r, id)
}

type employeeJSON struct {
	ID           string `json:"id"`
	Number       string `json:"number"`
	Name         string `json:"name"`
	RoleID       string `json:"role_id"`
	Active       bool   `json:"active"`
	PhotoConsent bool   `json:"photo_consent"`
	Language     string `json:"language"`
}

func employeeToJSON(e Employee) employeeJSON {
	return employeeJSON{ID: e.ID, Number: e.Number, Name: e.Name, RoleID: e.RoleID, Active: e.Active, PhotoConsent: e.PhotoConsent, Language: string(e.Language)}
}

func (o *Office) apiEmployees(w http.ResponseWriter, r *http.Request, _ Admin) {
	es, err := o.store.Employees()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	out := make([]employeeJSON, 0, len(es))
	for _, e := range es {
		out = append(out, employeeToJSON(e))
	}
	writeJSON(w, http.StatusOK, struct {
		Employees []employeeJSON `json:"employees"`
	}{out})
}

func (o *Office) apiEmployee(w http.ResponseWriter, r *http.Request, _ Admin) {
	e, err := o.store.Employee(r.PathValue("id"))
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, employeeToJSON(e))
}

// employeePatch is an employee in a request; nil fields are left out.
type employeePatch struct {
	Number       *string `json:"number"`
	Name         *string `json:"name"`
	RoleID       *string `json:"role_id"`
	Active       *bool   `json:"active"`
	PhotoConsent *bool   `json:"photo_consent"`
	Language     *string `json:"language"`
	PIN          *string `json:"pin"`
}

func (p employeePatch) apply(in *employeeInput) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&in.Number, p.Number)
	set(&in.Name, p.Name)
	set(&in.RoleID, p.RoleID)
	set(&in.PIN, p.PIN)
	if p.Language != nil {
		in.Language = roster.Lang(*p.Language)
	}
	if p.Active != nil {
		in.Active = *p.Active
	}
	if p.PhotoConsent != nil {
		in.PhotoConsent = *p.PhotoConsent
	}
}

func (o *Office) apiCreateEmployee(w http.ResponseWriter, r *http.Request, a Admin) {
	var p employeePatch
	if !decodeBody(w, r, &p) {
		return
	}
	in := employeeInput{Employee: Employee{Active: true}}
	p.apply(&in)
	e, err := o.saveEmployee("", in)
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.log.Info("employee added by an admin", "employee_id", e.ID, "admin", a.Username)
	writeJSON(w, http.StatusCreated, employeeToJSON(e))
}

func (o *Office) apiUpdateEmployee(w http.ResponseWriter, r *http.Request, a Admin) {
	var p employeePatch
	if !decodeBody(w, r, &p) {
		return
	}
	cur, err := o.store.Employee(r.PathValue("id"))
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	in := employeeInput{Employee: cur}
	p.apply(&in)
	if p.PIN != nil && *p.PIN == "" {
		o.apiFail(w, r, badField("pin", "Leave pin out to keep the current PIN, or give 4 to 8 digits."))
		return
	}
	e, err := o.saveEmployee(cur.ID, in)
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.log.Info("employee changed by an admin", "employee_id", e.ID, "admin", a.Username)
	writeJSON(w, http.StatusOK, employeeToJSON(e))
}

type roleJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FaceFront bool   `json:"face_front"`
	ClockFor  bool   `json:"clock_for"`
}

func roleToJSON(r roster.Role) roleJSON {
	return roleJSON{ID: r.ID, Name: r.Name, FaceFront: r.FaceFront, ClockFor: r.ClockFor}
}

func (o *Office) apiRoles(w http.ResponseWriter, r *http.Request, _ Admin) {
	rs, err := o.store.Roles()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	out := make([]roleJSON, 0, len(rs))
	for _, ro := range rs {
		out = append(out, roleToJSON(ro))
	}
	writeJSON(w, http.StatusOK, struct {
		Roles []roleJSON `json:"roles"`
	}{out})
}

func (o *Office) apiCreateRole(w http.ResponseWriter, r *http.Request, a Admin) {
	var req roleJSON
	if !decodeBody(w, r, &req) {
		return
	}
	ro, err := o.createRole(roster.Role{ID: req.ID, Name: req.Name, FaceFront: req.FaceFront, ClockFor: req.ClockFor})
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, roleToJSON(ro))
}

func (o *Office) apiUpdateRole(w http.ResponseWriter, r *http.Request, a Admin) {
	var req struct {
		Name      *string `json:"name"`
		FaceFront *bool   `json:"face_front"`
		ClockFor  *bool   `json:"clock_for"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Name != nil && strings.TrimSpace(*req.Name) == "" {
		o.apiFail(w, r, badField("name", "Give the role a name, or leave name out to keep it."))
		return
	}
	ro, err := o.store.UpdateRole(r.PathValue("id"), RoleUpdate{Name: req.Name, FaceFront: req.FaceFront, ClockFor: req.ClockFor})
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, roleToJSON(ro))
}

type deviceSettingsJSON struct {
	Nickname       string  `json:"nickname"`
	Timezone       string  `json:"timezone"`
	Language       string  `json:"language"`
	PhotoRotation  int     `json:"photo_rotation"`
	ScreenTimeout  float64 `json:"screen_timeout_seconds"`
	SavedScreen    float64 `json:"saved_screen_seconds"`
	PhotoCountdown float64 `json:"photo_countdown_seconds"`
	PhotoPreview   float64 `json:"photo_preview_seconds"`
	MessageScreen  float64 `json:"message_screen_seconds"`
}

func deviceSettingsToJSON(st roster.Settings) deviceSettingsJSON {
	return deviceSettingsJSON{
		Nickname: st.Nickname, Timezone: st.Timezone, Language: string(st.Language), PhotoRotation: st.PhotoRotation,
		ScreenTimeout: st.ScreenTimeout.Seconds(), SavedScreen: st.SavedScreen.Seconds(), PhotoCountdown: st.PhotoCountdown.Seconds(),
		PhotoPreview: st.PhotoPreview.Seconds(), MessageScreen: st.MessageScreen.Seconds(),
	}
}

type companyJSON struct {
	Name               string  `json:"name"`
	SyncEvery          float64 `json:"sync_every_seconds"`
	PhotoRetentionDays int     `json:"photo_retention_days"`
	SetupCodePeriod    float64 `json:"setup_code_period_seconds"`
	RosterVersion      string  `json:"roster_version"`
}

func companyToJSON(c Company) companyJSON {
	return companyJSON{Name: c.Name, SyncEvery: c.SyncEvery.Seconds(), PhotoRetentionDays: c.PhotoRetentionDays,
		SetupCodePeriod: c.SetupCodePeriod.Seconds(), RosterVersion: c.RosterVersion}
}

type purgeJSON struct {
	At            *time.Time `json:"at"`
	Deleted       int        `json:"deleted"`
	RetentionDays int        `json:"retention_days"`
}

func (o *Office) apiSettings(w http.ResponseWriter, r *http.Request, _ Admin) {
	st, err := o.store.Settings()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	c, err := o.store.Company()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	last, lastDel, err := o.store.PhotoPurges()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	loc := o.zone()
	pj := func(p PhotoPurge) purgeJSON {
		return purgeJSON{At: jsonTime(p.At, loc), Deleted: p.Deleted, RetentionDays: p.RetentionDays}
	}
	writeJSON(w, http.StatusOK, struct {
		Device            deviceSettingsJSON `json:"device"`
		Company           companyJSON        `json:"company"`
		LastPhotoPurge    purgeJSON          `json:"last_photo_purge"`
		LastDeletingPurge purgeJSON          `json:"last_photo_purge_that_deleted"`
	}{deviceSettingsToJSON(st), companyToJSON(c), pj(last), pj(lastDel)})
}

func (o *Office) apiUpdateDeviceSettings(w http.ResponseWriter, r *http.Request, a Admin) {
	var in deviceSettingsInput
	if !decodeBody(w, r, &in) {
		return
	}
	st, err := o.updateDeviceSettings(in)
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.log.Info("device settings changed by an admin", "admin", a.Username)
	writeJSON(w, http.StatusOK, deviceSettingsToJSON(st))
}

func (o *Office) apiUpdateCompany(w http.ResponseWriter, r *http.Request, a Admin) {
	var in companyInput
	if !decodeBody(w, r, &in) {
		return
	}
	c, err := o.updateCompany(in)
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, companyToJSON(c))
}

type punchJSON struct {
	ID             string     `json:"id"`
	Direction      string     `json:"direction"`
	At             time.Time  `json:"at"`
	DeviceID       string     `json:"device_id"`
	DeviceNickname string     `json:"device_nickname"`
	Photo          *photoJSON `json:"photo"`
	NoPhoto        string     `json:"no_photo"`
	Note           string     `json:"note"`
	ClockedBy      *refJSON   `json:"clocked_by"`
	// How far at can be trusted: the server's time by the kiosk's boot
	// clock (time_verified), or the kiosk's own clock, unverified.
	DeviceAt     time.Time     `json:"device_at"`
	TimeVerified bool          `json:"time_verified"`
	TimeNote     string        `json:"time_note"`
	Clock        clockJSON     `json:"clock"`
	Integrity    integrityJSON `json:"integrity"`
}

type clockJSON struct {
	Synced   bool `json:"synced"`   // the kiosk's kernel had its clock synchronised
	Anchored bool `json:"anchored"` // the kiosk had heard the server's time during that boot
	Behind   bool `json:"behind"`   // the kiosk's clock read earlier than a time it had recorded before
}

type integrityJSON struct {
	Status      string `json:"status"`
	Problem     bool   `json:"problem"`
	Text        string `json:"text"`
	MissingFrom int64  `json:"missing_from,omitempty"`
	MissingTo   int64  `json:"missing_to,omitempty"`
}

type photoJSON struct {
	SHA256 string `json:"sha256"`
	State  string `json:"state"`
	URL    string `json:"url,omitempty"`
}

type pairJSON struct {
	In      *punchJSON `json:"in"`
	Out     *punchJSON `json:"out"`
	Hours   string     `json:"hours"`
	Seconds float64    `json:"seconds"`
	Problem string     `json:"problem"`
	Open    bool       `json:"open"`
	// TimeVerified is false when the hours rest on a punch whose time the
	// office could not check (time_verified false on the punch).
	TimeVerified bool `json:"time_verified"`
}

type dayJSON struct {
	Date    string     `json:"date"`
	Pairs   []pairJSON `json:"pairs"`
	Hours   string     `json:"hours"`
	Seconds float64    `json:"seconds"`
}

type timecardJSON struct {
	Employee  employeeJSON `json:"employee"`
	WeekStart string       `json:"week_start"`
	Timezone  string       `json:"timezone"`
	Days      []dayJSON    `json:"days"`
	Hours     string       `json:"hours"`
	Seconds   float64      `json:"seconds"`
}

func punchToJSON(p *punchCard) *punchJSON {
	if p == nil {
		return nil
	}
	j := &punchJSON{ID: p.ID, Direction: string(p.Direction), At: p.At, DeviceID: p.DeviceID, DeviceNickname: p.DeviceName,
		NoPhoto: string(p.NoPhoto), Note: p.Note,
		DeviceAt: p.DeviceAt, TimeVerified: p.TimeVerified, TimeNote: timeWords(p),
		Clock: clockJSON{Synced: p.Clock.Synced, Anchored: p.Clock.Anchored, Behind: p.Clock.Behind},
		Integrity: integrityJSON{Status: p.Integrity.Status, Problem: p.Integrity.Problem(), Text: p.Integrity.Words(),
			MissingFrom: p.Integrity.MissingFrom, MissingTo: p.Integrity.MissingTo}}
	if p.PhotoSHA256 != "" {
		j.Photo = &photoJSON{SHA256: p.PhotoSHA256, State: p.PhotoState}
		if p.PhotoState == photoShown {
			j.Photo.URL = apiPrefix + "photos/" + p.PhotoSHA256
		}
	}
	if p.ClockedByID != "" {
		j.ClockedBy = &refJSON{ID: p.ClockedByID, Name: p.ClockedByName}
	}
	return j
}

func timecardToJSON(c weekCard) timecardJSON {
	j := timecardJSON{Employee: employeeToJSON(c.Employee), WeekStart: c.Start.Format(time.DateOnly), Timezone: c.Zone.String(),
		Hours: timecard.FormatHours(c.Total), Seconds: c.Total.Seconds(), Days: make([]dayJSON, 0, 7)}
	for _, d := range c.Days {
		dj := dayJSON{Date: d.Date.Format(time.DateOnly), Hours: timecard.FormatHours(d.Total), Seconds: d.Total.Seconds(), Pairs: []pairJSON{}}
		for _, p := range d.Pairs {
			dj.Pairs = append(dj.Pairs, pairJSON{In: punchToJSON(p.In), Out: punchToJSON(p.Out), Hours: timecard.FormatHours(p.Hours),
				Seconds: p.Hours.Seconds(), Problem: p.Problem, Open: p.Open, TimeVerified: !p.Unverified})
		}
		j.Days = append(j.Days, dj)
	}
	return j
}

// parseWeek reads the week query parameter: any date of the week, as
// YYYY-MM-DD; empty means this week.
func (o *Office) parseWeek(s string) (time.Time, error) {
	if s == "" {
		return o.now(), nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, o.zone())
	if err != nil {
		return time.Time{}, badField("week", "Give a date of the week as YYYY-MM-DD, for example 2026-11-23.")
	}
	return t.Add(12 * time.Hour), nil
}

func (o *Office) apiTimecard(w http.ResponseWriter, r *http.Request, _ Admin) {
	day, err := o.parseWeek(r.URL.Query().Get("week"))
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	c, err := o.timecard(r.Context(), r.PathValue("id"), day)
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, timecardToJSON(c))
}

func (o *Office) apiPhoto(w http.ResponseWriter, r *http.Request, _ Admin) {
	o.servePhoto(w, r, true)
}

// servePhoto answers with the photo named in the path.
func (o *Office) servePhoto(w http.ResponseWriter, r *http.Request, api bool) {
	sha := r.PathValue("sha")
	var err error
	if !ValidSHA256(sha) {
		err = errorf(ErrNotFound, "backoffice: %q is not a photo's SHA-256", sha)
	}
	var b []byte
	if err == nil {
		b, err = o.store.Photo(sha)
	}
	if err != nil {
		if api {
			o.apiFail(w, r, err)
			return
		}
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, ErrPhotoDeleted):
			status = http.StatusGone
		default:
			o.log.Error("reading a photo failed", "err", err)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	// A photo never changes (it is named by its hash), but it is personal
	// data: only this browser may keep it, and not for long.
	// no-store: a photo the retention rule deleted must not live on in a
	// browser's cache.
	w.Header().Set("Cache-Control", "private, no-store")
	w.Write(b)
}

type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Token      string     `json:"token,omitempty"`
}

func tokenToJSON(t APIToken, loc *time.Location) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt.In(loc),
		LastUsedAt: jsonTime(t.LastUsed, loc), RevokedAt: jsonTime(t.RevokedAt, loc)}
}

func (o *Office) apiTokens(w http.ResponseWriter, r *http.Request, _ Admin) {
	ts, err := o.store.APITokens()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	loc := o.zone()
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenToJSON(t, loc))
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []tokenJSON `json:"tokens"`
	}{out})
}

func (o *Office) apiCreateToken(w http.ResponseWriter, r *http.Request, a Admin) {
	var req struct {
		Name string `json:"name"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		o.apiFail(w, r, badField("name", "Give the token a name that says what it is for, such as \"payroll export\"."))
		return
	}
	t, secret, err := o.store.CreateAPIToken(a.ID, req.Name, o.now())
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	j := tokenToJSON(t, o.zone())
	j.Token = secret
	writeJSON(w, http.StatusCreated, j)
}

func (o *Office) apiRevokeToken(w http.ResponseWriter, r *http.Request, a Admin) {
	id := r.PathValue("id")
	if err := o.store.RevokeAPIToken(id, o.now()); err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.log.Info("API token revoked by an admin", "token_id", id, "admin", a.Username)
	ts, err := o.store.APITokens()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	for _, t := range ts {
		if t.ID == id {
			writeJSON(w, http.StatusOK, tokenToJSON(t, o.zone()))
			return
		}
	}
	o.apiFail(w, r, errorf(ErrNotFound, "backoffice: no API token %q", id))
}
