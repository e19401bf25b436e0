package backoffice

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/roster"
)

// wantPage checks a page's status and that it says each of want.
func wantPage(t *testing.T, r webReply, status int, want ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
	for _, w := range want {
		if !strings.Contains(r.body, w) {
			t.Errorf("page does not say %q:\n%s", w, r.body)
		}
	}
}

// followed posts a form and returns the page it redirects to.
func (b *browser) followed(from, path string, form url.Values) webReply {
	b.t.Helper()
	r := b.post(from, path, form)
	if r.status != http.StatusSeeOther {
		b.t.Fatalf("POST %s: %d, want a redirect\n%s", path, r.status, r.body)
	}
	return b.get(r.location)
}

func TestDevicesPage(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.signedIn()
	id, devToken := e.enrollDevice("Gate trailer")
	e.postPunches(devToken, newPunch(e.ben, 1, punch.In, 0))
	gone, _ := e.enrollDevice("Old kiosk")

	code := e.code()
	r := b.get("/devices")
	wantPage(t, r, http.StatusOK, `data-code="`+code+`"`, groupDigits(code), "Mon Nov 30, 7:00 AM", "in 7 days",
		"Gate trailer", "Ben Cole", "Simulator", "1.2.0", shortID(id), "latest (r4)", "working", "Rotate now", "Add a device", "Refresh",
		"No disabled devices.")

	// Rotate now.
	r = b.followed("/devices", "/devices/setup-code/rotate", nil)
	if e.code() == code {
		t.Fatalf("code not rotated")
	}
	wantPage(t, r, http.StatusOK, "New setup code "+groupDigits(e.code()), `data-code="`+e.code()+`"`)

	// Text it to a technician; a number that is not a US one is refused
	// with a message next to the field.
	r = b.post("/devices", "/devices/setup-code/send", url.Values{"phone": {"+44 20 7946 0958"}})
	wantPage(t, r, http.StatusBadRequest, `id="phone-error"`, "only US numbers are supported", `value="&#43;44 20 7946 0958"`)
	if len(e.sms.messages()) != 0 {
		t.Fatalf("sent %+v", e.sms.messages())
	}
	r = b.followed("/devices", "/devices/setup-code/send", url.Values{"phone": {"555.234.5678"}})
	wantPage(t, r, http.StatusOK, "Sent the setup code by text message to &#43;*******5678.")
	if m := e.sms.messages(); len(m) != 1 || m[0].to != "+15552345678" || !strings.Contains(m[0].body, e.code()) {
		t.Errorf("sent %+v", m)
	}
	e.sms.fail = errGateway
	wantPage(t, b.post("/devices", "/devices/setup-code/send", url.Values{"phone": {"555.234.5678"}}), http.StatusBadGateway, "The SMS gateway did not take the message")

	// Disable, with a confirmation page first.
	r = b.get("/devices/" + gone + "/disable")
	wantPage(t, r, http.StatusOK, "Disable Old kiosk?", "stops punching")
	if d, _ := e.store.Device(gone); d.Disabled() {
		t.Fatalf("disabled by the confirmation page")
	}
	r = b.followed("/devices/"+gone+"/disable", "/devices/"+gone+"/disable", nil)
	wantPage(t, r, http.StatusOK, "Disabled Old kiosk.", "Disabled Date", "waiting for its last transmission")
	disabled := r.body[strings.Index(r.body, `id="disabled"`):]
	if !strings.Contains(disabled, "Old kiosk") || !strings.Contains(disabled, `<td class="disabled-by">`+e.admin.Username+`</td>`) {
		t.Errorf("disabled table:\n%s", disabled)
	}
	approved := r.body[strings.Index(r.body, `id="approved"`):strings.Index(r.body, `id="disabled"`)]
	if strings.Contains(approved, "Old kiosk") || !strings.Contains(approved, "Gate trailer") {
		t.Errorf("approved table:\n%s", approved)
	}
	if d, _ := e.store.Device(gone); d.DisabledBy != e.admin.Username {
		t.Errorf("disabled by %q", d.DisabledBy)
	}
	// A roster change shows the kiosk outdated.
	e.store.UpdateRole("worker", RoleUpdate{ClockFor: new(true)})
	wantPage(t, b.get("/devices"), http.StatusOK, "outdated (r4)")
	wantPage(t, b.get("/devices/nope/disable"), http.StatusNotFound, "not found")
}

