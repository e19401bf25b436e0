package backoffice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siteclock/siteclock/roster"
	"github.com/siteclock/siteclock/sms"
)

// The admin actions, shared by the web UI and the API so that both
// validate and answer alike. Errors a person can fix in one field are
// *fieldError; the rest are the store's.

// fieldError is bad input in one field of a form or request. It is also
// ErrInvalid.
type fieldError struct {
	Field string // the form and JSON field name: "pin", "number", "phone"
	Msg   string // what to fix, a sentence without the field's name
	kind  error  // ErrInvalid, or a more precise sentinel (ErrPINTaken)
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Msg }

func (e *fieldError) Is(target error) bool {
	if e.kind != nil {
		return target == e.kind
	}
	return target == ErrInvalid
}

func badField(field, format string, args ...any) *fieldError {
	return &fieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Errors of the admin actions that are not the store's.
var (
	// errSMSOff means no SMS gateway is configured.
	errSMSOff = errors.New("no SMS gateway is configured: start siteclock-server with -sms-webhook URL, or read the setup code to the technician")
	// errSMSFailed means the gateway refused or could not be reached.
	errSMSFailed = errors.New("sms failed")
)

// employeeInput is an employee as a form or request gives it.
type employeeInput struct {
	Employee
	PIN string // "" keeps the PIN when editing
}

// validateEmployee checks what a person typed, field by field, before the
// store sees it (the store checks again, and checks what needs the
// database: taken numbers and PINs).
func validateEmployee(in employeeInput, creating bool, roles []roster.Role) *fieldError {
	switch {
	case strings.TrimSpace(in.Name) == "":
		return badField("name", "Type the employee's name.")
	case utf8.RuneCountInString(in.Name) > maxNameLen:
		return badField("name", "At most %d characters.", maxNameLen)
	case in.Number == "" || len(in.Number) > 12 || strings.Trim(in.Number, "0123456789") != "":
		return badField("number", "1 to 12 digits: the number a foreman types for Clock For.")
	case creating && in.PIN == "":
		return badField("pin", "Give a PIN of 4 to 8 digits: the employee types it to punch.")
	case in.PIN != "" && !roster.ValidPIN(in.PIN):
		return badField("pin", "A PIN is 4 to 8 digits.")
	case in.Language != "" && !in.Language.Valid():
		return badField("language", "Choose English, Spanish, or the kiosk's default.")
	}
	for _, r := range roles {
		if r.ID == in.RoleID {
			return nil
		}
	}
	if in.RoleID == "" {
		return badField("role_id", "Choose a security role.")
	}
	return badField("role_id", "There is no role %q; choose one of the security roles.", in.RoleID)
}

// saveEmployee creates (id "") or updates an employee.
func (o *Office) saveEmployee(id string, in employeeInput) (Employee, error) {
	in.Name = strings.TrimSpace(in.Name)
	in.Number = strings.TrimSpace(in.Number)
	roles, err := o.store.Roles()
	if err != nil {
		return Employee{}, err
	}
	if fe := validateEmployee(in, id == "", roles); fe != nil {
		return Employee{}, fe
	}
	var e Employee
	if id == "" {
		e, err = o.store.CreateEmployee(in.Employee, in.PIN)
	} else {
		in.ID = id
		e, err = o.store.UpdateEmployee(in.Employee, in.PIN)
	}
	switch {
	case errors.Is(err, ErrNumberTaken):
		return Employee{}, &fieldError{Field: "number", Msg: "Another employee has this number; choose another.", kind: ErrNumberTaken}
	case errors.Is(err, ErrPINTaken):
		return Employee{}, &fieldError{Field: "pin", Msg: "Another active employee has this PIN; choose another.", kind: ErrPINTaken}
	}
	return e, err
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// roleID makes a role ID from its name: "Site Lead" is "site-lead"; a name
// with no letters or digits of its own gets a random one.
func roleID(name string) string {
	id := strings.Trim(notSlug.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(id) > 32 {
		id = strings.TrimRight(id[:32], "-")
	}
	if id == "" {
		b := make([]byte, 3)
		rand.Read(b)
		id = "role-" + hex.EncodeToString(b)
	}
	return id
}

// createRole adds a role; id "" makes one from the name.
func (o *Office) createRole(r roster.Role) (roster.Role, error) {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		return roster.Role{}, badField("name", "Type the role's name.")
	}
	if utf8.RuneCountInString(r.Name) > maxNameLen {
		return roster.Role{}, badField("name", "At most %d characters.", maxNameLen)
	}
	if r.ID == "" {
		r.ID = roleID(r.Name)
	} else if !roleIDPattern.MatchString(r.ID) {
		return roster.Role{}, badField("id", "1 to 32 lowercase letters, digits, '-' or '_', starting with a letter or digit.")
	}
	err := o.store.CreateRole(r)
	if errors.Is(err, ErrRoleExists) {
		return roster.Role{}, &fieldError{Field: "name", Msg: fmt.Sprintf("A role %q exists already; choose another name.", r.ID), kind: ErrRoleExists}
	}
	return r, err
}

// sendSetupCode texts the current setup code to a US phone number and
// returns the number as sent to (E.164).
func (o *Office) sendSetupCode(ctx context.Context, phone, by string) (string, error) {
	to, err := sms.NormalizeUS(phone)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "sms: ")
		return "", badField("phone", "%s.", strings.ToUpper(msg[:1])+msg[1:])
	}
	if o.sms == nil {
		return "", errSMSOff
	}
	now := o.now()
	code, err := o.store.SetupCode(now)
	if err != nil {
		return "", err
	}
	c, err := o.store.Company()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := o.sms.Send(ctx, to, sms.SetupCodeMessage(c.Name, code.Code, code.NextChange.In(o.zone()))); err != nil {
		o.log.Error("sending the setup code by SMS failed", "to", sms.Mask(to), "admin", by, "err", err)
		return "", fmt.Errorf("%w: %v", errSMSFailed, err)
	}
	o.log.Info("setup code sent by SMS", "to", sms.Mask(to), "admin", by)
	return to, nil
}

