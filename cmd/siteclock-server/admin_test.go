package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/protocol"
)

func runStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runContext(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), err
}

func TestAdminCreate(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCmd(t, "company", "create", "-data", dir, "-name", "Acme"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"admin", "create", "-data", dir, "-user", "ada"}, "no password on standard input"},
		{"too short\n", []string{"admin", "create", "-data", dir, "-user", "ada"}, "too short: use at least 12 characters"},
		{"correct horse battery\n", []string{"admin", "create", "-data", dir}, "-user NAME"},
		{"correct horse battery\n", []string{"admin", "create", "-user", "ada"}, "-data DIR"},
		{"", []string{"admin"}, "admin create -data DIR -user NAME"},
		{"", []string{"admin", "delete"}, "admin create -data DIR -user NAME"},
	} {
		if _, err := runStdin(t, c.stdin, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
	out, err := runStdin(t, "correct horse battery\r\n", "admin", "create", "-data", dir, "-user", "ada@example.com")
	if err != nil || !strings.Contains(out, `created admin "ada@example.com"`) {
		t.Fatalf("admin create: %v\n%s", err, out)
	}
	if _, err := runStdin(t, "another long password\n", "admin", "create", "-data", dir, "-user", "ADA@example.com"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second admin of the same name: %v", err)
	}
	if _, err := runStdin(t, "a new long password\n", "admin", "password", "-data", dir, "-user", "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := runStdin(t, "a new long password\n", "admin", "password", "-data", dir, "-user", "bob"); err == nil {
		t.Errorf("password for an unknown admin")
	}
	store, err := backoffice.Open(dir, backoffice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CheckAdminPassword("ada@example.com", "a new long password"); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
}

var passwordRE = regexp.MustCompile(`created the web UI admin: user admin, password (\S+) \(also in (\S+)\)`)

// The demo makes an admin whose password it prints once and keeps in a
// file; the one port serves the device API, the web UI and the admin API.
func TestDemoAdmin(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "demo", "-data", dir, "-addr", "127.0.0.1:0")
	out := s.stdout.String()
	m := passwordRE.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "admin web UI: "+s.url+"/") {
		t.Fatalf("demo printed:\n%s", out)
	}
	pw, file := m[1], m[2]
	if file != filepath.Join(dir, demoPasswordFile) {
		t.Errorf("password file %s", file)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(file); strings.TrimSpace(string(b)) != pw || len(pw) < backoffice.MinPasswordLen {
		t.Errorf("password file holds %q, printed %q", b, pw)
	}

	// Sign in on the same port as the device API.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	page := get(t, client, s.url+"/signin")
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if token == nil {
		t.Fatalf("sign-in page:\n%s", page)
	}
	resp, err := client.PostForm(s.url+"/signin", url.Values{"csrf": {token[1]}, "username": {"admin"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/devices" || !strings.Contains(string(body), "Demo Construction") {
		t.Fatalf("sign in: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	var pe protocol.Error
	if st := postJSON(t, http.DefaultClient, s.url+protocol.PathCheckIn, "", protocol.CheckIn{}, &pe); st != http.StatusUnauthorized || pe.Code != protocol.ErrUnauthorized {
		t.Errorf("device API: %d %+v", st, pe)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// A second start keeps the password and does not print it.
	s = startServer(t, "demo", "-data", dir, "-addr", "127.0.0.1:0")
	out = s.stdout.String()
	if strings.Contains(out, pw) || !strings.Contains(out, "web UI sign-in: user admin, password in "+file) {
		t.Errorf("second start printed:\n%s", out)
	}
}

func TestServeSaysNoAdmin(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "serve", "-data", dir, "-addr", "127.0.0.1:0", "-company", "Acme")
	if out := s.stdout.String(); !strings.Contains(out, "admin create -data "+dir+" -user NAME") {
		t.Errorf("serve printed:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "-data", dir, "-public-url", "office.example.com"}, "-public-url"},
		{[]string{"serve", "-data", dir, "-sms-webhook", "sms.example.com"}, "-sms-webhook"},
		{[]string{"serve", "-data", dir, "-sms-token-file", "x"}, "needs -sms-webhook"},
	} {
		if _, err := runCmd(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v", c.args, err)
		}
	}
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
