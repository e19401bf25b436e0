package roster

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The roster file is JSON, so that the back office can export it and IT can
// carry it to a site with no network on a USB stick:
//
//	{
//	  "version": "2026-11-22.1",
//	  "settings": {"nickname": "Main St trailer", "timezone": "America/Chicago",
//	               "language": "en", "screen_timeout_seconds": 20},
//	  "roles": [{"id": "foreman", "name": "Foreman", "facefront": true, "clock_for": true}],
//	  "employees": [{"number": "1001", "name": "Ana Ruiz", "role": "foreman",
//	                 "pin": "4821", "photo_consent": true}]
//	}
//
// An employee carries either "pin" (hashed on import and never stored) or
// "pin_hash" (base64 of HashPIN with the file's "pin_salt" and
// "pin_iterations"), which is what the back office exports.

type fileDoc struct {
	Version       string `json:"version"`
	PINSalt       string `json:"pin_salt"`
	PINIterations int    `json:"pin_iterations"`
}

type fileSettings struct {
	Nickname              string  `json:"nickname"`
	Timezone              string  `json:"timezone"`
	Language              Lang    `json:"language"`
	PhotoRotation         int     `json:"photo_rotation"`
	ScreenTimeoutSeconds  float64 `json:"screen_timeout_seconds"`
	SavedScreenSeconds    float64 `json:"saved_screen_seconds"`
	PhotoCountdownSeconds float64 `json:"photo_countdown_seconds"`
	PhotoPreviewSeconds   float64 `json:"photo_preview_seconds"`
	MessageScreenSeconds  float64 `json:"message_screen_seconds"`
}

type fileRole struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FaceFront bool   `json:"facefront"`
	ClockFor  bool   `json:"clock_for"`
}

type fileEmployee struct {
	ID           string `json:"id"`
	Number       string `json:"number"`
	Name         string `json:"name"`
	Role         string `json:"role"`
	Active       *bool  `json:"active"`
	PhotoConsent bool   `json:"photo_consent"`
	Language     Lang   `json:"language"`
	PIN          string `json:"pin,omitempty"`
	PINHash      string `json:"pin_hash,omitempty"`
}

// Parse reads a roster file. Every error names the line and the reason.
// PINs given in the clear are hashed with the file's salt, or with a new
// random salt when the file has none.
func Parse(r io.Reader) (*Roster, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("roster: read: %w", err)
	}
	p := parser{data: data}
	if err := p.parse(); err != nil {
		return nil, err
	}
	kdf := KDF{Iterations: p.doc.PINIterations}
	if kdf.Iterations == 0 {
		kdf.Iterations = DefaultIterations
	}
	if p.doc.PINSalt != "" {
		kdf.Salt, err = base64.StdEncoding.DecodeString(p.doc.PINSalt)
		if err != nil {
			return nil, &Error{p.keyLines["pin_salt"], "pin_salt", errors.New("not base64")}
		}
	} else {
		for i, e := range p.emps {
			if e.PINHash != "" {
				return nil, &Error{p.empLines[i], fmt.Sprintf("employee %q", e.Number), errors.New("pin_hash given but the file has no pin_salt")}
			}
		}
		kdf.Salt = make([]byte, 16)
		rand.Read(kdf.Salt)
	}
	if len(kdf.Salt) < 8 || kdf.Iterations < MinIterations || kdf.Iterations > MaxIterations {
		// New says what is wrong; checked here first so the hashing below
		// is safe, and pointed at its line like every other error.
		_, err := New(p.doc.Version, kdf, Settings{}, nil, nil)
		key := "pin_iterations"
		if len(kdf.Salt) < 8 {
			key = "pin_salt"
		}
		return nil, &Error{p.keyLines[key], key, errors.New(strings.TrimPrefix(err.Error(), "roster: "))}
	}
	fs := p.settings
	s := Settings{
		Nickname:       fs.Nickname,
		Timezone:       fs.Timezone,
		Language:       fs.Language,
		PhotoRotation:  fs.PhotoRotation,
		ScreenTimeout:  seconds(fs.ScreenTimeoutSeconds),
		SavedScreen:    seconds(fs.SavedScreenSeconds),
		PhotoCountdown: seconds(fs.PhotoCountdownSeconds),
		PhotoPreview:   seconds(fs.PhotoPreviewSeconds),
		MessageScreen:  seconds(fs.MessageScreenSeconds),
	}
	roles := make([]Role, len(p.roles))
	for i, fr := range p.roles {
		roles[i] = Role{ID: fr.ID, Name: fr.Name, FaceFront: fr.FaceFront, ClockFor: fr.ClockFor}
	}
	emps := make([]Employee, len(p.emps))
	for i, fe := range p.emps {
		e := Employee{
			ID: fe.ID, Number: fe.Number, Name: fe.Name, RoleID: fe.Role,
			Active: fe.Active == nil || *fe.Active, PhotoConsent: fe.PhotoConsent, Language: fe.Language,
		}
		what := fmt.Sprintf("employee %q", fe.Number)
		switch {
		case fe.PIN != "" && fe.PINHash != "":
			return nil, &Error{p.empLines[i], what, errors.New("give pin or pin_hash, not both")}
		case fe.PIN != "":
			if !ValidPIN(fe.PIN) {
				return nil, &Error{p.empLines[i], what, errors.New("PIN must be 4 to 8 digits")}
			}
			e.PINHash = HashPIN(kdf, fe.PIN)
		case fe.PINHash != "":
			e.PINHash, err = base64.StdEncoding.DecodeString(fe.PINHash)
			if err != nil || len(e.PINHash) != 32 {
				return nil, &Error{p.empLines[i], what, errors.New("pin_hash is not the base64 of a 32-byte hash")}
			}
		}
		emps[i] = e
	}
	if p.doc.Version == "" {
		return nil, &Error{1, "version", errors.New("missing (give the roster a version such as \"2026-11-22.1\")")}
	}
	ro, err := build(p.doc.Version, kdf, s, roles, emps, p.roleLines, p.empLines)
	var re *Error
	if err != nil && !errors.As(err, &re) {
		// Settings problems come without a line: point at "settings".
		return nil, &Error{p.keyLines["settings"], "settings", errors.New(strings.TrimPrefix(err.Error(), "roster: settings: "))}
	}
	return ro, err
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

