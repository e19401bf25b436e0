package backoffice

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"testing/synctest"
)

// TestCheck: the health check passes on an open store, does not return
// while the writer is stuck (so the watchdog's pings stop and systemd
// restarts the server), and fails on a closed store.
func TestCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(t.TempDir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := s.Check(ctx); err != nil {
			t.Fatalf("open store: %v", err)
		}

		// Wedge the writer, as a disk that stopped answering would.
		stuck, release := make(chan struct{}), make(chan struct{})
		wedged := make(chan error, 1)
		go func() {
			wedged <- s.write(func(*sql.Tx) error { close(stuck); <-release; return nil })
		}()
		<-stuck // the writer is inside the wedged write
		checked := make(chan error, 1)
		go func() { checked <- s.Check(ctx) }()
		synctest.Wait()
		select {
		case err := <-checked:
			t.Fatalf("Check returned (%v) while the writer was stuck", err)
		default:
		}
		close(release)
		if err := <-wedged; err != nil {
			t.Fatal(err)
		}
		if err := <-checked; err != nil {
			t.Fatalf("after the writer recovered: %v", err)
		}

		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "health check") {
			t.Errorf("closed store: %v, want a failed health check", err)
		}
	})
}
