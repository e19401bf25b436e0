package backoffice

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siteclock/siteclock/sms"
)

// The Devices page: the setup code, sending it by SMS, and the approved
// and disabled kiosks (after ExakTime's Mobile Devices section).

type devicesView struct {
	Code         string // grouped for reading: "1234 5678"
	CodeRaw      string
	NextChange   string
	NextChangeIn string
	Period       string
	SMS          bool // an SMS gateway is configured
	Phone        string
	PhoneError   string
	Approved     []deviceRow
	Disabled     []deviceRow
	Current      string // the roster version
	Now          string
}

type deviceRow struct {
	ID, ShortID, Nickname, LastUsedBy, Type, Version string
	LastCheckIn, LastCheckInAgo                      string
	Roster                                           string
	RosterOK                                         bool
	Waiting                                          int
	OldestWaiting                                    string
	Camera                                           string
	CameraOK                                         bool
	DisabledAt, DisabledBy                           string
	Goodbye                                          string // when it sent its last transmission
	// The check of its signed punches (integrity.go): a short verdict,
	// and a line for each problem found.
	Chain      string
	ChainOK    bool
	ChainLines []string
	// Updates (web_releases.go): the architecture it reports, the version
	// chosen for it (for all devices or this one) and what that means for
	// it, and its latest update report.
	Arch                            string
	Target, TargetScope, TargetNote string
	TargetOK                        bool
	Update, UpdateClass, UpdateAt   string
}

// maxChainLines is how many problems a device's row lists; the API lists
// them all.
const maxChainLines = 5

// chainCells says what was found in a device's signed punches.
func chainCells(row *deviceRow, r ChainReport) {
	switch {
	case !r.Signed && r.UnsignedLate == 0:
		row.Chain, row.ChainOK = "no signed punches yet", true
	case r.OK():
		row.Chain, row.ChainOK = "verified", true
	default:
		n := len(r.Problems) + r.UnsignedLate
		row.Chain = fmt.Sprintf("%d problem%s", n, map[bool]string{true: "", false: "s"}[n == 1])
	}
	if r.UnsignedLate > 0 {
		row.ChainLines = append(row.ChainLines, fmt.Sprintf("%d unsigned after signed ones", r.UnsignedLate))
	}
	for i, p := range r.Problems {
		if i == maxChainLines {
			row.ChainLines = append(row.ChainLines, fmt.Sprintf("and %d more (see the admin API)", len(r.Problems)-i))
			break
		}
		row.ChainLines = append(row.ChainLines, p.Words())
	}
}

func (o *Office) deviceRow(d Device, current string, now time.Time, loc *time.Location) deviceRow {
	row := deviceRow{
		ID: d.ID, ShortID: shortID(d.ID), Nickname: d.Nickname, LastUsedBy: d.LastUsedByName, Type: d.Hardware, Version: d.Version,
		Waiting: d.Waiting, DisabledBy: d.DisabledBy,
	}
	if row.LastUsedBy == "" && d.LastUsedBy != "" {
		row.LastUsedBy = "(removed employee)"
	}
	if !d.LastCheckIn.IsZero() {
		row.LastCheckIn, row.LastCheckInAgo = dateTime(d.LastCheckIn, loc), ago(d.LastCheckIn, now)
	}
	row.Roster, row.RosterOK = rosterWords(d, current)
	row.Camera, row.CameraOK = cameraWords(d)
	if d.Waiting > 0 && !d.OldestWaiting.IsZero() {
		row.OldestWaiting = approxDuration(now.Sub(d.OldestWaiting))
	}
	if d.Disabled() {
		row.DisabledAt = dateTime(d.DisabledAt, loc)
	}
	if d.Gone() {
		row.Goodbye = dateTime(d.GoodbyeAt, loc)
	}
	return row
}

func (o *Office) devicesView() (devicesView, error) {
	now, loc := o.companyNow()
	code, err := o.store.SetupCode(now)
	if err != nil {
		return devicesView{}, err
	}
	c, err := o.store.Company()
	if err != nil {
		return devicesView{}, err
	}
	ds, err := o.store.Devices()
	if err != nil {
		return devicesView{}, err
	}
	info, _, err := o.updateInfo()
	if err != nil {
		return devicesView{}, err
	}
	v := devicesView{
		Code: groupDigits(code.Code), CodeRaw: code.Code, NextChange: dateTime(code.NextChange, loc),
		NextChangeIn: approxDuration(code.NextChange.Sub(now)), Period: approxDuration(c.SetupCodePeriod),
		SMS: o.sms != nil, Current: c.RosterVersion, Now: dateTime(now, loc),
	}
	for _, d := range ds {
		row := o.deviceRow(d, c.RosterVersion, now, loc)
		r, err := o.store.ChainReport(d.ID)
		if err != nil {
			return devicesView{}, err
		}
		chainCells(&row, r)
		info.updateCells(&row, d, loc)
		if d.Disabled() {
			v.Disabled = append(v.Disabled, row)
		} else {
			v.Approved = append(v.Approved, row)
		}
	}
	return v, nil
}

func (o *Office) devicesPage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	v, err := o.devicesView()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, http.StatusOK, "devices", "devices", "Devices", v)
}

func (o *Office) rotateCodeForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	code, err := o.store.RotateSetupCode(o.now())
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.log.Info("setup code rotated by an admin", "admin", sess.Admin.Username)
	o.done(w, r, "/devices", fmt.Sprintf("New setup code %s. The old one no longer enrolls kiosks.", groupDigits(code.Code)))
}

func (o *Office) sendCodeForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	phone := strings.TrimSpace(r.PostForm.Get("phone"))
	to, err := o.sendSetupCode(r.Context(), phone, sess.Admin.Username)
	if err == nil {
		o.done(w, r, "/devices", "Sent the setup code by text message to "+sms.Mask(to)+".")
		return
	}
	v, verr := o.devicesView()
	if verr != nil {
		o.failPage(w, r, sess, verr)
		return
	}
	v.Phone = phone
	var fe *fieldError
	status := http.StatusBadRequest
	switch {
	case errors.As(err, &fe):
		v.PhoneError = fe.Msg
	case errors.Is(err, errSMSOff):
		status, v.PhoneError = http.StatusServiceUnavailable, "Text messages are not set up on this server (start it with -sms-webhook). Read the setup code to the technician instead."
	case errors.Is(err, errSMSFailed):
		status, v.PhoneError = http.StatusBadGateway, "The SMS gateway did not take the message. Try again, or read the setup code to the technician. (The server log says why.)"
	default:
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, status, "devices", "devices", "Devices", v)
}

type disableView struct {
	Device deviceRow
}

func (o *Office) disablePage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	d, err := o.store.Device(r.PathValue("id"))
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	if d.Disabled() {
		o.done(w, r, "/devices", d.Nickname+" is disabled already.")
		return
	}
	now, loc := o.companyNow()
	cur, err := o.store.RosterVersion()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, http.StatusOK, "disable", "devices", "Disable "+d.Nickname, disableView{Device: o.deviceRow(d, cur, now, loc)})
}

func (o *Office) disableForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	id := r.PathValue("id")
	d, err := o.store.Device(id)
	if err == nil {
		err = o.store.DisableDevice(id, sess.Admin.Username, o.now())
	}
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.done(w, r, "/devices", fmt.Sprintf("Disabled %s. It sends what it holds at its next contact, then stops punching.", d.Nickname))
}