// deviceSettingsInput changes some device settings; nil fields stay.
type deviceSettingsInput struct {
	Nickname       *string  `json:"nickname"`
	Timezone       *string  `json:"timezone"`
	Language       *string  `json:"language"`
	PhotoRotation  *int     `json:"photo_rotation"`
	ScreenTimeout  *float64 `json:"screen_timeout_seconds"`
	SavedScreen    *float64 `json:"saved_screen_seconds"`
	PhotoCountdown *float64 `json:"photo_countdown_seconds"`
	PhotoPreview   *float64 `json:"photo_preview_seconds"`
	MessageScreen  *float64 `json:"message_screen_seconds"`
}

// seconds turns a number of seconds from a person into a duration.
func seconds(field string, v float64) (time.Duration, *fieldError) {
	if math.IsNaN(v) || v <= 0 || v > 1e9 {
		return 0, badField(field, "Give a number of seconds above 0.")
	}
	return time.Duration(math.Round(v * float64(time.Second))), nil
}

// updateDeviceSettings applies in to the current device settings.
func (o *Office) updateDeviceSettings(in deviceSettingsInput) (roster.Settings, error) {
	st, err := o.store.Settings()
	if err != nil {
		return roster.Settings{}, err
	}
	if in.Nickname != nil {
		st.Nickname = strings.TrimSpace(*in.Nickname)
		if st.Nickname == "" {
			return roster.Settings{}, badField("nickname", "Give the name new kiosks show until IT names them.")
		}
		if err := validText("nickname", st.Nickname, true); err != nil || utf8.RuneCountInString(st.Nickname) > maxNameLen {
			return roster.Settings{}, badField("nickname", "At most %d characters, without control characters.", maxNameLen)
		}
	}
	if in.Timezone != nil {
		tz := strings.TrimSpace(*in.Timezone)
		if _, err := time.LoadLocation(tz); err != nil || strings.EqualFold(tz, "local") {
			return roster.Settings{}, badField("timezone", "%q is not a time zone; use an IANA name such as America/Chicago, or leave it empty for the server's zone.", tz)
		}
		st.Timezone = tz
	}
	if in.Language != nil {
		l := roster.Lang(*in.Language)
		if !l.Valid() {
			return roster.Settings{}, badField("language", "Choose en (English) or es (Spanish).")
		}
		st.Language = l
	}
	if in.PhotoRotation != nil {
		switch *in.PhotoRotation {
		case 0, 90, 180, 270:
			st.PhotoRotation = *in.PhotoRotation
		default:
			return roster.Settings{}, badField("photo_rotation", "Choose 0, 90, 180 or 270 degrees.")
		}
	}
	for _, d := range []struct {
		field string
		in    *float64
		out   *time.Duration
	}{
		{"screen_timeout_seconds", in.ScreenTimeout, &st.ScreenTimeout},
		{"saved_screen_seconds", in.SavedScreen, &st.SavedScreen},
		{"photo_countdown_seconds", in.PhotoCountdown, &st.PhotoCountdown},
		{"photo_preview_seconds", in.PhotoPreview, &st.PhotoPreview},
		{"message_screen_seconds", in.MessageScreen, &st.MessageScreen},
	} {
		if d.in == nil {
			continue
		}
		v, fe := seconds(d.field, *d.in)
		if fe != nil {
			return roster.Settings{}, fe
		}
		*d.out = v
	}
	return o.store.SetSettings(st)
}

