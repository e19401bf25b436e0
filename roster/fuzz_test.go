package roster

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A roster whose first byte is already wrong made the error's line
// lookup index the byte before the file, and Parse panicked: a kiosk
// fetching such an answer from a broken proxy crashed (found by
// FuzzServerAnswers in package uplink).
func TestParseSyntaxErrorInTheFirstByte(t *testing.T) {
	for _, doc := range []string{",", ",00000", "]", "}", ":", "\n,"} {
		_, err := Parse(strings.NewReader(doc))
		var re *Error
		if !errors.As(err, &re) || re.Line < 1 || !strings.Contains(err.Error(), "JSON") {
			t.Errorf("Parse(%q) = %v; want a JSON error with its line", doc, err)
		}
	}
}

// A weak PIN hash was refused without the line every other error names,
// and an absurdly costly one was taken (found by FuzzServerAnswers, whose
// roster answer froze the kiosk's uplink for minutes).
func TestParseWeakKDFNamesItsLine(t *testing.T) {
	for doc, want := range map[string]string{
		"{\"version\": \"a\",\n\"pin_iterations\": 1}":    `line 2: pin_iterations: PIN hash iterations 1 below the minimum`,
		"{\"version\": \"a\",\n\n\"pin_salt\": \"AAAA\"}": `line 3: pin_salt:`,
		// Hashing the PIN below would take minutes at this cost, and so
		// would every PIN typed at the kiosk.
		"{\"version\": \"a\",\n\"pin_iterations\": 2000000000,\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [{\"number\": \"1\", \"name\": \"A\", \"role\": \"w\", \"pin\": \"1234\"}]}": `line 2: pin_iterations: PIN hash iterations 2000000000 above the maximum`,
	} {
		if _, err := Parse(strings.NewReader(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want %q", doc, err, want)
		}
	}
}

// FuzzParse: any file either parses or is refused with an error that names
// a line of the file; a roster that parses survives Marshal and Parse
// unchanged (what the back office sends is what the kiosk reads). Seed
// corpus: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Fuzz(func(t *testing.T, doc []byte) {
		r, err := Parse(bytes.NewReader(doc))
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v is not a *roster.Error", err, err)
			}
			if lines := bytes.Count(doc, []byte("\n")) + 1; re.Line < 1 || re.Line > lines {
				t.Errorf("error names line %d of a %d-line file: %v", re.Line, lines, err)
			}
			return
		}
		b, err := Marshal(r)
		if err != nil {
			t.Fatalf("Marshal of a parsed roster: %v", err)
		}
		r2, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("Parse(Marshal(r)): %v\n%s", err, b)
		}
		if r2.Version != r.Version || !bytes.Equal(r2.KDF.Salt, r.KDF.Salt) || r2.KDF.Iterations != r.KDF.Iterations {
			t.Errorf("round trip changed the header: %q %x %d became %q %x %d", r.Version, r.KDF.Salt, r.KDF.Iterations, r2.Version, r2.KDF.Salt, r2.KDF.Iterations)
		}
		if r2.Settings != r.Settings {
			t.Errorf("round trip changed the settings:\n%+v\n%+v", r.Settings, r2.Settings)
		}
		if !reflect.DeepEqual(r2.Roles(), r.Roles()) || !reflect.DeepEqual(r2.Employees(), r.Employees()) {
			t.Errorf("round trip changed the people or roles:\n%+v %+v\n%+v %+v", r.Roles(), r.Employees(), r2.Roles(), r2.Employees())
		}
	})
}