func TestEmployeePages(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.signedIn()
	wantPage(t, b.get("/employees"), http.StatusOK, "Ana Ruiz", "Ben Cole", "Carla Diaz", "Foreman", "Add an employee")
	wantPage(t, b.get("/employees/new"), http.StatusOK, `name="pin"`, "4 to 8 digits")

	form := url.Values{"name": {"Dana Lee"}, "number": {"1001"}, "pin": {"2222"}, "role_id": {"worker"}, "active": {"on"}, "language": {"es"}}
	r := b.post("/employees/new", "/employees/new", form)
	wantPage(t, r, http.StatusBadRequest, `id="number-error"`, "Another employee has this number", `value="Dana Lee"`)
	if strings.Contains(r.body, `value="2222"`) {
		t.Errorf("the PIN is written back into the page")
	}
	form.Set("number", "2001")
	wantPage(t, b.post("/employees/new", "/employees/new", form), http.StatusBadRequest, `id="pin-error"`, "Another active employee has this PIN")
	form.Set("pin", "12")
	wantPage(t, b.post("/employees/new", "/employees/new", form), http.StatusBadRequest, `id="pin-error"`, "A PIN is 4 to 8 digits.")
	form.Set("pin", "")
	wantPage(t, b.post("/employees/new", "/employees/new", form), http.StatusBadRequest, `id="pin-error"`)
	form.Set("pin", "9753")
	r = b.followed("/employees/new", "/employees/new", form)
	wantPage(t, r, http.StatusOK, "Added Dana Lee.", "Dana Lee")
	var dana Employee
	es, _ := e.store.Employees()
	for _, x := range es {
		if x.Name == "Dana Lee" {
			dana = x
		}
	}
	if dana.Number != "2001" || !dana.Active || dana.PhotoConsent || dana.Language != roster.Spanish {
		t.Fatalf("stored %+v", dana)
	}

	// Edit: a blank PIN keeps it.
	r = b.get("/employees/" + dana.ID)
	wantPage(t, r, http.StatusOK, "Edit Dana Lee", "Leave blank to keep the current PIN")
	edit := url.Values{"name": {"Dana Lee"}, "number": {"2001"}, "pin": {""}, "role_id": {"foreman"}, "active": {"on"}, "photo_consent": {"on"}}
	wantPage(t, b.followed("/employees/"+dana.ID, "/employees/"+dana.ID, edit), http.StatusOK, "Saved Dana Lee.")
	if m, ok := mustRoster(t, e.store).MatchPIN("9753"); !ok || m.ID != dana.ID || m.RoleID != "foreman" || !m.PhotoConsent {
		t.Errorf("after edit: %+v %v", m, ok)
	}
	wantPage(t, b.get("/employees/nope"), http.StatusNotFound)
	if strings.Contains(e.log.String(), "9753") {
		t.Errorf("PIN in the log")
	}
}

func TestRolesPage(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.signedIn()
	r := b.get("/roles")
	wantPage(t, r, http.StatusOK, "FaceFront", "Clock For", `data-role-id="worker"`)
	// Turn FaceFront off for workers: the form says the state it wants.
	r = b.followed("/roles", "/roles/worker", url.Values{"flag": {"face_front"}, "on": {"0"}})
	wantPage(t, r, http.StatusOK, "FaceFront is off for Worker.")
	ro := mustRoster(t, e.store).RoleOf(roster.Employee{RoleID: "worker"})
	if ro.FaceFront || ro.ClockFor {
		t.Errorf("worker %+v", ro)
	}
	// Sent twice, it stays off.
	b.followed("/roles", "/roles/worker", url.Values{"flag": {"face_front"}, "on": {"0"}})
	if mustRoster(t, e.store).RoleOf(roster.Employee{RoleID: "worker"}).FaceFront {
		t.Errorf("a repeated post toggled")
	}
	wantPage(t, b.post("/roles", "/roles/worker", url.Values{"flag": {"admin"}, "on": {"1"}}), http.StatusBadRequest)
	wantPage(t, b.post("/roles", "/roles/nope", url.Values{"flag": {"clock_for"}, "on": {"1"}}), http.StatusNotFound)

	r = b.followed("/roles", "/roles", url.Values{"name": {"Site Lead"}, "clock_for": {"on"}})
	wantPage(t, r, http.StatusOK, "Added the role Site Lead.", `data-role-id="site-lead"`)
	wantPage(t, b.post("/roles", "/roles", url.Values{"name": {"site lead"}}), http.StatusBadRequest, "exists already")
	wantPage(t, b.post("/roles", "/roles", url.Values{"name": {""}}), http.StatusBadRequest, "Type the role&#39;s name.")
}

