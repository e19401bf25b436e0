package daemon

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/siteclock/siteclock/kiosk"
)

// TestInstallUpdate: once the kiosk says a ready update may install, the
// runner calls Install while "Updating…" is up and Run returns ErrRestart;
// a failed Install puts the kiosk back to work.
func TestInstallUpdate(t *testing.T) {
	for _, fail := range []bool{false, true} {
		db := openQueue(t)
		r := testRoster(t)
		db.ReplaceRoster(r)
		disp := newScreens()
		events := make(chan kiosk.Event, 1)
		st := kiosk.New(kiosk.Ready, r, nil, "", kiosk.Net{}, time.Now())
		st.UpdateQuiet = 50 * time.Millisecond
		installs := 0
		var shownAtInstall []string
		k := &Kiosk{State: st, Keys: make(chan kiosk.Key), Events: events, Display: disp, Store: db, BootID: "test-boot",
			Install: func() error {
				installs++
				shownAtInstall = disp.names()
				if fail {
					return errors.New("disk full")
				}
				return nil
			}}
		events <- kiosk.UpdateChanged{Update: kiosk.Update{Version: "1.4.0", Percent: 100, Ready: true}}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := k.Run(ctx)
		cancel()
		if !fail && (!errors.Is(err, ErrRestart) || installs != 1) {
			t.Errorf("Run = %v after %d installs; want ErrRestart after 1", err, installs)
		}
		if fail && (err != nil || installs != 1 || disp.names()[len(disp.names())-1] != kiosk.ScreenIdle) {
			t.Errorf("failed install: Run = %v, %d installs, screens %q; want the idle screen back until stopped", err, installs, disp.names())
		}
		if len(shownAtInstall) == 0 || shownAtInstall[len(shownAtInstall)-1] != kiosk.ScreenUpdating || !slices.Contains(shownAtInstall, kiosk.ScreenIdle) {
			t.Errorf("screens when Install ran: %q; want idle, then updating", shownAtInstall)
		}
	}
}
