package roster

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

const good = `{
  "version": "2026-11-22.1",
  "pin_iterations": 1000,
  "settings": {
    "nickname": "Main St trailer",
    "timezone": "America/Chicago",
    "language": "es",
    "screen_timeout_seconds": 15,
    "photo_countdown_seconds": 2
  },
  "roles": [
    {"id": "foreman", "name": "Foreman", "facefront": true, "clock_for": true},
    {"id": "worker", "facefront": true}
  ],
  "employees": [
    {"number": "1001", "name": "Ana Ruiz", "role": "foreman", "pin": "4821", "photo_consent": true},
    {"id": "x-2", "number": "1002", "name": "Ben Cole", "role": "worker", "pin": "1234", "language": "en"},
    {"number": "1003", "name": "Old Timer", "role": "worker", "pin": "4821", "active": false}
  ]
}
`

func TestParse(t *testing.T) {
	r, err := Parse(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "2026-11-22.1" || r.KDF.Iterations != 1000 || len(r.KDF.Salt) != 16 {
		t.Errorf("version/kdf = %q %+v", r.Version, r.KDF)
	}
	s := r.Settings
	if s.Nickname != "Main St trailer" || s.Language != Spanish || s.ScreenTimeout != 15*time.Second ||
		s.PhotoCountdown != 2*time.Second || s.SavedScreen != DefaultSettings.SavedScreen || r.Location().String() != "America/Chicago" {
		t.Errorf("settings = %+v (location %v)", s, r.Location())
	}
	if ro, ok := r.Role("worker"); !ok || ro.Name != "worker" || !ro.FaceFront || ro.ClockFor {
		t.Errorf("role worker = %+v %v", ro, ok)
	}
	e, ok := r.MatchPIN("4821")
	if !ok || e.Name != "Ana Ruiz" || e.ID != "1001" || !e.PhotoConsent || !r.RoleOf(e).ClockFor {
		t.Errorf("MatchPIN(4821) = %+v, %v; want Ana (the inactive employee with the same PIN must not match)", e, ok)
	}
	if e, ok := r.MatchPIN("1234"); !ok || e.ID != "x-2" || e.Language != English {
		t.Errorf("MatchPIN(1234) = %+v, %v", e, ok)
	}
	for _, pin := range []string{"1235", "", "123", "123456789", "12a4"} {
		if e, ok := r.MatchPIN(pin); ok {
			t.Errorf("MatchPIN(%q) matched %s", pin, e.Name)
		}
	}
	if _, ok := r.ByNumber("1003"); ok {
		t.Error("inactive employee found by number")
	}
	if e, ok := r.ByID("1003"); !ok || e.Active {
		t.Errorf("ByID(1003) = %+v, %v", e, ok)
	}
	if strings.Contains(string(e.PINHash), "1234") {
		t.Error("PIN stored in the clear")
	}
}

func TestParseHashes(t *testing.T) {
	// What the back office exports: hashes with the roster's salt.
	kdf := KDF{Salt: []byte("company-salt-xyz"), Iterations: 2000}
	h := base64.StdEncoding.EncodeToString(HashPIN(kdf, "777777"))
	doc := `{"version": "v9", "pin_salt": "` + base64.StdEncoding.EncodeToString(kdf.Salt) + `", "pin_iterations": 2000,
	"roles": [{"id": "w"}], "employees": [{"number": "7", "name": "Sev", "role": "w", "pin_hash": "` + h + `"}]}`
	r, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := r.MatchPIN("777777"); !ok || e.Name != "Sev" {
		t.Errorf("MatchPIN = %+v, %v", e, ok)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		line      int
		want      string
	}{
		{"empty", ``, 1, "empty"},
		{"not an object", `[1]`, 1, "JSON object"},
		{"syntax", "{\n\"version\": \"a\",\n\"roles\": [\n{\"id\": \"w\",}\n]}", 4, "JSON syntax"},
		{"unclosed", "{\n\"version\": \"a\",\n\"roles\": [\n", 4, "ends too early"},
		{"unknown top field", "{\n\"version\": \"a\",\n\"rolez\": []}", 3, `unknown field "rolez"`},
		{"unknown employee field", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"name\": \"A\", \"role\": \"w\", \"pin\": \"1234\"},\n  {\"number\": \"2\", \"nmae\": \"B\"}\n]}", 5, `unknown field "nmae"`},
		{"wrong type", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": 1, \"name\": \"A\", \"role\": \"w\", \"pin\": \"1234\"}]}", 4, `field "number"`},
		{"duplicate PIN", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"name\": \"A\", \"role\": \"w\", \"pin\": \"1234\"},\n\n  {\"number\": \"2\", \"name\": \"B\", \"role\": \"w\", \"pin\": \"1234\"}\n]}", 6, "PIN already used by employee 1"},
		{"duplicate number", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"name\": \"A\", \"role\": \"w\", \"pin\": \"1234\"},\n  {\"number\": \"1\", \"name\": \"B\", \"role\": \"w\", \"pin\": \"4321\"}\n]}", 5, "number already used by A"},
		{"unknown role", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"name\": \"A\", \"role\": \"boss\", \"pin\": \"1234\"}]}", 4, `unknown role "boss"`},
		{"short PIN", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"name\": \"A\", \"role\": \"w\", \"pin\": \"12\"}]}", 4, "4 to 8 digits"},
		{"no PIN", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"name\": \"A\", \"role\": \"w\"}]}", 4, "missing PIN"},
		{"no name", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"role\": \"w\", \"pin\": \"1234\"}]}", 4, "missing name"},
		{"letters in number", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"A1\", \"name\": \"A\", \"role\": \"w\", \"pin\": \"1234\"}]}", 4, "1 to 12 digits"},
		{"bad timezone", "{\"version\": \"a\",\n\"settings\": {\"timezone\": \"Mars/Base\"}}", 2, "unknown timezone"},
		{"bad rotation", "{\"version\": \"a\",\n\n\"settings\": {\"photo_rotation\": 45}}", 3, "photo rotation 45"},
		{"bad language", "{\"version\": \"a\",\n\"settings\": {\"language\": \"fr\"}}", 2, `unknown language "fr"`},
		{"hash without salt", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"}],\n\"employees\": [\n  {\"number\": \"1\", \"name\": \"A\", \"role\": \"w\", \"pin_hash\": \"AAAA\"}]}", 4, "no pin_salt"},
		{"no version", "{\"roles\": []}", 1, "version"},
		{"trailing text", "{\"version\": \"a\"}\n{}", 2, "after the closing"},
		{"duplicate role", "{\"version\": \"a\",\n\"roles\": [{\"id\": \"w\"},\n{\"id\": \"w\"}]}", 3, "defined twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.doc))
			if err == nil {
				t.Fatal("Parse accepted a bad roster")
			}
			re, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T %v is not a *roster.Error", err, err)
			}
			if re.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q (line %d), want line %d and %q", err, re.Line, tc.line, tc.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	kdf := KDF{Salt: []byte("12345678"), Iterations: 1000}
	if _, err := New("v", KDF{Salt: []byte("short"), Iterations: 1000}, Settings{}, nil, nil); err == nil {
		t.Error("short salt accepted")
	}
	if _, err := New("v", KDF{Salt: kdf.Salt, Iterations: 10}, Settings{}, nil, nil); err == nil {
		t.Error("weak iterations accepted")
	}
	if _, err := New("v", kdf, Settings{ScreenTimeout: time.Hour}, nil, nil); err == nil {
		t.Error("hour-long screen timeout accepted")
	}
}

func TestLang(t *testing.T) {
	if English.Next() != Spanish || Spanish.Next() != English || !Spanish.Valid() || Lang("fr").Valid() {
		t.Error("language cycle wrong")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	r, err := Parse(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"pin":`) || strings.Contains(string(b), "4821") {
		t.Errorf("exported roster holds a clear PIN:\n%s", b)
	}
	r2, err := Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("Parse(Marshal(r)): %v\n%s", err, b)
	}
	if r2.Version != r.Version || string(r2.KDF.Salt) != string(r.KDF.Salt) || r2.KDF.Iterations != r.KDF.Iterations || r2.Settings != r.Settings {
		t.Errorf("round trip changed the roster header or settings:\n%+v\n%+v", r2, r)
	}
	if len(r2.Employees()) != 3 || len(r2.Roles()) != 2 {
		t.Fatalf("round trip: %d employees, %d roles", len(r2.Employees()), len(r2.Roles()))
	}
	for i, e := range r.Employees() {
		e2 := r2.Employees()[i]
		if e.ID != e2.ID || e.Number != e2.Number || e.Name != e2.Name || e.RoleID != e2.RoleID || e.Active != e2.Active ||
			e.PhotoConsent != e2.PhotoConsent || e.Language != e2.Language || string(e.PINHash) != string(e2.PINHash) {
			t.Errorf("employee %d: %+v became %+v", i, e, e2)
		}
	}
	if e, ok := r2.MatchPIN("4821"); !ok || e.Name != "Ana Ruiz" {
		t.Errorf("PIN no longer matches after the round trip")
	}
}
