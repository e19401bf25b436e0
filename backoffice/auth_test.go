package backoffice

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestAdminPasswords(t *testing.T) {
	s := openStore(t)
	if _, err := s.CreateAdmin("bob", "short", t0); !strings.Contains(err.Error(), "at least 12") {
		t.Errorf("short password: %v", err)
	}
	if _, err := s.CreateAdmin("bob smith", testPassword, t0); err == nil {
		t.Errorf("a user name with a space was taken")
	}
	if _, err := s.CreateAdmin("bob", strings.Repeat("x", 73), t0); err == nil {
		t.Errorf("a password bcrypt would cut was taken")
	}
	a, err := s.CreateAdmin("Bob", testPassword, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAdmin("bob", testPassword+"!", t0); !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second bob: %v", err)
	}
	var hash string
	if err := s.r.QueryRow(`SELECT password_hash FROM admins WHERE id = ?`, a.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost < 12 || strings.Contains(hash, testPassword) {
		t.Errorf("stored hash %q: cost %d, %v", hash, cost, err)
	}
	if got, err := s.CheckAdminPassword("BOB", testPassword); err != nil || got.ID != a.ID {
		t.Errorf("check with the right password: %+v %v", got, err)
	}
	for _, c := range [][2]string{{"bob", "wrong password!"}, {"nobody", testPassword}, {"", ""}} {
		if _, err := s.CheckAdminPassword(c[0], c[1]); err != ErrBadLogin {
			t.Errorf("check %q: %v, want ErrBadLogin", c[0], err)
		}
	}
	if err := s.SetAdminPassword("bob", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckAdminPassword("bob", testPassword); err != ErrBadLogin {
		t.Errorf("old password still works: %v", err)
	}
}

func TestSignIn(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.browser()

	r := b.get("/devices")
	if r.status != http.StatusSeeOther || r.location != "/signin?next=%2Fdevices" {
		t.Fatalf("signed out: %d to %q", r.status, r.location)
	}
	for _, c := range []struct{ user, pw string }{{e.admin.Username, "wrong password!"}, {"nobody@example.com", testPassword}} {
		r = b.signIn(c.user, c.pw)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong user name or password.") {
			t.Errorf("sign in as %s: %d\n%s", c.user, r.status, r.body)
		}
	}
	// A deep link survives the sign-in.
	token := b.csrf("/signin?next=/timecards%3Fweek%3D2026-11-23")
	r = b.do("POST", "/signin", url.Values{"csrf": {token}, "username": {e.admin.Username}, "password": {testPassword}, "next": {"/timecards?week=2026-11-23"}})
	if r.status != http.StatusSeeOther || r.location != "/timecards?week=2026-11-23" {
		t.Fatalf("sign in: %d to %q\n%s", r.status, r.location, r.body)
	}
	var session *http.Cookie
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "siteclock_session=") {
			session, _ = http.ParseSetCookie(c)
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure || session.Path != "/" || len(session.Value) < 43 {
		t.Fatalf("session cookie %+v", session)
	}
	if n := count(t, e.store, "admin_sessions"); n != 1 {
		t.Errorf("%d sessions stored", n)
	}
	var stored []byte
	e.store.r.QueryRow(`SELECT id_sha256 FROM admin_sessions`).Scan(&stored)
	if string(stored) == session.Value || strings.Contains(string(stored), session.Value) {
		t.Errorf("the session ID is stored as it is")
	}
	if r := b.get("/devices"); r.status != http.StatusOK || !strings.Contains(r.body, "Approved devices") {
		t.Fatalf("devices: %d", r.status)
	}
	if r := b.get("/signin"); r.status != http.StatusSeeOther {
		t.Errorf("sign-in page while signed in: %d", r.status)
	}
	// An open redirect is refused.
	if localPath("//evil.example/x") != "/" || localPath("https://evil.example") != "/" || localPath("/\\evil") != "/" {
		t.Errorf("localPath lets a foreign address through")
	}

	r = b.post("/devices", "/signout", nil)
	if r.status != http.StatusSeeOther || r.location != "/signin" {
		t.Fatalf("sign out: %d %q", r.status, r.location)
	}
	if r := b.get("/devices"); r.status != http.StatusSeeOther {
		t.Errorf("after signing out: %d", r.status)
	}
	// The old session cookie is dead on the server too.
	b2 := e.browser()
	u, _ := url.Parse(e.web.URL)
	b2.client.Jar.SetCookies(u, []*http.Cookie{{Name: "siteclock_session", Value: session.Value}})
	if r := b2.get("/devices"); r.status != http.StatusSeeOther {
		t.Errorf("a signed-out session still works: %d", r.status)
	}
	if n := count(t, e.store, "admin_sessions"); n != 0 {
		t.Errorf("%d sessions left after signing out", n)
	}
	log := e.log.String()
	if !strings.Contains(log, "admin signed in") || strings.Contains(log, testPassword) || strings.Contains(log, session.Value) {
		t.Errorf("log:\n%s", log)
	}
}

func TestSecureCookies(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{Secure: true})
	b := e.browser()
	r := b.get("/signin")
	c, err := http.ParseSetCookie(r.header.Get("Set-Cookie"))
	if err != nil || c.Name != "__Host-siteclock_signin" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("sign-in cookie %+v %v", c, err)
	}
	m := csrfRE.FindStringSubmatch(r.body)
	req, _ := http.NewRequest("POST", e.web.URL+"/signin", strings.NewReader(url.Values{"csrf": {m[1]}, "username": {e.admin.Username}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, v := range resp.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(v); err == nil && c.Name == "__Host-siteclock_session" {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("sign in: %d, session cookie %+v", resp.StatusCode, session)
	}
}

// A name typed at sign-in is logged only when it is an admin's: an unknown
// one may be a password typed into the wrong field.
func TestFailedSignInLog(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	e.browser().signIn("Tr0ub4dor&3-horse", "x")
	e.browser().signIn(e.admin.Username, "x")
	log := e.log.String()
	if strings.Contains(log, "Tr0ub4dor") || !strings.Contains(log, "(unknown user name)") || !strings.Contains(log, "admin="+e.admin.Username) {
		t.Errorf("log:\n%s", log)
	}
}

func TestSessionExpires(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.signedIn()
	e.clock.Advance(SessionIdle - time.Minute)
	if r := b.get("/employees"); r.status != http.StatusOK {
		t.Fatalf("before the idle limit: %d", r.status)
	}
	// That request counted as activity.
	e.clock.Advance(SessionIdle - time.Minute)
	if r := b.get("/employees"); r.status != http.StatusOK {
		t.Fatalf("active session: %d", r.status)
	}
	e.clock.Advance(SessionIdle + time.Second)
	if r := b.get("/employees"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/signin") {
		t.Fatalf("idle session: %d %q", r.status, r.location)
	}
	// However busy, a session ends SessionMax after sign-in.
	b = e.signedIn()
	for i := 0; i < 20; i++ {
		e.clock.Advance(SessionIdle - time.Hour)
		if r := b.get("/roles"); r.status != http.StatusOK {
			if time.Duration(i+1)*(SessionIdle-time.Hour) <= SessionMax {
				t.Fatalf("session ended after %v", time.Duration(i+1)*(SessionIdle-time.Hour))
			}
			return
		}
	}
	t.Errorf("session outlived SessionMax")
}

func TestSignInRateLimit(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{
		SignInPerUser:    Rate{PerMinute: 1, Burst: 3},
		SignInPerAddress: Rate{PerMinute: 2, Burst: 5},
	})
	b := e.browser()
	for i := 0; i < 3; i++ {
		if r := b.signIn(e.admin.Username, "wrong password!"); r.status != http.StatusUnauthorized {
			t.Fatalf("try %d: %d", i, r.status)
		}
	}
	// Locked now, even with the right password.
	r := b.signIn(e.admin.Username, testPassword)
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many failed sign-ins. Wait 1 minute") || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th try: %d %q\n%s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Another user from the same address has the address's tokens left.
	if _, err := e.store.CreateAdmin("bo", testPassword, t0); err != nil {
		t.Fatal(err)
	}
	if r := b.signIn("bo", "wrong password!"); r.status != http.StatusUnauthorized {
		t.Fatalf("other user: %d", r.status)
	}
	if r := b.signIn("nobody", "wrong password!"); r.status != http.StatusUnauthorized {
		t.Fatalf("the address's 5th failure: %d", r.status)
	}
	if r := b.signIn("nobody", "wrong password!"); r.status != http.StatusTooManyRequests {
		t.Fatalf("the address's 6th failure: %d", r.status)
	}
	e.clock.Advance(time.Minute)
	if r := b.signIn(e.admin.Username, testPassword); r.status != http.StatusSeeOther {
		t.Fatalf("a minute later: %d\n%s", r.status, r.body)
	}
	// Successes cost nothing.
	for i := 0; i < 6; i++ {
		if r := e.browser().signIn("bo", testPassword); r.status != http.StatusSeeOther {
			t.Fatalf("success %d: %d", i, r.status)
		}
	}
	if !strings.Contains(e.log.String(), "sign-in rate-limited") {
		t.Errorf("rate limiting not logged")
	}
}

func TestSignInFormToken(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.browser()
	b.csrf("/signin")
	// Wrong token, and a post from another site.
	if r := b.do("POST", "/signin", url.Values{"csrf": {"nope"}, "username": {e.admin.Username}, "password": {testPassword}}); r.status != http.StatusForbidden {
		t.Errorf("wrong sign-in token: %d", r.status)
	}
	token := b.csrf("/signin")
	if r := b.do("POST", "/signin", url.Values{"csrf": {token}, "username": {e.admin.Username}, "password": {testPassword}},
		"Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d", r.status)
	}
	if n := count(t, e.store, "admin_sessions"); n != 0 {
		t.Errorf("%d sessions", n)
	}
}

