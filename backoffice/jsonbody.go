package backoffice

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// bodyError is a JSON request body refused by decodeStrict, explained.
type bodyError struct {
	tooLarge bool   // over the size limit (413)
	field    string // the field at fault, when one is
	unknown  bool   // an unknown field
	msg      string // what is wrong, for people
}

// decodeStrict reads exactly one JSON object into v from a body limited
// with http.MaxBytesReader: no unknown fields, nothing after it. The device
// API and the admin API answer its errors each in their own words.
func decodeStrict(body io.Reader, v any) *bodyError {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		_, terr := dec.Token()
		var mbe *http.MaxBytesError
		switch {
		case terr == io.EOF:
			return nil
		case errors.As(terr, &mbe):
			err = terr
		default:
			err = errors.New("text after the JSON object")
		}
	}
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	e := &bodyError{msg: strings.TrimPrefix(err.Error(), "json: ")}
	switch {
	case errors.As(err, &mbe):
		e.tooLarge = true
	case errors.Is(err, io.EOF):
		e.msg = "empty body; send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.msg = "the JSON ends too early"
	case errors.As(err, &se):
		e.msg = fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		e.field = te.Field
		e.msg = fmt.Sprintf("field %q: want %v, found a JSON %s", te.Field, te.Type, te.Value)
	case strings.HasPrefix(e.msg, "unknown field"):
		e.unknown = true
		e.field = strings.Trim(strings.TrimPrefix(e.msg, "unknown field "), `"`)
	}
	return e
}
