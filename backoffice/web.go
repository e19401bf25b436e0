package backoffice

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"time"
)

// The web UI: server-rendered pages from web/*.html (html/template), one
// stylesheet and one small script from web/static, all embedded in the
// binary.

//go:embed web
var webFS embed.FS

// pageNames are the templates in web/, each rendered inside layout.html.
var pageNames = []string{"signin", "error", "devices", "disable", "employees", "employee", "roles", "settings", "timecards", "tokens", "releases"}

type templates map[string]*template.Template

var funcs = template.FuncMap{
	// dict makes a map from key, value pairs: data for a sub-template.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, errors.New("dict: a key is not a string")
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func mustParseTemplates() templates {
	t := templates{}
	for _, n := range pageNames {
		t[n] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/"+n+".html"))
	}
	return t
}

func staticHandler() http.HandlerFunc {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err)
	}
	fsrv := http.FileServerFS(sub)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fsrv.ServeHTTP(w, r)
	}
}

// page is what layout.html shows around every page.
type page struct {
	Title   string
	Nav     string // the menu entry to highlight
	Admin   string // signed-in admin; "" on the sign-in page
	CSRF    string // the session's form token
	Company string
	Flash   string // what the last action did
	Data    any    // the page's own
}

// render executes a page into a buffer first, so that a template failure
// is a clean 500 rather than half a page.
func (o *Office) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Company == "" {
		if c, err := o.store.Company(); err == nil {
			p.Company = c.Name
		}
	}
	var b bytes.Buffer
	if err := o.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		o.log.Error("rendering a page failed", "page", name, "err", err)
		http.Error(w, "The page could not be shown. The server log says more.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// show renders a page for a signed-in admin, with the flash message the
// previous action left.
func (o *Office) show(w http.ResponseWriter, r *http.Request, sess adminSession, status int, name, nav, title string, data any) {
	p := page{Title: title, Nav: nav, Admin: sess.Admin.Username, CSRF: sess.CSRF, Data: data}
	if c, err := r.Cookie(o.cookies.flash); err == nil {
		if msg, err := url.QueryUnescape(c.Value); err == nil {
			p.Flash = msg
		}
		o.clearCookie(w, o.cookies.flash)
	}
	o.render(w, r, status, name, p)
}

// done ends a form post: it leaves a message for the next page and sends
// the browser there (post/redirect/get, so a reload sends nothing again).
func (o *Office) done(w http.ResponseWriter, r *http.Request, to, msg string) {
	if msg != "" {
		c := o.cookie(o.cookies.flash, url.QueryEscape(msg))
		c.MaxAge = 60
		http.SetCookie(w, c)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type errorView struct {
	Status  int
	Message string
}

// renderError shows a page that says what went wrong and what to do.
func (o *Office) renderError(w http.ResponseWriter, r *http.Request, sess *adminSession, status int, msg string) {
	p := page{Title: http.StatusText(status), Data: errorView{Status: status, Message: msg}}
	if sess != nil {
		p.Admin, p.CSRF = sess.Admin.Username, sess.CSRF
	}
	o.render(w, r, status, "error", p)
}

func (o *Office) forbidden(w http.ResponseWriter, r *http.Request, sess *adminSession, msg string) {
	o.renderError(w, r, sess, http.StatusForbidden, msg)
}

// failPage answers a page request that failed with a store error.
func (o *Office) failPage(w http.ResponseWriter, r *http.Request, sess adminSession, err error) {
	status, msg := http.StatusInternalServerError, "The back office failed and nothing was changed. Try again in a minute; the server log says more."
	switch {
	case isNotFound(err):
		status, msg = http.StatusNotFound, "That was not found. It may have been removed; go back and reload the list."
	case isDiskFull(err):
		status, msg = http.StatusServiceUnavailable, "The server is out of disk space and nothing was changed. Free space on the server, then try again."
	default:
		o.log.Error("admin page failed", "path", r.URL.Path, "admin", sess.Admin.Username, "err", err)
	}
	o.renderError(w, r, &sess, status, msg)
}

func (o *Office) notFoundPage(w http.ResponseWriter, r *http.Request) {
	_, sess, ok := o.sessionFrom(r)
	var sp *adminSession
	if ok {
		sp = &sess
	}
	o.renderError(w, r, sp, http.StatusNotFound, "There is no page "+r.URL.Path+" here. Use the menu to find what you are looking for.")
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
func isDiskFull(err error) bool { return errors.Is(err, ErrDiskFull) }

// companyNow is the time now in the company's zone.
func (o *Office) companyNow() (time.Time, *time.Location) {
	loc := o.zone()
	return o.now().In(loc), loc
}
