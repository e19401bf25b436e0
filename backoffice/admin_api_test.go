package backoffice

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

func TestAPISetupCode(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	var got setupCodeJSON
	r := e.api("GET", "setup-code", token, nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &got)
	if got.Code != e.code() || !got.NextChange.Equal(t0.Add(DefaultSetupCodePeriod)) {
		t.Errorf("setup code %+v", got)
	}
	r = e.api("POST", "setup-code/rotate", token, nil)
	r.wantStatus(t, http.StatusOK)
	var rotated setupCodeJSON
	r.decode(t, &rotated)
	if rotated.Code == got.Code || rotated.Code != e.code() || len(rotated.Code) != SetupCodeDigits {
		t.Errorf("rotated %+v, was %+v", rotated, got)
	}
	e.api("POST", "setup-code/rotate", token, `{"now": true}`).wantAPIError(t, http.StatusBadRequest, "bad_request", "now")
	if e.code() != rotated.Code {
		t.Errorf("a refused rotation rotated")
	}
}

func TestAPISendSetupCode(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	r := e.api("POST", "setup-code/send", token, map[string]string{"phone": "(555) 234-5678"})
	r.wantStatus(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"sent_to":"+15552345678"`) {
		t.Errorf("answer %s", r.body)
	}
	msgs := e.sms.messages()
	if len(msgs) != 1 || msgs[0].to != "+15552345678" || !strings.Contains(msgs[0].body, e.code()) || !strings.Contains(msgs[0].body, "Acme Framing") {
		t.Fatalf("sent %+v", msgs)
	}
	for _, bad := range []string{"+44 20 7946 0958", "555-1234", "call me", ""} {
		er := e.api("POST", "setup-code/send", token, map[string]string{"phone": bad}).wantAPIError(t, http.StatusBadRequest, "invalid", "phone")
		if !strings.Contains(er.Message, "US") {
			t.Errorf("%q: message %q does not say US numbers only", bad, er.Message)
		}
	}
	e.api("POST", "setup-code/send", token, `{"phone": 5552345678}`).wantAPIError(t, http.StatusBadRequest, "bad_request", "phone")
	e.sms.fail = errGateway
	e.api("POST", "setup-code/send", token, map[string]string{"phone": "555 234 5678"}).wantAPIError(t, http.StatusBadGateway, "sms_failed", "")
	if len(e.sms.messages()) != 1 {
		t.Errorf("messages: %+v", e.sms.messages())
	}
	if log := e.log.String(); strings.Contains(log, "5552345678") || !strings.Contains(log, "*******5678") {
		t.Errorf("phone numbers in the log are not masked:\n%s", log)
	}

	// Without a gateway.
	off := newOfficeEnv(t, OfficeOptions{})
	off.office.sms = nil
	off.api("POST", "setup-code/send", off.apiToken(), map[string]string{"phone": "555 234 5678"}).wantAPIError(t, http.StatusServiceUnavailable, "sms_not_configured", "")
}

func TestAPIDevices(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	id, devToken := e.enrollDevice("Gate trailer")
	e.postPunches(devToken, newPunch(e.ben, 1, punch.In, 0))

	var list struct {
		RosterVersion string       `json:"roster_version"`
		Devices       []deviceJSON `json:"devices"`
	}
	r := e.api("GET", "devices", token, nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &list)
	if len(list.Devices) != 1 {
		t.Fatalf("devices %s", r.body)
	}
	d := list.Devices[0]
	if d.ID != id || d.Nickname != "Gate trailer" || d.Version != "1.2.0" || !d.RosterCurrent || d.LastUsedBy == nil || d.LastUsedBy.Name != "Ben Cole" ||
		d.Disabled || d.CameraText != "working" || d.LastCheckIn == nil {
		t.Errorf("device %+v", d)
	}
	// A roster change makes it outdated.
	if _, err := e.store.UpdateRole("worker", RoleUpdate{FaceFront: new(false)}); err != nil {
		t.Fatal(err)
	}
	r = e.api("GET", "devices/"+id, token, nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &d)
	if d.RosterCurrent {
		t.Errorf("still current after a role change: %+v", d)
	}
	e.api("GET", "devices/nope", token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")

	r = e.api("POST", "devices/"+id+"/disable", token, nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &d)
	if !d.Disabled || d.DisabledBy != e.admin.Username || d.DisabledAt == nil {
		t.Errorf("disabled %+v", d)
	}
	// The kiosk hears it at its next check-in.
	var ci protocol.CheckInResponse
	e.do("POST", protocol.PathCheckIn, devToken, protocol.CheckIn{}).decode(t, &ci)
	if !ci.Disabled {
		t.Errorf("the kiosk was not told")
	}
	e.api("POST", "devices/nope/disable", token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")
	e.api("POST", "devices/"+id+"/disable", token, "[").wantAPIError(t, http.StatusBadRequest, "bad_request", "")
}

func TestAPIEmployees(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	var list struct{ Employees []employeeJSON }
	r := e.api("GET", "employees", token, nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &list)
	if len(list.Employees) != 3 || list.Employees[0].Name != "Ana Ruiz" {
		t.Errorf("employees %s", r.body)
	}
	if strings.Contains(strings.ToLower(string(r.body)), "pin") {
		t.Errorf("PINs in the list: %s", r.body)
	}
	version := mustRoster(t, e.store).Version

	r = e.api("POST", "employees", token, map[string]any{"number": "2001", "name": "Dana Lee", "role_id": "worker", "pin": "864209", "photo_consent": true, "language": "es"})
	r.wantStatus(t, http.StatusCreated)
	var dana employeeJSON
	r.decode(t, &dana)
	if dana.ID == "" || !dana.Active || !dana.PhotoConsent || dana.Language != "es" || strings.Contains(string(r.body), "864209") {
		t.Errorf("created %s", r.body)
	}
	ro := mustRoster(t, e.store)
	if m, ok := ro.MatchPIN("864209"); !ok || m.ID != dana.ID || ro.Version == version {
		t.Errorf("new PIN does not match Dana in the new roster (%s)", ro.Version)
	}

	before := count(t, e.store, "employees")
	for _, c := range []struct {
		body   any
		status int
		code   string
		field  string
	}{
		{map[string]any{"number": "2002", "name": "X", "role_id": "worker"}, 400, "invalid", "pin"},
		{map[string]any{"number": "2002", "name": "X", "role_id": "worker", "pin": "12"}, 400, "invalid", "pin"},
		{map[string]any{"number": "20a2", "name": "X", "role_id": "worker", "pin": "1234"}, 400, "invalid", "number"},
		{map[string]any{"number": "2002", "name": " ", "role_id": "worker", "pin": "1234"}, 400, "invalid", "name"},
		{map[string]any{"number": "2002", "name": "X", "role_id": "boss", "pin": "1234"}, 400, "invalid", "role_id"},
		{map[string]any{"number": "2002", "name": "X", "role_id": "worker", "pin": "1234", "language": "fr"}, 400, "invalid", "language"},
		{map[string]any{"number": "1001", "name": "X", "role_id": "worker", "pin": "1234"}, 409, "number_taken", "number"},
		{map[string]any{"number": "2002", "name": "X", "role_id": "worker", "pin": "2222"}, 409, "pin_taken", "pin"},
		{map[string]any{"number": "2002", "name": "X", "role_id": "worker", "pin": "1234", "salary": 1}, 400, "bad_request", "salary"},
		{`{"number": "2002",`, 400, "bad_request", ""},
		{`{"name": "` + strings.Repeat("x", maxAPIBody) + `"}`, 413, "too_large", ""},
		{`{"number": "2002"} {}`, 400, "bad_request", ""},
		{"", 400, "bad_request", ""},
	} {
		e.api("POST", "employees", token, c.body).wantAPIError(t, c.status, c.code, c.field)
	}
	if count(t, e.store, "employees") != before {
		t.Fatalf("a refused create wrote an employee")
	}

	r = e.api("GET", "employees/"+dana.ID, token, nil)
	r.wantStatus(t, http.StatusOK)
	e.api("GET", "employees/nope", token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")

	r = e.api("PATCH", "employees/"+dana.ID, token, map[string]any{"name": "Dana Lee-Park", "active": false})
	r.wantStatus(t, http.StatusOK)
	var got employeeJSON
	r.decode(t, &got)
	if got.Name != "Dana Lee-Park" || got.Active || got.Number != "2001" || !got.PhotoConsent {
		t.Errorf("patched %+v", got)
	}
	if _, ok := mustRoster(t, e.store).MatchPIN("864209"); ok {
		t.Errorf("an inactive employee's PIN matches")
	}
	// Nothing half-written: a refused patch leaves the employee as it was.
	e.api("PATCH", "employees/"+dana.ID, token, map[string]any{"name": "Someone Else", "number": "1002"}).wantAPIError(t, http.StatusConflict, "number_taken", "number")
	e.api("PATCH", "employees/"+dana.ID, token, map[string]any{"pin": ""}).wantAPIError(t, http.StatusBadRequest, "invalid", "pin")
	e.api("PATCH", "employees/"+dana.ID, token, map[string]any{"active": true, "pin": "1111"}).wantAPIError(t, http.StatusConflict, "pin_taken", "pin")
	e.api("PATCH", "employees/nope", token, map[string]any{"name": "X"}).wantAPIError(t, http.StatusNotFound, "not_found", "")
	if cur, _ := e.store.Employee(dana.ID); cur.Name != "Dana Lee-Park" || cur.Number != "2001" || cur.Active {
		t.Errorf("after refused patches: %+v", cur)
	}
	r = e.api("PATCH", "employees/"+dana.ID, token, map[string]any{"active": true, "pin": "97531"})
	r.wantStatus(t, http.StatusOK)
	if m, ok := mustRoster(t, e.store).MatchPIN("97531"); !ok || m.ID != dana.ID {
		t.Errorf("new PIN not in the roster")
	}
	if log := e.log.String(); strings.Contains(log, "864209") || strings.Contains(log, "97531") {
		t.Errorf("a PIN is in the log")
	}
}

func TestAPIRoles(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	var list struct{ Roles []roleJSON }
	r := e.api("GET", "roles", token, nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &list)
	if len(list.Roles) != 3 {
		t.Errorf("roles %s", r.body)
	}
	r = e.api("POST", "roles", token, map[string]any{"name": "Site Lead", "face_front": true, "clock_for": true})
	r.wantStatus(t, http.StatusCreated)
	var lead roleJSON
	r.decode(t, &lead)
	if lead != (roleJSON{ID: "site-lead", Name: "Site Lead", FaceFront: true, ClockFor: true}) {
		t.Errorf("created %+v", lead)
	}
	e.api("POST", "roles", token, map[string]any{"name": "site lead"}).wantAPIError(t, http.StatusConflict, "role_exists", "name")
	e.api("POST", "roles", token, map[string]any{"name": ""}).wantAPIError(t, http.StatusBadRequest, "invalid", "name")
	e.api("POST", "roles", token, map[string]any{"id": "Bad ID", "name": "x"}).wantAPIError(t, http.StatusBadRequest, "invalid", "id")
	if n := count(t, e.store, "roles"); n != 4 {
		t.Errorf("%d roles", n)
	}

	version := mustRoster(t, e.store).Version
	r = e.api("PATCH", "roles/worker", token, map[string]any{"face_front": false})
	r.wantStatus(t, http.StatusOK)
	var w roleJSON
	r.decode(t, &w)
	ro := mustRoster(t, e.store)
	if w.FaceFront || w.Name != "Worker" || ro.Version == version || ro.RoleOf(roster.Employee{RoleID: "worker"}).FaceFront {
		t.Errorf("after turning FaceFront off: %+v, roster %s", w, ro.Version)
	}
	e.api("PATCH", "roles/nope", token, map[string]any{"clock_for": true}).wantAPIError(t, http.StatusNotFound, "not_found", "")
	e.api("PATCH", "roles/worker", token, map[string]any{"face_front": "no"}).wantAPIError(t, http.StatusBadRequest, "bad_request", "face_front")
	e.api("PATCH", "roles/worker", token, map[string]any{"name": " "}).wantAPIError(t, http.StatusBadRequest, "invalid", "name")
}

func TestAPISettings(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	var got struct {
		Device  deviceSettingsJSON
		Company companyJSON
		Last    purgeJSON `json:"last_photo_purge"`
	}
	r := e.api("GET", "settings", token, nil)
	r.wantStatus(t, http.StatusOK)
	r.decode(t, &got)
	if got.Device.ScreenTimeout != 20 || got.Device.PhotoPreview != 1.5 || got.Company.SyncEvery != 300 || got.Company.SetupCodePeriod != 7*86400 || got.Last.At != nil {
		t.Errorf("settings %s", r.body)
	}
	r = e.api("PATCH", "settings/device", token, map[string]any{"photo_rotation": 90, "timezone": "America/Chicago", "screen_timeout_seconds": 45, "language": "es"})
	r.wantStatus(t, http.StatusOK)
	st, _ := e.store.Settings()
	if st.PhotoRotation != 90 || st.Timezone != "America/Chicago" || st.ScreenTimeout != 45*time.Second || st.Language != roster.Spanish || st.Nickname != roster.DefaultSettings.Nickname {
		t.Errorf("stored %+v", st)
	}
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"photo_rotation": 45}, "photo_rotation"},
		{map[string]any{"timezone": "Mars/Olympus"}, "timezone"},
		{map[string]any{"screen_timeout_seconds": -1}, "screen_timeout_seconds"},
		{map[string]any{"language": "de"}, "language"},
		{map[string]any{"nickname": ""}, "nickname"},
	} {
		e.api("PATCH", "settings/device", token, c.body).wantAPIError(t, http.StatusBadRequest, "invalid", c.field)
	}
	// Out of a kiosk's range: the store's own check.
	e.api("PATCH", "settings/device", token, map[string]any{"screen_timeout_seconds": 3600}).wantAPIError(t, http.StatusBadRequest, "invalid", "")
	e.api("PATCH", "settings/device", token, map[string]any{"rotation": 90}).wantAPIError(t, http.StatusBadRequest, "bad_request", "rotation")
	if st2, _ := e.store.Settings(); st2 != st {
		t.Errorf("a refused change changed the settings: %+v", st2)
	}

	r = e.api("PATCH", "settings/company", token, map[string]any{"photo_retention_days": 30, "sync_every_seconds": 120, "setup_code_period_seconds": 86400})
	r.wantStatus(t, http.StatusOK)
	c, _ := e.store.Company()
	if c.PhotoRetentionDays != 30 || c.SyncEvery != 2*time.Minute || c.SetupCodePeriod != 24*time.Hour || c.Name != "Acme Framing" {
		t.Errorf("company %+v", c)
	}
	e.api("PATCH", "settings/company", token, map[string]any{"sync_every_seconds": 5}).wantAPIError(t, http.StatusBadRequest, "invalid", "sync_every_seconds")
	e.api("PATCH", "settings/company", token, map[string]any{"photo_retention_days": -1}).wantAPIError(t, http.StatusBadRequest, "invalid", "photo_retention_days")
	e.api("PATCH", "settings/company", token, map[string]any{"setup_code_period_seconds": 60}).wantAPIError(t, http.StatusBadRequest, "invalid", "setup_code_period_seconds")
	e.api("PATCH", "settings/company", token, map[string]any{"roster_version": "r1"}).wantAPIError(t, http.StatusBadRequest, "bad_request", "roster_version")
	if c2, _ := e.store.Company(); c2.CompanySettings != c.CompanySettings {
		t.Errorf("a refused change changed the company: %+v", c2)
	}
}

func TestAPITokens(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	r := e.api("POST", "tokens", token, map[string]string{"name": "payroll export"})
	r.wantStatus(t, http.StatusCreated)
	var made tokenJSON
	r.decode(t, &made)
	if !strings.HasPrefix(made.Token, "sca_") || made.CreatedBy != e.admin.Username || made.Name != "payroll export" {
		t.Fatalf("made %+v", made)
	}
	e.api("GET", "setup-code", made.Token, nil).wantStatus(t, http.StatusOK)
	r = e.api("GET", "tokens", token, nil)
	r.wantStatus(t, http.StatusOK)
	if strings.Contains(string(r.body), made.Token) || strings.Contains(string(r.body), `"token"`) {
		t.Errorf("the list shows a secret: %s", r.body)
	}
	e.api("POST", "tokens", token, map[string]string{"name": " "}).wantAPIError(t, http.StatusBadRequest, "invalid", "name")
	r = e.api("DELETE", "tokens/"+made.ID, token, nil)
	r.wantStatus(t, http.StatusOK)
	var revoked tokenJSON
	r.decode(t, &revoked)
	if revoked.RevokedAt == nil {
		t.Errorf("revoked %+v", revoked)
	}
	e.api("GET", "setup-code", made.Token, nil).wantAPIError(t, http.StatusUnauthorized, "unauthorized", "")
	e.api("DELETE", "tokens/nope", token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")
	e.api("GET", "nothing-here", token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")
}

// timecardPunches puts a known week of Ben's punches on a kiosk: Monday
// 7:00–15:30 (the IN with a photo, the OUT by Ana with Clock For),
// Tuesday an IN without an OUT, Wednesday night 22:00 to Thursday 6:15.
// It returns the photo's hash and the punches.
func timecardPunches(t testing.TB, e *officeEnv, devToken string, jpeg []byte) (string, []protocol.Punch) {
	t.Helper()
	if _, err := e.store.SetSettings(roster.Settings{Timezone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	at := func(day, h, m int) time.Time { return time.Date(2026, 11, 23+day, h, m, 0, 0, chicago) }
	sha := sha256hex(jpeg)
	mk := func(seq int64, dir punch.Direction, when time.Time) protocol.Punch {
		return protocol.Punch{ID: uuid.NewString(), Seq: seq, EmployeeID: e.ben.ID, EmployeeNumber: e.ben.Number, Direction: dir,
			At: when, BootTimeNS: seq, BootID: "boot-1", NoPhoto: punch.NoConsent}
	}
	ps := []protocol.Punch{
		mk(1, punch.In, at(0, 7, 0)),
		mk(2, punch.Out, at(0, 15, 30)),
		mk(3, punch.In, at(1, 7, 0)),
		mk(4, punch.In, at(2, 22, 0)),
		mk(5, punch.Out, at(3, 6, 15)),
	}
	ps[0].NoPhoto, ps[0].PhotoSHA256 = punch.PhotoTaken, sha
	ps[1].NoPhoto, ps[1].ClockedBy = punch.ClockFor, e.ana.ID
	ps[3].NoPhoto = punch.RoleFaceFrontOff
	ps[4].NoPhoto = punch.CameraError
	for _, res := range e.postPunches(devToken, ps...) {
		if res.Status != protocol.Accepted {
			t.Fatalf("punch %+v", res)
		}
	}
	e.putPhoto(devToken, sha, ps[0].ID, jpeg).wantStatus(t, http.StatusOK)
	e.clock.Advance(4 * 24 * time.Hour) // Friday
	return sha, ps
}

func TestAPITimecard(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	_, devToken := e.enrollDevice("Gate trailer")
	jpeg := testJPEG(1)
	sha, ps := timecardPunches(t, e, devToken, jpeg)

	r := e.api("GET", "employees/"+e.ben.ID+"/timecard?week=2026-11-25", token, nil)
	r.wantStatus(t, http.StatusOK)
	var tc timecardJSON
	r.decode(t, &tc)
	if tc.WeekStart != "2026-11-23" || tc.Timezone != "America/Chicago" || tc.Hours != "16.75" || len(tc.Days) != 7 || tc.Employee.ID != e.ben.ID {
		t.Fatalf("timecard %s", r.body)
	}
	mon, tue, wed, thu := tc.Days[0], tc.Days[1], tc.Days[2], tc.Days[3]
	if mon.Date != "2026-11-23" || mon.Hours != "8.50" || len(mon.Pairs) != 1 {
		t.Fatalf("Monday %+v", mon)
	}
	in, out := mon.Pairs[0].In, mon.Pairs[0].Out
	if in.ID != ps[0].ID || in.At.Format(time.RFC3339) != "2026-11-23T07:00:00-06:00" || in.Photo == nil || in.Photo.State != "available" ||
		in.Photo.URL != "/api/admin/v1/photos/"+sha || in.DeviceNickname != "Gate trailer" {
		t.Errorf("Monday IN %+v photo %+v", in, in.Photo)
	}
	if out.ClockedBy == nil || out.ClockedBy.Name != "Ana Ruiz" || out.NoPhoto != "clock_for" || out.Note != "no photo: clocked by Ana Ruiz with Clock For" || out.Photo != nil {
		t.Errorf("Monday OUT %+v", out)
	}
	if len(tue.Pairs) != 1 || tue.Pairs[0].Out != nil || tue.Pairs[0].Problem != "missing OUT" || tue.Hours != "0.00" ||
		tue.Pairs[0].In.Note != "no photo: no photo consent is on record for this employee" {
		t.Errorf("Tuesday %+v", tue)
	}
	if len(wed.Pairs) != 1 || wed.Pairs[0].Hours != "8.25" || wed.Pairs[0].Out.Note != "no photo: the camera failed when the photo was taken" ||
		wed.Pairs[0].In.Note != "no photo: FaceFront is off for this employee's role" || len(thu.Pairs) != 0 {
		t.Errorf("Wednesday %+v Thursday %+v", wed, thu)
	}

	// The photo, through the API.
	r = e.api("GET", "photos/"+sha, token, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/jpeg" || string(r.body) != string(jpeg) {
		t.Errorf("photo: %d %s", r.status, r.header.Get("Content-Type"))
	}
	e.api("GET", "photos/"+strings.Repeat("b", 64), token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")
	e.api("GET", "photos/../../office.db", token, nil).wantStatus(t, http.StatusNotFound)

	// The week before is empty; a bad week and an unknown employee are refused.
	r = e.api("GET", "employees/"+e.ben.ID+"/timecard?week=2026-11-22", token, nil)
	r.decode(t, &tc)
	if tc.WeekStart != "2026-11-16" || tc.Hours != "0.00" {
		t.Errorf("week before: %s", r.body)
	}
	e.api("GET", "employees/"+e.ben.ID+"/timecard?week=23/11/2026", token, nil).wantAPIError(t, http.StatusBadRequest, "invalid", "week")
	e.api("GET", "employees/nope/timecard", token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")

	// After the retention rule deleted the photo, the timecard says so.
	if _, err := e.store.UpdateCompany(CompanySettings{Name: "Acme Framing", SyncEvery: DefaultSyncEvery, SetupCodePeriod: DefaultSetupCodePeriod, PhotoRetentionDays: 3}); err != nil {
		t.Fatal(err)
	}
	p, err := e.store.ApplyPhotoRetention(e.clock.Now())
	if err != nil || p.Deleted != 1 || p.RetentionDays != 3 {
		t.Fatalf("purge %+v %v", p, err)
	}
	r = e.api("GET", "employees/"+e.ben.ID+"/timecard?week=2026-11-23", token, nil)
	r.decode(t, &tc)
	in = tc.Days[0].Pairs[0].In
	if in.Photo == nil || in.Photo.State != "deleted" || in.Photo.URL != "" || in.Note != "photo deleted after 3 days (retention)" {
		t.Errorf("purged photo: %+v %+v", in, in.Photo)
	}
	e.api("GET", "photos/"+sha, token, nil).wantAPIError(t, http.StatusGone, "photo_deleted", "")
	var st struct {
		Last    purgeJSON `json:"last_photo_purge"`
		LastDel purgeJSON `json:"last_photo_purge_that_deleted"`
	}
	e.api("GET", "settings", token, nil).decode(t, &st)
	if st.Last.At == nil || st.Last.Deleted != 1 || st.LastDel.Deleted != 1 {
		t.Errorf("settings purge: %+v", st)
	}
	// A later run that deletes nothing is the latest; the one that did
	// stays known.
	e.clock.Advance(time.Hour)
	if _, err := e.store.ApplyPhotoRetention(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.api("GET", "settings", token, nil).decode(t, &st)
	if st.Last.Deleted != 0 || !st.Last.At.Equal(e.clock.Now()) || st.LastDel.Deleted != 1 {
		t.Errorf("settings purge after a second run: %+v", st)
	}
}
