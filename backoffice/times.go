package backoffice

import (
	"database/sql"
	"time"
)

// The range of times that Unix nanoseconds can hold (years 1678 to 2262).
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)

// inRange reports whether t can be stored as Unix nanoseconds.
func inRange(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// encodeTime splits t into Unix nanoseconds and its zone offset in seconds.
func encodeTime(t time.Time) (ns int64, offset int) {
	_, offset = t.Zone()
	return t.UnixNano(), offset
}

// decodeTime is the inverse of encodeTime: the same instant in a zone with
// the stored offset (UTC for 0, an unnamed fixed zone otherwise).
func decodeTime(ns int64, offset int) time.Time {
	t := time.Unix(0, ns)
	if offset == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", offset))
}

// nullNS encodes t for a nullable column: NULL for the zero time.
func nullNS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// nullTime decodes a nullable nanosecond column; NULL is the zero time.
func nullTime(ns sql.NullInt64) time.Time {
	if !ns.Valid {
		return time.Time{}
	}
	return time.Unix(0, ns.Int64)
}