// Every page needs a session; a form post without one changes nothing.
func TestPagesNeedSession(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.browser()
	for _, p := range []string{"/devices", "/employees", "/employees/new", "/employees/" + e.ben.ID, "/roles", "/settings",
		"/timecards", "/tokens", "/photos/" + strings.Repeat("a", 64), "/devices/x/disable"} {
		r := b.get(p)
		if r.status != http.StatusSeeOther || r.location != "/signin?next="+url.QueryEscape(p) {
			t.Errorf("GET %s: %d to %q", p, r.status, r.location)
		}
	}
	before := count(t, e.store, "employees")
	r := b.do("POST", "/employees/new", url.Values{"name": {"Zed"}, "number": {"7"}, "pin": {"7777"}, "role_id": {"worker"}, "active": {"on"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/signin") {
		t.Errorf("POST without a session: %d %q", r.status, r.location)
	}
	if count(t, e.store, "employees") != before {
		t.Errorf("an employee was added without a session")
	}
	if r := b.get("/"); r.status != http.StatusSeeOther || r.location != "/devices" {
		t.Errorf("/: %d %q", r.status, r.location)
	}
	if r := b.get("/static/admin.css"); r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

// A form post needs the session's CSRF token and must come from this site;
// otherwise 403 and nothing is written.
func TestCSRF(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	b := e.signedIn()
	form := func() url.Values {
		return url.Values{"name": {"Zed Ames"}, "number": {"2001"}, "pin": {"8642"}, "role_id": {"worker"}, "active": {"on"}}
	}
	token := b.csrf("/employees/new")
	before := count(t, e.store, "employees")
	code := e.code()
	for _, c := range []struct {
		name   string
		path   string
		form   url.Values
		header []string
	}{
		{"no token", "/employees/new", form(), nil},
		{"wrong token", "/employees/new", withToken(form(), "x"+token), nil},
		{"another session's token", "/employees/new", withToken(form(), e.signedIn().csrf("/employees")), nil},
		{"cross-site Origin", "/employees/new", withToken(form(), token), []string{"Origin", "https://evil.example"}},
		{"cross-site fetch", "/employees/new", withToken(form(), token), []string{"Sec-Fetch-Site", "cross-site"}},
		{"rotate without token", "/devices/setup-code/rotate", url.Values{}, nil},
		{"sign out without token", "/signout", url.Values{}, nil},
	} {
		r := b.do("POST", c.path, c.form, c.header...)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "403") {
			t.Errorf("%s: %d\n%s", c.name, r.status, r.body)
		}
	}
	if count(t, e.store, "employees") != before || e.code() != code {
		t.Fatalf("a refused post wrote something")
	}
	if r := b.get("/devices"); r.status != http.StatusOK {
		t.Fatalf("the refused sign-out signed out: %d", r.status)
	}
	// Same-origin with the right token goes through.
	r := b.do("POST", "/employees/new", withToken(form(), token), "Origin", e.web.URL, "Sec-Fetch-Site", "same-origin")
	if r.status != http.StatusSeeOther || count(t, e.store, "employees") != before+1 {
		t.Fatalf("a good post: %d\n%s", r.status, r.body)
	}
}

func withToken(v url.Values, token string) url.Values {
	v.Set("csrf", token)
	return v
}

func TestAPIAuth(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	e.api("GET", "employees", "", nil).wantAPIError(t, http.StatusUnauthorized, "unauthorized", "")
	e.api("GET", "employees", "sca_wrong", nil).wantAPIError(t, http.StatusUnauthorized, "unauthorized", "")
	e.api("GET", "employees", "not-even-the-form", nil).wantAPIError(t, http.StatusUnauthorized, "unauthorized", "")
	if r := e.api("GET", "employees", "", nil); r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("no WWW-Authenticate")
	}

	// A session cookie alone is not accepted on the API.
	b := e.signedIn()
	u, _ := url.Parse(e.web.URL)
	req, _ := http.NewRequest("POST", e.web.URL+apiPrefix+"setup-code/rotate", nil)
	for _, c := range b.client.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	code := e.code()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || e.code() != code {
		t.Errorf("API with a session cookie: %d", resp.StatusCode)
	}

	r := e.api("GET", "employees", token, nil)
	r.wantStatus(t, http.StatusOK)
	ts, _ := e.store.APITokens()
	if len(ts) != 1 || ts[0].LastUsed.IsZero() {
		t.Errorf("tokens %+v", ts)
	}
	if err := e.store.RevokeAPIToken(ts[0].ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.api("GET", "employees", token, nil).wantAPIError(t, http.StatusUnauthorized, "unauthorized", "")
	// The token is stored as its hash only.
	var n int
	e.store.r.QueryRow(`SELECT count(*) FROM admin_tokens WHERE token_sha256 = ?`, tokenHash(token)).Scan(&n)
	if n != 1 {
		t.Errorf("token not stored as its SHA-256")
	}
	if strings.Contains(e.log.String(), token) {
		t.Errorf("the token is in the log")
	}
	// A disabled admin's tokens stop working.
	token = e.apiToken()
	if _, err := e.store.w.Exec(`UPDATE admins SET disabled_at_ns = 1`); err != nil {
		t.Fatal(err)
	}
	e.api("GET", "employees", token, nil).wantAPIError(t, http.StatusUnauthorized, "unauthorized", "")
	if r := b.get("/devices"); r.status != http.StatusSeeOther {
		t.Errorf("a disabled admin's session still works: %d", r.status)
	}
}
