package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/siteclock/siteclock/backoffice"
	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/sms"
)

// demoCompany is the demo's company name.
const demoCompany = "Demo Construction"

// demoPeople are the kiosk demo's people (demo/roster.json), with the back
// office's default roles: Ana is the foreman, Carla and Erin work in the
// office (no FaceFront), Ben and Diego are workers (FaceFront).
var demoPeople = []struct {
	backoffice.Employee
	pin string
}{
	{backoffice.Employee{Number: "1001", Name: "Ana Ruiz", RoleID: "foreman", Active: true, PhotoConsent: true}, "1111"},
	{backoffice.Employee{Number: "1002", Name: "Ben Cole", RoleID: "worker", Active: true, PhotoConsent: true}, "2222"},
	{backoffice.Employee{Number: "1003", Name: "Carla Diaz", RoleID: "office", Active: true}, "3333"},
	{backoffice.Employee{Number: "1004", Name: "Diego Soto", RoleID: "worker", Active: true, PhotoConsent: true, Language: roster.Spanish}, "4444"},
	{backoffice.Employee{Number: "1005", Name: "Erin Walsh", RoleID: "office", Active: true}, "5555"},
}

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("demo", stderr)
	f.fs.Lookup("data").DefValue = defaultDemoData
	f.data = defaultDemoData
	f.serverFlags(defaultAddr)
	if err := f.parse(args); err != nil {
		return err
	}
	log := newLogger(stderr)
	store, err := backoffice.Open(f.data, backoffice.Options{Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	seeded, err := seedDemo(store, time.Now())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if seeded {
		fmt.Fprintf(stdout, "seeded the demo company %q with %d employees in %s\n", demoCompany, len(demoPeople), store.Dir())
	}
	if err := ensureDemoAdmin(store, stdout); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := printSetupCode(store, time.Now(), stdout); err != nil {
		return err
	}
	// The demo has no SMS gateway unless one is given: setup codes "sent"
	// to a technician are written to the log.
	sender, err := f.smsSender()
	if err != nil {
		return err
	}
	if sender == nil {
		sender = sms.Log{Logger: log}
	}
	return listenAndServe(ctx, f, store, log, sender, stdout)
}

// seedDemo creates the demo company if the data folder has none, and its
// people if it has no employees; anything already there is left alone.
func seedDemo(store *backoffice.Store, now time.Time) (bool, error) {
	if _, err := store.Company(); errors.Is(err, backoffice.ErrNoCompany) {
		if _, err := store.CreateCompany(demoCompany, now); err != nil {
			return false, err
		}
	} else if err != nil {
		return false, err
	}
	es, err := store.Employees()
	if err != nil || len(es) > 0 {
		return false, err
	}
	if _, err := store.SetSettings(roster.Settings{Nickname: "Demo site trailer"}); err != nil {
		return false, err
	}
	for _, p := range demoPeople {
		if _, err := store.CreateEmployee(p.Employee, p.pin); err != nil {
			return false, err
		}
	}
	return true, nil
}
