package backoffice

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Default sign-in limits, on failed attempts only: a person who mistypes
// never meets them; a guesser gets a few tries a minute per user name and
// per address.
var (
	DefaultSignInPerUser    = Rate{PerMinute: 1, Burst: 5}
	DefaultSignInPerAddress = Rate{PerMinute: 5, Burst: 20}
)

// maxFormBytes bounds a form post; the largest (an employee) is far below.
const maxFormBytes = 64 << 10

// cookieNames are the two cookies the web UI sets. With TLS they carry the
// __Host- prefix: the browser then takes them only over HTTPS, for this
// host and path /, so another site on the domain cannot plant one.
type cookieNames struct{ session, signin, flash string }

func newCookieNames(secure bool) cookieNames {
	if secure {
		return cookieNames{session: "__Host-siteclock_session", signin: "__Host-siteclock_signin", flash: "__Host-siteclock_flash"}
	}
	return cookieNames{session: "siteclock_session", signin: "siteclock_signin", flash: "siteclock_flash"}
}

// cookie returns a cookie for this UI: HttpOnly, SameSite=Lax, path /,
// Secure with TLS, and a browser-session cookie (no expiry: the server
// ends sessions, see SessionIdle).
func (o *Office) cookie(name, value string) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: o.secure, SameSite: http.SameSiteLaxMode}
}