type parser struct {
	data      []byte
	dec       *json.Decoder
	doc       fileDoc
	settings  fileSettings
	roles     []fileRole
	emps      []fileEmployee
	roleLines []int
	empLines  []int
	keyLines  map[string]int
}

func (p *parser) line(off int64) int {
	// A syntax error in the first byte comes as offset -1 (see errAt).
	off = max(0, min(off, int64(len(p.data))))
	// Skip the separators the decoder has not consumed yet, so the line is
	// the one where the next value starts.
	for off < int64(len(p.data)) && bytes.IndexByte([]byte(" \t\r\n,:"), p.data[off]) >= 0 {
		off++
	}
	return bytes.Count(p.data[:off], []byte("\n")) + 1
}

func (p *parser) errAt(off int64, what string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &Error{p.line(se.Offset - 1), what, fmt.Errorf("JSON syntax: %v", se)}
	case errors.As(err, &te):
		return &Error{p.line(off), what, fmt.Errorf("field %q: want %v, found a JSON %s", te.Field, te.Type, te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &Error{p.line(int64(len(p.data))), what, errors.New("file ends too early (unclosed { or [ ?)")}
	}
	return &Error{p.line(off), what, err}
}

// decode decodes one value from raw (found at off) strictly.
func (p *parser) decode(raw json.RawMessage, off int64, what string, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			se.Offset += off
		}
		return p.errAt(off, what, err)
	}
	return nil
}

