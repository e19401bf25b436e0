package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/siteclock/siteclock/backoffice"
)

// admin runs `admin create` and `admin password`.
func admin(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "password") {
		return errors.New("admin: say `siteclock-server admin create -data DIR -user NAME` or `siteclock-server admin password -data DIR -user NAME`")
	}
	what := args[0]
	f := newFlags("admin "+what, stderr)
	user := f.fs.String("user", "", "the admin's user name (an e-mail address or a name)")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if strings.TrimSpace(*user) == "" {
		return fmt.Errorf("admin %s: give the user name with -user NAME", what)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return fmt.Errorf("admin %s: %w", what, err)
	}
	if err := backoffice.ValidPassword(pw); err != nil {
		return fmt.Errorf("admin %s: %s", what, strings.TrimPrefix(err.Error(), "backoffice: "))
	}
	store, err := backoffice.Open(f.data, backoffice.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if what == "password" {
		if err := store.SetAdminPassword(*user, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "set a new password for admin %q; their sessions were ended\n", strings.TrimSpace(*user))
		return nil
	}
	a, err := store.CreateAdmin(*user, pw, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created admin %q in %s; they sign in to the web UI with that name and password\n", a.Username, store.Dir())
	return nil
}

// readPassword prompts for the password twice on a terminal; otherwise it
// reads the first line of stdin (for scripts: `... < password-file`).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if stdin == nil {
		return "", errors.New("no password given: type it when asked, or pipe it on standard input")
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password (at least %d characters): ", backoffice.MinPasswordLen)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ; run the command again")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input: type it when asked, or pipe it in (one line)")
	}
	return line, nil
}

// Demo admin.
const (
	demoAdmin        = "admin"
	demoPasswordFile = "demo-admin-password.txt"
)

// ensureDemoAdmin creates the demo's admin with a random password the first
// time, prints the password and keeps it (for `make run` to show) in a
// file only the server's user can read; the store keeps only its hash.
// Later starts say where the password is.
func ensureDemoAdmin(store *backoffice.Store, stdout io.Writer) error {
	admins, err := store.Admins()
	if err != nil {
		return err
	}
	path := filepath.Join(store.Dir(), demoPasswordFile)
	for _, a := range admins {
		if strings.EqualFold(a.Username, demoAdmin) {
			if _, err := os.Stat(path); err == nil {
				fmt.Fprintf(stdout, "web UI sign-in: user %s, password in %s\n", demoAdmin, path)
			} else {
				fmt.Fprintf(stdout, "web UI sign-in: user %s (password file gone; set a new one with `siteclock-server admin password -data %s -user %s`)\n", demoAdmin, store.Dir(), demoAdmin)
			}
			return nil
		}
	}
	pw := randomPassword()
	// The file first: a crash before the admin exists makes a new one
	// next time, never an admin whose password nobody has.
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo: write %s: %w", path, err)
	}
	if _, err := store.CreateAdmin(demoAdmin, pw, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created the web UI admin: user %s, password %s (also in %s)\n", demoAdmin, pw, path)
	return nil
}

// randomPassword is 16 random characters, easy to read and type, in
// groups of four: 80 bits.
func randomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789" // no 0/o, 1/l/i
	var s strings.Builder
	b := make([]byte, 1)
	for n := 0; n < 16; {
		rand.Read(b)
		if int(b[0]) >= 256/len(alphabet)*len(alphabet) {
			continue // no bias towards the first letters
		}
		if n > 0 && n%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(alphabet[int(b[0])%len(alphabet)])
		n++
	}
	return s.String()
}