func (o *Office) clearCookie(w http.ResponseWriter, name string) {
	c := o.cookie(name, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// failLimiter limits failed sign-ins per user name and per address with
// token buckets: an attempt takes a token from both (refused if either is
// empty) and a success gives them back, so only failures count.
type failLimiter struct {
	perUser, perAddr Rate

	mu      sync.Mutex
	buckets map[string]*bucket // "u:" + user name, "a:" + address
}

func newFailLimiter(perUser, perAddr Rate) *failLimiter {
	return &failLimiter{perUser: perUser, perAddr: perAddr, buckets: map[string]*bucket{}}
}

func (l *failLimiter) get(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k, b := range l.buckets {
				r := l.perAddr
				if strings.HasPrefix(k, "u:") {
					r = l.perUser
				}
				b.wait(r, now)
				if b.tokens >= float64(r.Burst) {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{}
		l.buckets[key] = b
	}
	return b
}

// take takes a token for an attempt, or says how long to wait.
func (l *failLimiter) take(user, addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, a := l.get("u:"+strings.ToLower(user), now), l.get("a:"+addr, now)
	if w := max(u.wait(l.perUser, now), a.wait(l.perAddr, now)); w > 0 {
		return false, w
	}
	u.tokens--
	a.tokens--
	return true, 0
}

// refund gives back the tokens of an attempt that succeeded.
func (l *failLimiter) refund(user, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.buckets["u:"+strings.ToLower(user)]; u != nil {
		u.tokens = math.Min(u.tokens+1, float64(l.perUser.Burst))
	}
	if a := l.buckets["a:"+addr]; a != nil {
		a.tokens = math.Min(a.tokens+1, float64(l.perAddr.Burst))
	}
}

// sessionFrom returns the request's live session, or ok false.
func (o *Office) sessionFrom(r *http.Request) (string, adminSession, bool) {
	c, err := r.Cookie(o.cookies.session)
	if err != nil || c.Value == "" {
		return "", adminSession{}, false
	}
	sess, err := o.store.session(c.Value, o.now())
	if err != nil {
		if !errors.Is(err, ErrUnauthorized) {
			o.log.Error("reading a session failed", "err", err)
		}
		return "", adminSession{}, false
	}
	return c.Value, sess, true
}

// pageHandler is a web UI handler for a signed-in admin.
type pageHandler func(w http.ResponseWriter, r *http.Request, sess adminSession)

// signedIn lets a request through to h only with a live session: without
// one, the browser is sent to sign in (and back here afterwards). A POST
// must also come from this site (Sec-Fetch-Site or Origin) and carry the
// session's CSRF token in the form; otherwise it is refused with 403 and
// nothing is done.
func (o *Office) signedIn(h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, sess, ok := o.sessionFrom(r)
		if !ok {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				next = r.Header.Get("Referer")
				if u, err := url.Parse(next); err == nil {
					next = u.RequestURI()
				}
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(localPath(next)), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := o.crossOrigin.Check(r); err != nil {
				o.log.Warn("cross-site form post refused", "path", r.URL.Path, "admin", sess.Admin.Username)
				o.forbidden(w, r, &sess, "This form was sent from another site, so it was refused. Open the page in siteclock and send it from there.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				o.renderError(w, r, &sess, http.StatusBadRequest, "The form could not be read. Go back, reload the page and try again.")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.CSRF)) != 1 {
				o.log.Warn("form post without the session's CSRF token refused", "path", r.URL.Path, "admin", sess.Admin.Username)
				o.forbidden(w, r, &sess, "This form is out of date (it was opened in an earlier session) or did not come from siteclock, so nothing was changed. Reload the page and try again.")
				return
			}
		}
		h(w, r, sess)
	}
}

// localPath returns p if it is a path on this site, else "/": the
// sign-in page redirects there, and must not send anyone elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n") || strings.HasPrefix(p, "/signin") {
		return "/"
	}
	return p
}

// signinForm is the sign-in page's data.
type signinForm struct {
	Username string
	Next     string
	Token    string // the pre-session token the form carries
	Error    string
}

func (o *Office) signinPage(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := o.sessionFrom(r); ok {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	o.renderSignin(w, r, http.StatusOK, signinForm{Next: localPath(r.URL.Query().Get("next"))})
}

// renderSignin shows the sign-in form with a fresh pre-session token: the
// form's hidden field must match the cookie (so another site cannot sign
// a browser in to an account of its choosing).
func (o *Office) renderSignin(w http.ResponseWriter, r *http.Request, status int, f signinForm) {
	f.Token = randomToken(24)
	http.SetCookie(w, o.cookie(o.cookies.signin, f.Token))
	o.render(w, r, status, "signin", page{Title: "Sign in", Data: f})
}

func (o *Office) signin(w http.ResponseWriter, r *http.Request) {
	if err := o.crossOrigin.Check(r); err != nil {
		o.forbidden(w, r, nil, "This sign-in form was sent from another site, so it was refused. Open siteclock and sign in there.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		o.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read. Reload the page and try again.")
		return
	}
	f := signinForm{Username: strings.TrimSpace(r.PostForm.Get("username")), Next: localPath(r.PostForm.Get("next"))}
	c, err := r.Cookie(o.cookies.signin)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		f.Error = "The sign-in form had expired. Type your password again."
		o.renderSignin(w, r, http.StatusForbidden, f)
		return
	}
	addr := clientAddr(r)
	if ok, wait := o.signinLimit.take(f.Username, addr, o.now()); !ok {
		mins := int(math.Ceil(wait.Minutes()))
		o.log.Warn("sign-in rate-limited", "admin", o.loggableUser(f.Username), "remote", addr)
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		f.Error = fmt.Sprintf("Too many failed sign-ins. Wait %d minute%s and try again, or ask another admin to set a new password (siteclock-server admin password).", mins, plural(mins))
		o.renderSignin(w, r, http.StatusTooManyRequests, f)
		return
	}
	a, err := o.store.CheckAdminPassword(f.Username, r.PostForm.Get("password"))
	if err != nil {
		if !errors.Is(err, ErrBadLogin) {
			o.log.Error("sign-in failed", "err", err)
			o.renderError(w, r, nil, http.StatusInternalServerError, "Signing in failed on the server. Try again in a minute; the server log says more.")
			return
		}
		o.log.Warn("sign-in refused: wrong user name or password", "admin", o.loggableUser(f.Username), "remote", addr)
		f.Error = "Wrong user name or password."
		o.renderSignin(w, r, http.StatusUnauthorized, f)
		return
	}
	o.signinLimit.refund(f.Username, addr)
	id, _, err := o.store.createSession(a.ID, o.now())
	if err != nil {
		o.log.Error("starting a session failed", "err", err)
		o.renderError(w, r, nil, http.StatusInternalServerError, "Signing in failed on the server. Try again in a minute; the server log says more.")
		return
	}
	o.clearCookie(w, o.cookies.signin)
	http.SetCookie(w, o.cookie(o.cookies.session, id))
	o.log.Info("admin signed in", "admin", a.Username, "remote", addr)
	next := f.Next
	if next == "/" {
		next = "/devices"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// loggableUser is the user name typed at sign-in as the log may show it:
// an unknown name may be a password typed into the wrong field.
func (o *Office) loggableUser(name string) string {
	if o.store.adminExists(name) {
		return name
	}
	return "(unknown user name)"
}

func (o *Office) signout(w http.ResponseWriter, r *http.Request, sess adminSession) {
	if c, err := r.Cookie(o.cookies.session); err == nil {
		if err := o.store.endSession(c.Value); err != nil {
			o.log.Error("signing out failed", "err", err)
		}
	}
	o.clearCookie(w, o.cookies.session)
	o.log.Info("admin signed out", "admin", sess.Admin.Username)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// apiHandler is an admin API handler; admin is whose token it was.
type apiHandler func(w http.ResponseWriter, r *http.Request, admin Admin)

// apiAuth lets a request through only with a working admin API token in
// "Authorization: Bearer". Cookies are ignored here: the API has no forms,
// so it must not act on a browser's ambient credentials.
func (o *Office) apiAuth(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			o.apiUnauthorized(w, "send an admin API token as \"Authorization: Bearer TOKEN\"; an admin creates one on the API tokens page of the web UI")
			return
		}
		a, _, err := o.store.tokenAdmin(token, o.now())
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) {
				o.apiFail(w, r, err)
				return
			}
			o.apiUnauthorized(w, "this admin API token is unknown or was revoked; create a new one on the API tokens page of the web UI")
			return
		}
		h(w, r, a)
	}
}

func (o *Office) apiUnauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="siteclock admin API"`)
	writeAPIError(w, http.StatusUnauthorized, "unauthorized", msg, "")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
