package queue

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/sqlitedb"
)

// The benchmarks time each operation and report the median and 99th
// percentile besides the mean (ns/op): on a kiosk the slow commits are
// what a worker waits through. BenchmarkBareInsert is the floor: one
// fsync'd single-row SQLite transaction on the same disk and settings.
// Run with a fixed count to compare, e.g. -benchtime 2000x.

func reportPercentiles(b *testing.B, d []time.Duration) {
	b.Helper()
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := int(q * float64(len(d)-1))
		return float64(d[i].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

func benchCommit(b *testing.B, crew int, photoSize int) {
	db := openTest(b, b.TempDir(), Options{})
	ctx := context.Background()
	var photo []byte
	if photoSize > 0 {
		photo = make([]byte, photoSize)
		for i := range photo {
			photo[i] = byte(i * 7)
		}
	}
	var (
		durs []time.Duration
		n    int
	)
	for b.Loop() {
		ps := make([]punch.Punch, crew)
		for k := range ps {
			ps[k] = mkPunch(fmt.Sprintf("bench-%08d-%d", n, k), fmt.Sprintf("e%d", k), punch.In, day0)
			if photo != nil {
				ps[k].NoPhoto = punch.PhotoTaken
			}
		}
		n++
		start := time.Now()
		if _, err := db.Commit(ctx, ps, photo); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	reportPercentiles(b, durs)
}

func BenchmarkCommitPunch(b *testing.B)          { benchCommit(b, 1, 0) }
func BenchmarkCommitPunchWithPhoto(b *testing.B) { benchCommit(b, 1, 40<<10) }
func BenchmarkCommitCrew5(b *testing.B)          { benchCommit(b, 5, 0) }

func BenchmarkBareInsert(b *testing.B) {
	s, err := sql.Open("sqlite3", sqlitedb.DSN(filepath.Join(b.TempDir(), "bare.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.SetMaxOpenConns(1)
	if _, err := s.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	var durs []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.Exec(`INSERT INTO t (v) VALUES (?)`, "bench"); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	reportPercentiles(b, durs)
}
