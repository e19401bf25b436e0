package backoffice

import (
	"context"
	"database/sql"
	"fmt"
)

// maxGroup is the most writes committed in one transaction. Large enough to
// absorb a burst of check-ins, small enough that one fsync'd commit stays
// short.
const maxGroup = 256

// writeReq is one write handed to the writer goroutine. fn runs inside the
// group's transaction and may run more than once (when its group has to be
// retried write by write), so it must set its results afresh each time.
type writeReq struct {
	fn   func(tx *sql.Tx) error
	done chan error
}

// write runs fn in a transaction on the writer and returns when that
// transaction committed (fn's changes are durable) or failed. An error from
// fn rolls back fn's changes only and is returned as it is.
func (s *Store) write(fn func(tx *sql.Tx) error) error {
	req := &writeReq{fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.writes <- req
	s.closeMu.RUnlock()
	return <-req.done
}

// writer commits the writes handed to it, as many as are waiting in one
// transaction, until the store closes.
func (s *Store) writer() {
	defer close(s.writerDone)
	for req := range s.writes {
		group := []*writeReq{req}
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		if len(group) == 1 {
			req.done <- s.commitOne(req)
			continue
		}
		s.commitGroup(group)
	}
}

// commitOne runs one write in its own transaction.
func (s *Store) commitOne(req *writeReq) error {
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	if err := call(req.fn, tx); err != nil {
		tx.Rollback()
		return err
	}
	err = tx.Commit()
	if err == nil {
		s.commits.Add(1)
	}
	return err
}

// commitGroup runs each write in a savepoint of one transaction. If the
// transaction itself breaks (SQLite rolls a whole transaction back on some
// errors, such as a full disk), every write is retried in its own
// transaction so that one bad write cannot fail its neighbours.
func (s *Store) commitGroup(group []*writeReq) {
	errs := make([]error, len(group))
	retryEach := func() {
		for _, r := range group {
			r.done <- s.commitOne(r)
		}
	}
	tx, err := s.w.Begin()
	if err != nil {
		retryEach()
		return
	}
	for i, r := range group {
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			tx.Rollback()
			retryEach()
			return
		}
		errs[i] = call(r.fn, tx)
		if errs[i] != nil {
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				tx.Rollback()
				retryEach()
				return
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			tx.Rollback()
			retryEach()
			return
		}
	}
	cerr := tx.Commit()
	if cerr == nil {
		s.commits.Add(1)
	}
	for i, r := range group {
		if errs[i] == nil {
			errs[i] = cerr
		}
		r.done <- errs[i]
	}
}

// call runs fn, turning a panic into an error so that one bad write cannot
// stop the writer that every other write waits on.
func call(fn func(*sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write: %v", p)
		}
	}()
	return fn(tx)
}

// readTx runs fn on one read connection inside a deferred transaction, so
// that everything fn reads comes from one snapshot of the database.
func (s *Store) readTx(ctx context.Context, fn func(q querier) error) error {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	err = fn(conn)
	if _, rerr := conn.ExecContext(ctx, "ROLLBACK"); err == nil {
		err = rerr
	}
	return err
}

// querier is what both a transaction and a connection can do.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