func TestSettingsPage(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.signedIn()
	wantPage(t, b.get("/settings"), http.StatusOK, "Photo rotation", "Screen timeout", "Default language", "Time zone",
		"Auto-sync threshold", `value="5"`, "Photos are kept (0 days)", "The retention rule has not run yet.", `value="7"`)
	dev := url.Values{"photo_rotation": {"180"}, "screen_timeout_seconds": {"30"}, "language": {"es"}, "timezone": {"America/Denver"}, "nickname": {"Site kiosk"}}
	wantPage(t, b.followed("/settings", "/settings/device", dev), http.StatusOK, "Saved the device settings.")
	st, _ := e.store.Settings()
	if st.PhotoRotation != 180 || st.ScreenTimeout != 30*time.Second || st.Language != roster.Spanish || st.Timezone != "America/Denver" || st.Nickname != "Site kiosk" {
		t.Errorf("settings %+v", st)
	}
	dev.Set("timezone", "Nowhere/Land")
	r := b.post("/settings", "/settings/device", dev)
	wantPage(t, r, http.StatusBadRequest, "is not a time zone", `value="Nowhere/Land"`)
	dev.Set("timezone", "UTC")
	dev.Set("screen_timeout_seconds", "soon")
	wantPage(t, b.post("/settings", "/settings/device", dev), http.StatusBadRequest, "Give a number of seconds above 0.")
	if st2, _ := e.store.Settings(); st2 != st {
		t.Errorf("refused forms changed the settings: %+v", st2)
	}

	co := url.Values{"name": {"Acme Framing LLC"}, "sync_every_minutes": {"2"}, "photo_retention_days": {"30"}, "setup_code_period_days": {"14"}}
	wantPage(t, b.followed("/settings", "/settings/company", co), http.StatusOK, "Saved the company settings.",
		"Photos older than 30 days are deleted", "Acme Framing LLC")
	c, _ := e.store.Company()
	if c.Name != "Acme Framing LLC" || c.SyncEvery != 2*time.Minute || c.PhotoRetentionDays != 30 || c.SetupCodePeriod != 14*24*time.Hour {
		t.Errorf("company %+v", c)
	}
	co.Set("sync_every_minutes", "0.1")
	wantPage(t, b.post("/settings", "/settings/company", co), http.StatusBadRequest, "Between 30 seconds and 24 hours.")
	co.Set("sync_every_minutes", "2")
	co.Set("photo_retention_days", "-3")
	wantPage(t, b.post("/settings", "/settings/company", co), http.StatusBadRequest, "Between 0 (keep photos)")

	e.clock.Advance(time.Hour)
	if _, err := e.store.ApplyPhotoRetention(e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	wantPage(t, b.get("/settings"), http.StatusOK, "The last check ran Mon Nov 23, 1:00 AM (2 hours ago) and deleted 0 photos.")
}

var imgRE = regexp.MustCompile(`<img src="(/photos/[0-9a-f]{64})"`)

func TestTimecardPage(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	_, devToken := e.enrollDevice("Gate trailer")
	jpeg := testJPEG(2)
	sha, _ := timecardPunches(t, e, devToken, jpeg)
	if _, err := e.store.SetSettings(roster.Settings{Timezone: "America/Chicago", PhotoRotation: 90}); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn()
	wantPage(t, b.get("/timecards"), http.StatusOK, "Choose an employee")
	r := b.get("/timecards?employee=" + e.ben.ID + "&week=2026-11-24")
	wantPage(t, r, http.StatusOK, "Ben Cole", "Week of Mon Nov 23, 2026", "7:00 AM", "3:30 PM", "8.50", "8.25", "16.75",
		"clocked by Ana Ruiz", "no photo: clocked by Ana Ruiz with Clock For", "missing OUT", "no photo: FaceFront is off for this employee&#39;s role",
		`class="frame rot90"`, "no punches", "at Gate trailer")
	m := imgRE.FindStringSubmatch(r.body)
	if m == nil || m[1] != "/photos/"+sha {
		t.Fatalf("no photo on the timecard")
	}
	// The photo route needs a session.
	if p := b.get(m[1]); p.status != http.StatusOK || p.header.Get("Content-Type") != "image/jpeg" || p.body != string(jpeg) {
		t.Errorf("photo: %d %s", p.status, p.header.Get("Content-Type"))
	}
	if p := e.browser().get(m[1]); p.status != http.StatusSeeOther {
		t.Errorf("photo without a session: %d", p.status)
	}
	if p := b.get("/photos/" + strings.Repeat("c", 64)); p.status != http.StatusNotFound {
		t.Errorf("unknown photo: %d", p.status)
	}
	wantPage(t, b.get("/timecards?employee="+e.ben.ID+"&week=soon"), http.StatusBadRequest, "Give a date as YYYY-MM-DD")
}

func TestTokensPage(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.signedIn()
	wantPage(t, b.get("/tokens"), http.StatusOK, "No API tokens yet.")
	r := b.post("/tokens", "/tokens", url.Values{"name": {"payroll export"}})
	wantPage(t, r, http.StatusOK, "it is shown only this once", "payroll export")
	m := regexp.MustCompile(`id="new-token" readonly value="(sca_[A-Za-z0-9_-]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no token shown:\n%s", r.body)
	}
	e.api("GET", "roles", m[1], nil).wantStatus(t, http.StatusOK)
	r = b.get("/tokens")
	if strings.Contains(r.body, m[1]) {
		t.Errorf("the token is shown again")
	}
	ts, _ := e.store.APITokens()
	wantPage(t, b.followed("/tokens", "/tokens/"+ts[0].ID+"/revoke", nil), http.StatusOK, "Revoked the token", "revoked")
	e.api("GET", "roles", m[1], nil).wantStatus(t, http.StatusUnauthorized)
	wantPage(t, b.post("/tokens", "/tokens", url.Values{"name": {""}}), http.StatusBadRequest, "Give the token a name")
	wantPage(t, b.get("/no/such/page"), http.StatusNotFound, "There is no page /no/such/page here.")
}