// companyInput changes some company settings; nil fields stay.
type companyInput struct {
	Name               *string  `json:"name"`
	SyncEvery          *float64 `json:"sync_every_seconds"`
	PhotoRetentionDays *int     `json:"photo_retention_days"`
	SetupCodePeriod    *float64 `json:"setup_code_period_seconds"`
}

// updateCompany applies in to the company's settings.
func (o *Office) updateCompany(in companyInput) (Company, error) {
	c, err := o.store.Company()
	if err != nil {
		return Company{}, err
	}
	cs := c.CompanySettings
	if in.Name != nil {
		cs.Name = strings.TrimSpace(*in.Name)
		if cs.Name == "" || utf8.RuneCountInString(cs.Name) > maxNameLen {
			return Company{}, badField("name", "Give the company's name (at most %d characters).", maxNameLen)
		}
	}
	if in.SyncEvery != nil {
		v, fe := seconds("sync_every_seconds", *in.SyncEvery)
		if fe != nil {
			return Company{}, fe
		}
		if v < minSyncEvery || v > maxSyncEvery {
			return Company{}, badField("sync_every_seconds", "Between %s and %s.", approxDuration(minSyncEvery), approxDuration(maxSyncEvery))
		}
		cs.SyncEvery = v
	}
	if in.PhotoRetentionDays != nil {
		if *in.PhotoRetentionDays < 0 || *in.PhotoRetentionDays > maxRetentionDays {
			return Company{}, badField("photo_retention_days", "Between 0 (keep photos) and %d days.", maxRetentionDays)
		}
		cs.PhotoRetentionDays = *in.PhotoRetentionDays
	}
	if in.SetupCodePeriod != nil {
		v, fe := seconds("setup_code_period_seconds", *in.SetupCodePeriod)
		if fe != nil {
			return Company{}, fe
		}
		if v < minSetupCodePeriod || v > maxSetupCodePeriod {
			return Company{}, badField("setup_code_period_seconds", "Between %s and %s.", approxDuration(minSetupCodePeriod), approxDuration(maxSetupCodePeriod))
		}
		cs.SetupCodePeriod = v
	}
	c, err = o.store.UpdateCompany(cs)
	if err == nil {
		o.log.Info("company settings changed", "sync_every", c.SyncEvery, "photo_retention_days", c.PhotoRetentionDays, "setup_code_period", c.SetupCodePeriod)
	}
	return c, err
}