func (p *parser) parse() error {
	p.keyLines = map[string]int{}
	p.dec = json.NewDecoder(bytes.NewReader(p.data))
	tok, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{1, "file", errors.New("empty; a roster file is a JSON object")}
		}
		return p.errAt(0, "file", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &Error{1, "file", errors.New("a roster file is a JSON object starting with {")}
	}
	for p.dec.More() {
		keyOff := p.dec.InputOffset()
		tok, err := p.dec.Token()
		if err != nil {
			return p.errAt(keyOff, "file", err)
		}
		key, _ := tok.(string)
		p.keyLines[key] = p.line(keyOff)
		switch key {
		case "roles", "employees":
			if err := p.parseArray(key); err != nil {
				return err
			}
		case "settings":
			if err := p.value(key, &p.settings); err != nil {
				return err
			}
		case "version":
			if err := p.value(key, &p.doc.Version); err != nil {
				return err
			}
		case "pin_salt":
			if err := p.value(key, &p.doc.PINSalt); err != nil {
				return err
			}
		case "pin_iterations":
			if err := p.value(key, &p.doc.PINIterations); err != nil {
				return err
			}
		default:
			return &Error{p.line(keyOff), "file", fmt.Errorf("unknown field %q (known: version, pin_salt, pin_iterations, settings, roles, employees)", key)}
		}
	}
	if _, err := p.dec.Token(); err != nil {
		return p.errAt(p.dec.InputOffset(), "file", err)
	}
	if p.dec.More() {
		return &Error{p.line(p.dec.InputOffset()), "file", errors.New("text after the closing }")}
	}
	return nil
}

func (p *parser) value(key string, v any) error {
	off := p.dec.InputOffset()
	var raw json.RawMessage
	if err := p.dec.Decode(&raw); err != nil {
		return p.errAt(off, key, err)
	}
	return p.decode(raw, off, key, v)
}

func (p *parser) parseArray(key string) error {
	off := p.dec.InputOffset()
	tok, err := p.dec.Token()
	if err != nil {
		return p.errAt(off, key, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return &Error{p.line(off), key, errors.New("must be a list [ ... ]")}
	}
	for i := 0; p.dec.More(); i++ {
		off := p.dec.InputOffset()
		var raw json.RawMessage
		if err := p.dec.Decode(&raw); err != nil {
			return p.errAt(off, fmt.Sprintf("%s item %d", key, i+1), err)
		}
		line := p.line(off)
		what := fmt.Sprintf("%s item %d", key, i+1)
		if key == "roles" {
			var r fileRole
			if err := p.decode(raw, off, what, &r); err != nil {
				return err
			}
			p.roles = append(p.roles, r)
			p.roleLines = append(p.roleLines, line)
		} else {
			var e fileEmployee
			if err := p.decode(raw, off, what, &e); err != nil {
				return err
			}
			p.emps = append(p.emps, e)
			p.empLines = append(p.empLines, line)
		}
	}
	if _, err := p.dec.Token(); err != nil {
		return p.errAt(p.dec.InputOffset(), key, err)
	}
	return nil
}

// Marshal writes r in the roster file format, PINs as hashes with the
// roster's salt: what the back office sends a kiosk and what Parse reads.
func Marshal(r *Roster) ([]byte, error) {
	type doc struct {
		Version       string         `json:"version"`
		PINSalt       string         `json:"pin_salt"`
		PINIterations int            `json:"pin_iterations"`
		Settings      fileSettings   `json:"settings"`
		Roles         []fileRole     `json:"roles"`
		Employees     []fileEmployee `json:"employees"`
	}
	s := r.Settings
	d := doc{
		Version:       r.Version,
		PINSalt:       base64.StdEncoding.EncodeToString(r.KDF.Salt),
		PINIterations: r.KDF.Iterations,
		Settings: fileSettings{
			Nickname: s.Nickname, Timezone: s.Timezone, Language: s.Language, PhotoRotation: s.PhotoRotation,
			ScreenTimeoutSeconds:  s.ScreenTimeout.Seconds(),
			SavedScreenSeconds:    s.SavedScreen.Seconds(),
			PhotoCountdownSeconds: s.PhotoCountdown.Seconds(),
			PhotoPreviewSeconds:   s.PhotoPreview.Seconds(),
			MessageScreenSeconds:  s.MessageScreen.Seconds(),
		},
		Roles:     []fileRole{},
		Employees: []fileEmployee{},
	}
	for _, ro := range r.Roles() {
		d.Roles = append(d.Roles, fileRole{ID: ro.ID, Name: ro.Name, FaceFront: ro.FaceFront, ClockFor: ro.ClockFor})
	}
	for _, e := range r.employees {
		active := e.Active
		d.Employees = append(d.Employees, fileEmployee{
			ID: e.ID, Number: e.Number, Name: e.Name, Role: e.RoleID, Active: &active,
			PhotoConsent: e.PhotoConsent, Language: e.Language,
			PINHash: base64.StdEncoding.EncodeToString(e.PINHash),
		})
	}
	return json.MarshalIndent(d, "", "  ")
}
