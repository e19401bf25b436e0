package backoffice

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/siteclock/siteclock/sms"
)

// OfficeOptions tune NewOffice. The zero value is ready to use (no SMS).
type OfficeOptions struct {
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what admins do and what fails; nil discards it.
	Logger *slog.Logger
	// SMS sends setup codes to technicians' phones; nil means no SMS
	// gateway is configured, and the Devices page says so.
	SMS sms.Sender
	// PublicURL is the address people open the web UI at (for example
	// https://office.example.com), when it differs from what the server
	// sees in Host, as behind a reverse proxy. Form posts must come from
	// this origin or from the Host's.
	PublicURL string
	// Secure marks the cookies Secure (sent over HTTPS only); set it when
	// the UI is served over TLS, directly or by a proxy.
	Secure bool
	// SignInPerUser and SignInPerAddress limit failed sign-ins; zero
	// means DefaultSignInPerUser and DefaultSignInPerAddress.
	SignInPerUser, SignInPerAddress Rate
	// ReleaseKeys are the release keys the office trusts: an uploaded
	// release whose manifest none of them verifies is refused. Empty: the
	// office stores releases unverified, and kiosks verify them.
	ReleaseKeys []ed25519.PublicKey
}

// Office serves the admin side of the back office: the web UI for people
// (server-rendered pages behind a password sign-in) and the admin JSON API
// for programs (behind admin API tokens, docs/admin-api.md). Every admin
// action is in both.
type Office struct {
	store       *Store
	now         func() time.Time
	log         *slog.Logger
	sms         sms.Sender
	secure      bool
	cookies     cookieNames
	crossOrigin *http.CrossOriginProtection
	signinLimit *failLimiter
	releaseKeys []ed25519.PublicKey
	pages       templates
	handler     http.Handler
}

