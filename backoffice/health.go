package backoffice

import (
	"context"
	"database/sql"
	"fmt"
)

// Check is the store's health check, for the server's watchdog: a read on
// a reader connection and a round trip through the single writer (an
// empty transaction: nothing reaches the disk). A fault is an error; a
// writer stuck on a dead disk makes Check not return at all, which is what
// the watchdog needs in order to notice.
func (s *Store) Check(ctx context.Context) error {
	err := s.readTx(ctx, func(q querier) error {
		var one int
		return q.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		return fmt.Errorf("backoffice: health check: read %s: %w", s.path, err)
	}
	if err := s.write(func(*sql.Tx) error { return nil }); err != nil {
		return fmt.Errorf("backoffice: health check: write %s: %w", s.path, err)
	}
	return nil
}