// NewOffice returns the admin UI and API for store.
func NewOffice(store *Store, opts OfficeOptions) *Office {
	o := &Office{store: store, now: opts.Now, log: opts.Logger, sms: opts.SMS, secure: opts.Secure, releaseKeys: opts.ReleaseKeys}
	if o.now == nil {
		o.now = time.Now
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.cookies = newCookieNames(opts.Secure)
	perUser, perAddr := opts.SignInPerUser, opts.SignInPerAddress
	if perUser.PerMinute <= 0 || perUser.Burst <= 0 {
		perUser = DefaultSignInPerUser
	}
	if perAddr.PerMinute <= 0 || perAddr.Burst <= 0 {
		perAddr = DefaultSignInPerAddress
	}
	o.signinLimit = newFailLimiter(perUser, perAddr)
	o.crossOrigin = http.NewCrossOriginProtection()
	if opts.PublicURL != "" {
		if u, err := url.Parse(opts.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
			if err := o.crossOrigin.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
				o.log.Warn("public URL not usable as an origin; form posts must come from the Host the server sees", "public_url", opts.PublicURL, "err", err)
			}
		} else {
			o.log.Warn("public URL is not an absolute URL; ignored", "public_url", opts.PublicURL)
		}
	}
	o.pages = mustParseTemplates()

	mux := http.NewServeMux()
	for _, rt := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /signin", o.signinPage},
		{"POST /signin", o.signin},
		{"POST /signout", o.signedIn(o.signout)},
		{"GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/devices", http.StatusSeeOther) }},
		{"GET /devices", o.signedIn(o.devicesPage)},
		{"POST /devices/setup-code/rotate", o.signedIn(o.rotateCodeForm)},
		{"POST /devices/setup-code/send", o.signedIn(o.sendCodeForm)},
		{"GET /devices/{id}/disable", o.signedIn(o.disablePage)},
		{"POST /devices/{id}/disable", o.signedIn(o.disableForm)},
		{"POST /devices/{id}/update-target", o.signedIn(o.deviceTargetForm)},
		{"GET /releases", o.signedIn(o.releasesPage)},
		{"POST /releases", o.uploadReleaseForm},
		{"POST /releases/target", o.signedIn(o.allTargetForm)},
		{"GET /employees", o.signedIn(o.employeesPage)},
		{"GET /employees/new", o.signedIn(o.employeePage)},
		{"POST /employees/new", o.signedIn(o.employeeForm)},
		{"GET /employees/{id}", o.signedIn(o.employeePage)},
		{"POST /employees/{id}", o.signedIn(o.employeeForm)},
		{"GET /roles", o.signedIn(o.rolesPage)},
		{"POST /roles", o.signedIn(o.addRoleForm)},
		{"POST /roles/{id}", o.signedIn(o.roleFlagForm)},
		{"GET /settings", o.signedIn(o.settingsPage)},
		{"POST /settings/device", o.signedIn(o.deviceSettingsForm)},
		{"POST /settings/company", o.signedIn(o.companySettingsForm)},
		{"GET /timecards", o.signedIn(o.timecardsPage)},
		{"GET /photos/{sha}", o.signedIn(o.photo)},
		{"GET /tokens", o.signedIn(o.tokensPage)},
		{"POST /tokens", o.signedIn(o.createTokenForm)},
		{"POST /tokens/{id}/revoke", o.signedIn(o.revokeTokenForm)},
		{"GET /static/", staticHandler()},
		{"/", o.notFoundPage},

		{"GET " + apiPrefix + "setup-code", o.apiAuth(o.apiSetupCode)},
		{"POST " + apiPrefix + "setup-code/rotate", o.apiAuth(o.apiRotateCode)},
		{"POST " + apiPrefix + "setup-code/send", o.apiAuth(o.apiSendCode)},
		{"GET " + apiPrefix + "devices", o.apiAuth(o.apiDevices)},
		{"GET " + apiPrefix + "devices/{id}", o.apiAuth(o.apiDevice)},
		{"POST " + apiPrefix + "devices/{id}/disable", o.apiAuth(o.apiDisableDevice)},
		{"PUT " + apiPrefix + "devices/{id}/update-target", o.apiAuth(o.apiSetDeviceTarget)},
		{"DELETE " + apiPrefix + "devices/{id}/update-target", o.apiAuth(o.apiClearDeviceTarget)},
		{"GET " + apiPrefix + "releases", o.apiAuth(o.apiReleases)},
		{"POST " + apiPrefix + "releases", o.apiAuth(o.apiUploadRelease)},
		{"GET " + apiPrefix + "releases/{id}", o.apiAuth(o.apiRelease)},
		{"PUT " + apiPrefix + "update-target", o.apiAuth(o.apiSetAllTarget)},
		{"DELETE " + apiPrefix + "update-target", o.apiAuth(o.apiClearAllTarget)},
		{"GET " + apiPrefix + "employees", o.apiAuth(o.apiEmployees)},
		{"POST " + apiPrefix + "employees", o.apiAuth(o.apiCreateEmployee)},
		{"GET " + apiPrefix + "employees/{id}", o.apiAuth(o.apiEmployee)},
		{"PATCH " + apiPrefix + "employees/{id}", o.apiAuth(o.apiUpdateEmployee)},
		{"GET " + apiPrefix + "employees/{id}/timecard", o.apiAuth(o.apiTimecard)},
		{"GET " + apiPrefix + "roles", o.apiAuth(o.apiRoles)},
		{"POST " + apiPrefix + "roles", o.apiAuth(o.apiCreateRole)},
		{"PATCH " + apiPrefix + "roles/{id}", o.apiAuth(o.apiUpdateRole)},
		{"GET " + apiPrefix + "settings", o.apiAuth(o.apiSettings)},
		{"PATCH " + apiPrefix + "settings/device", o.apiAuth(o.apiUpdateDeviceSettings)},
		{"PATCH " + apiPrefix + "settings/company", o.apiAuth(o.apiUpdateCompany)},
		{"GET " + apiPrefix + "photos/{sha}", o.apiAuth(o.apiPhoto)},
		{"GET " + apiPrefix + "tokens", o.apiAuth(o.apiTokens)},
		{"POST " + apiPrefix + "tokens", o.apiAuth(o.apiCreateToken)},
		{"DELETE " + apiPrefix + "tokens/{id}", o.apiAuth(o.apiRevokeToken)},
		{apiPrefix, o.apiNotFound},
	} {
		mux.HandleFunc(rt.pattern, rt.h)
	}
	o.handler = o.recoverer(headers(mux))
	return o
}

// apiPrefix is where the admin API lives.
const apiPrefix = "/api/admin/v1/"

// Handler returns the web UI (at /) and the admin API (at /api/admin/v1/).
func (o *Office) Handler() http.Handler { return o.handler }

// headers sets what every answer needs: nothing is cached (pages show
// live data and the API hands out secrets), and pages only load this
// site's styles, scripts and images and are never framed.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, apiPrefix) {
			h.Set("Cache-Control", "no-store")
		} else {
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
			h.Set("X-Frame-Options", "DENY")
			if !strings.HasPrefix(r.URL.Path, "/static/") {
				h.Set("Cache-Control", "no-store")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic in a handler into a 500 that says to retry.
func (o *Office) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				o.log.Error("panic in admin handler", "path", r.URL.Path, "panic", fmt.Sprint(p))
				if strings.HasPrefix(r.URL.Path, apiPrefix) {
					writeAPIError(w, http.StatusInternalServerError, "internal", "the back office failed; nothing was changed by this request unless a GET shows it, retry later", "")
					return
				}
				http.Error(w, "The back office failed. Go back and try again; the server log says more.", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// zone is the company's time zone (the device settings' Timezone), in
// which pages show times and timecards split days.
func (o *Office) zone() *time.Location {
	st, err := o.store.Settings()
	if err != nil || st.Timezone == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(st.Timezone)
	if err != nil {
		return time.Local
	}
	return loc
}
