package backoffice

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/protocol"
)

// The Releases page and the admin API's releases and update targets: an
// admin uploads signed releases, chooses the version every device should
// run, and may choose another for some devices. The Devices page shows
// where each kiosk stands.

// maxReleaseUpload bounds an upload of a release: the largest binary, its
// manifest, and the multipart framing around them.
const maxReleaseUpload = firmware.MaxBinaryBytes + firmware.MaxManifestBytes + 64<<10

// releaseReadTimeout is how long an upload of a release may take, far
// beyond the server's usual read timeout: a binary of tens of megabytes
// from a site office's uplink.
const releaseReadTimeout = 30 * time.Minute

// Errors of a release upload that are not the store's.
var (
	errUploadCSRF     = errors.New("release upload without the session's CSRF token")
	errUploadTooLarge = errors.New("release upload over the limit")
)

// receiveRelease reads a release upload, multipart/form-data with a
// "manifest" file part and then a "binary" file part (the web UI's form
// has its "csrf" field before them, which csrf checks), and adds it to the
// store. The binary is streamed to disk as it arrives.
func (o *Office) receiveRelease(w http.ResponseWriter, r *http.Request, by string, csrf func(string) bool) (Release, bool, error) {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(releaseReadTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, maxReleaseUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		return Release{}, false, badField("binary", "Send the release as multipart/form-data with the parts manifest and binary (curl -F manifest=@FILE -F binary=@FILE).")
	}
	next := func() (*multipart.Part, error) {
		p, err := mr.NextPart()
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, errUploadTooLarge
		case err == io.EOF:
			return nil, badField("binary", "The upload has no binary part; send the manifest, then the binary.")
		case err != nil:
			return nil, badField("binary", "The upload is not readable multipart data (%v); send it again.", err)
		}
		return p, nil
	}
	p, err := next()
	if err != nil {
		return Release{}, false, err
	}
	if csrf != nil {
		// The web UI's form puts its token first, so that nothing is
		// written to disk for a forged form.
		tok, _ := io.ReadAll(io.LimitReader(p, 256))
		if p.FormName() != "csrf" || !csrf(string(tok)) {
			return Release{}, false, errUploadCSRF
		}
		if p, err = next(); err != nil {
			return Release{}, false, err
		}
	}
	if p.FormName() != "manifest" {
		return Release{}, false, badField("manifest", "Send the manifest part first, then the binary (found %q).", p.FormName())
	}
	manifest, err := io.ReadAll(io.LimitReader(p, firmware.MaxManifestBytes+1))
	if err != nil {
		return Release{}, false, uploadReadError(err)
	}
	switch {
	case len(manifest) == 0:
		return Release{}, false, badField("manifest", "Choose the signed manifest (the file `siteclockd release sign` wrote).")
	case len(manifest) > firmware.MaxManifestBytes:
		return Release{}, false, badField("manifest", "Over %d bytes: this is not a signed manifest; choose the file `siteclockd release sign` wrote.", firmware.MaxManifestBytes)
	}
	if p, err = next(); err != nil {
		return Release{}, false, err
	}
	if p.FormName() != "binary" {
		return Release{}, false, badField("binary", "Send the binary part after the manifest (found %q).", p.FormName())
	}
	rel, created, err := o.store.AddRelease(manifest, p, by, ReleaseOptions{Keys: o.releaseKeys}, o.now())
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Release{}, false, errUploadTooLarge
	}
	if errors.Is(err, errBinaryRead) {
		return Release{}, false, badField("binary", "The upload broke off before the whole binary arrived; send it again.")
	}
	if err == nil {
		if created {
			o.log.Info("release uploaded by an admin", "release_id", rel.ID, "version", rel.Version, "arch", rel.Arch, "admin", by)
		}
	}
	return rel, created, err
}

func uploadReadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errUploadTooLarge
	}
	return badField("binary", "The upload broke off; send it again.")
}

// targetInput is a target in an API request or a form.
type targetInput struct {
	Version string `json:"version"`
}

// setTarget sets (version non-empty) or clears (empty) a target.
func (o *Office) setTarget(deviceID, version, by string) error {
	version = strings.TrimSpace(version)
	if version == "" {
		return o.store.ClearUpdateTarget(deviceID, by)
	}
	_, err := o.store.SetUpdateTarget(deviceID, version, by, o.now())
	if errors.Is(err, ErrNoRelease) {
		return &fieldError{Field: "version", Msg: strings.TrimPrefix(err.Error(), "backoffice: "), kind: ErrNoRelease}
	}
	return err
}

// updateInfo is what the pages and the API need to say where a device
// stands with its updates.
type updateInfo struct {
	targets UpdateTargets
	builds  map[releaseKey]bool
}

func (o *Office) updateInfo() (updateInfo, []Release, error) {
	ts, err := o.store.UpdateTargets()
	if err != nil {
		return updateInfo{}, nil, err
	}
	rs, err := o.store.Releases()
	if err != nil {
		return updateInfo{}, nil, err
	}
	u := updateInfo{targets: ts, builds: map[releaseKey]bool{}}
	for _, r := range rs {
		u.builds[releaseKey{r.Version, r.Arch}] = true
	}
	return u, rs, nil
}

// targetWords says what a device's target means for it, and whether that
// is as it should be: "up to date", "no build for armv7".
func (u updateInfo) targetWords(d Device) (target, scope, note string, ok bool) {
	t, found := u.targets.For(d.ID)
	if !found {
		return "", "", "", true
	}
	scope = "all devices"
	if t.DeviceID != "" {
		scope = "this device"
	}
	switch {
	case sameVersion(t.Version, d.Version):
		return t.Version, scope, "up to date", true
	case d.Disabled():
		return t.Version, scope, "not offered: the device is disabled", true
	case d.Arch == "":
		return t.Version, scope, "not offered: the kiosk does not report its architecture (its software may be too old for updates)", false
	case !u.builds[releaseKey{t.Version, d.Arch}]:
		return t.Version, scope, fmt.Sprintf("not offered: no %s build for %s; upload one", t.Version, d.Arch), false
	case sameVersion(d.Update.Version, t.Version) && !d.Update.Received.Before(t.SetAt) &&
		(d.Update.State == protocol.UpdateRolledBack || d.Update.State == protocol.UpdateRefused):
		// As offerUpdate decides.
		return t.Version, scope, "not offered again after the kiosk " + map[bool]string{true: "rolled it back", false: "refused it"}[d.Update.State == protocol.UpdateRolledBack] +
			"; choose the version again to retry", false
	}
	return t.Version, scope, "offered at its next check-in", true
}

// updateWords says a device's latest update report for people:
// "downloading 1.3.0: 42%", "rolled back 1.3.0: did not report ready
// within 2m". class is the pill's: "ok", "warn", "danger" or "".
func updateWords(u UpdateStatus) (text, class string) {
	v := u.Version
	withDetail := func(s string) string {
		if u.Detail != "" {
			return s + ": " + u.Detail
		}
		return s
	}
	switch u.State {
	case "":
		return "", ""
	case protocol.UpdateDownloading:
		return fmt.Sprintf("downloading %s: %d%%", v, u.Progress), ""
	case protocol.UpdateReady:
		return fmt.Sprintf("%s downloaded, installs when no one is punching", v), ""
	case protocol.UpdateInstalling:
		return "installing " + v, ""
	case protocol.UpdateInstalled:
		return "installed " + v, "ok"
	case protocol.UpdateRolledBack:
		return withDetail("rolled back " + v), "danger"
	case protocol.UpdateRefused:
		return withDetail("refused " + v), "danger"
	case protocol.UpdateFailed:
		return withDetail("failed " + v + " (retried later)"), "warn"
	}
	return withDetail(u.State + " " + v), ""
}

// updateCells fills a device row's update columns.
func (u updateInfo) updateCells(row *deviceRow, d Device, loc *time.Location) {
	row.Arch = d.Arch
	row.Target, row.TargetScope, row.TargetNote, row.TargetOK = u.targetWords(d)
	row.Update, row.UpdateClass = updateWords(d.Update)
	at := d.Update.At
	if at.IsZero() {
		at = d.Update.Received
	}
	row.UpdateAt = dateTime(at, loc)
}

// The Releases page.

type releasesView struct {
	Versions    []versionRow
	AllTarget   string // every device's target version, "" for none
	AllSetBy    string
	AllSetAt    string
	AllOptions  []option
	Devices     []targetRow
	Verifies    bool // the server checks manifests' signatures at upload
	MaxSize     string
	UploadError string
}

type versionRow struct {
	Version string
	Builds  []buildRow
}

type buildRow struct {
	ID, Arch, Size, SHA256, ShortSHA, UploadedAt, UploadedBy string
}

type targetRow struct {
	deviceRow
	Own     string // the device's own target, "" when it follows every device's
	Options []option
}

func (o *Office) releasesView() (releasesView, error) {
	_, loc := o.companyNow()
	info, rs, err := o.updateInfo()
	if err != nil {
		return releasesView{}, err
	}
	ds, err := o.store.Devices()
	if err != nil {
		return releasesView{}, err
	}
	v := releasesView{Verifies: len(o.releaseKeys) > 0, MaxSize: fmt.Sprintf("%d MB", firmware.MaxBinaryBytes>>20)}
	var versions []string
	for _, r := range rs {
		if n := len(v.Versions); n == 0 || v.Versions[n-1].Version != r.Version {
			v.Versions = append(v.Versions, versionRow{Version: r.Version})
			versions = append(versions, r.Version)
		}
		vr := &v.Versions[len(v.Versions)-1]
		vr.Builds = append(vr.Builds, buildRow{ID: r.ID, Arch: r.Arch, Size: megabytes(r.Size), SHA256: r.SHA256, ShortSHA: r.SHA256[:12],
			UploadedAt: dateTime(r.UploadedAt, loc), UploadedBy: r.UploadedBy})
	}
	if t := info.targets.All; t != nil {
		v.AllTarget, v.AllSetBy, v.AllSetAt = t.Version, t.SetBy, dateTime(t.SetAt, loc)
	}
	v.AllOptions = append(v.AllOptions, option{Value: "", Label: "No update", Selected: v.AllTarget == ""})
	for _, ver := range versions {
		v.AllOptions = append(v.AllOptions, option{Value: ver, Label: ver, Selected: ver == v.AllTarget})
	}
	for _, d := range ds {
		if d.Disabled() {
			continue
		}
		row := targetRow{deviceRow: deviceRow{ID: d.ID, ShortID: shortID(d.ID), Nickname: d.Nickname, Version: d.Version}}
		info.updateCells(&row.deviceRow, d, loc)
		if t, ok := info.targets.Devices[d.ID]; ok {
			row.Own = t.Version
		}
		follow := "Same as all devices"
		if v.AllTarget != "" {
			follow += " (" + v.AllTarget + ")"
		}
		row.Options = append(row.Options, option{Value: "", Label: follow, Selected: row.Own == ""})
		for _, ver := range versions {
			row.Options = append(row.Options, option{Value: ver, Label: ver, Selected: ver == row.Own})
		}
		v.Devices = append(v.Devices, row)
	}
	return v, nil
}

// megabytes says a size the way a person reads it: "14.2 MB".
func megabytes(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

func (o *Office) releasesPage(w http.ResponseWriter, r *http.Request, sess adminSession) {
	v, err := o.releasesView()
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	o.show(w, r, sess, http.StatusOK, "releases", "releases", "Releases", v)
}

// uploadReleaseForm takes the Releases page's upload form. It is not
// behind signedIn, which reads a form into memory: the session and the
// origin are checked here, and the form's CSRF token, its first part,
// before anything is written to disk.
func (o *Office) uploadReleaseForm(w http.ResponseWriter, r *http.Request) {
	_, sess, ok := o.sessionFrom(r)
	if !ok {
		http.Redirect(w, r, "/signin?next=%2Freleases", http.StatusSeeOther)
		return
	}
	if err := o.crossOrigin.Check(r); err != nil {
		o.log.Warn("cross-site form post refused", "path", r.URL.Path, "admin", sess.Admin.Username)
		o.forbidden(w, r, &sess, "This form was sent from another site, so it was refused. Open the page in siteclock and send it from there.")
		return
	}
	csrf := func(tok string) bool { return subtle.ConstantTimeCompare([]byte(tok), []byte(sess.CSRF)) == 1 }
	rel, created, err := o.receiveRelease(w, r, sess.Admin.Username, csrf)
	if err == nil {
		msg := fmt.Sprintf("Added %s. Choose it below for the devices that should run it.", rel.Name())
		if !created {
			msg = fmt.Sprintf("%s was uploaded already, the very same; nothing changed.", rel.Name())
		}
		o.done(w, r, "/releases", msg)
		return
	}
	if !errors.Is(err, errUploadCSRF) && !errors.Is(err, errUploadTooLarge) {
		// The rest of a refused upload is read (within its limit), so
		// that the browser shows the answer rather than a connection
		// reset while it is still sending.
		io.Copy(io.Discard, r.Body)
	}
	status := http.StatusBadRequest
	var fe *fieldError
	var msg string
	switch {
	case errors.Is(err, errUploadCSRF):
		o.log.Warn("release upload without the session's CSRF token refused", "admin", sess.Admin.Username)
		o.forbidden(w, r, &sess, "This form is out of date (it was opened in an earlier session) or did not come from siteclock, so nothing was uploaded. Reload the page and try again.")
		return
	case errors.Is(err, errUploadTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("The upload is over the %d MB limit: a siteclockd binary is far smaller. Check that you chose the right file.", maxReleaseUpload>>20)
	case errors.As(err, &fe):
		msg = fe.Msg
	case errors.Is(err, ErrReleaseExists):
		status, msg = http.StatusConflict, strings.TrimPrefix(err.Error(), "backoffice: ")
	case errors.Is(err, ErrInvalid):
		msg = strings.TrimPrefix(err.Error(), "backoffice: ")
	default:
		o.failPage(w, r, sess, err)
		return
	}
	v, verr := o.releasesView()
	if verr != nil {
		o.failPage(w, r, sess, verr)
		return
	}
	v.UploadError = sentence(msg)
	o.show(w, r, sess, status, "releases", "releases", "Releases", v)
}

// sentence starts s with a capital letter.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (o *Office) allTargetForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	version := r.PostForm.Get("version")
	if err := o.setTarget("", version, sess.Admin.Username); err != nil {
		o.targetFailed(w, r, sess, err)
		return
	}
	if strings.TrimSpace(version) == "" {
		o.done(w, r, "/releases", "No version is chosen for all devices now; devices with their own keep it.")
		return
	}
	o.done(w, r, "/releases", fmt.Sprintf("All devices should run %s now; each is offered it at its next check-in.", strings.TrimSpace(version)))
}

func (o *Office) deviceTargetForm(w http.ResponseWriter, r *http.Request, sess adminSession) {
	id := r.PathValue("id")
	d, err := o.store.Device(id)
	if err != nil {
		o.failPage(w, r, sess, err)
		return
	}
	version := strings.TrimSpace(r.PostForm.Get("version"))
	if err := o.setTarget(id, version, sess.Admin.Username); err != nil {
		o.targetFailed(w, r, sess, err)
		return
	}
	if version == "" {
		o.done(w, r, "/releases", d.Nickname+" follows the version chosen for all devices now.")
		return
	}
	o.done(w, r, "/releases", fmt.Sprintf("%s should run %s now; it is offered it at its next check-in.", d.Nickname, version))
}

func (o *Office) targetFailed(w http.ResponseWriter, r *http.Request, sess adminSession, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		o.renderError(w, r, &sess, http.StatusBadRequest, sentence(fe.Msg))
		return
	}
	o.failPage(w, r, sess, err)
}

// The admin API.

type releaseJSON struct {
	ID         string    `json:"id"`
	Version    string    `json:"version"`
	Arch       string    `json:"arch"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	Manifest   []byte    `json:"manifest"` // the signed manifest, base64
	UploadedAt time.Time `json:"uploaded_at"`
	UploadedBy string    `json:"uploaded_by"`
}

func releaseToJSON(r Release, loc *time.Location) releaseJSON {
	return releaseJSON{ID: r.ID, Version: r.Version, Arch: r.Arch, Size: r.Size, SHA256: r.SHA256, Manifest: r.Manifest,
		UploadedAt: r.UploadedAt.In(loc), UploadedBy: r.UploadedBy}
}

type targetJSON struct {
	Version string    `json:"version"`
	Scope   string    `json:"scope"` // "all" or "device"
	SetBy   string    `json:"set_by"`
	SetAt   time.Time `json:"set_at"`
	Note    string    `json:"note,omitempty"` // for a device: what the target means for it ("up to date")
}

func targetToJSON(t *UpdateTarget, loc *time.Location) *targetJSON {
	if t == nil {
		return nil
	}
	scope := "all"
	if t.DeviceID != "" {
		scope = "device"
	}
	return &targetJSON{Version: t.Version, Scope: scope, SetBy: t.SetBy, SetAt: t.SetAt.In(loc)}
}

type updateJSON struct {
	Version    string     `json:"version"`
	State      string     `json:"state"`
	Progress   int        `json:"progress"`
	Detail     string     `json:"detail"`
	At         *time.Time `json:"at"`
	ReceivedAt *time.Time `json:"received_at"`
	Text       string     `json:"text"`
}

// withUpdates adds each device's target and where it stands.
func (o *Office) withUpdates(js []deviceJSON, ds []Device, loc *time.Location) error {
	info, _, err := o.updateInfo()
	if err != nil {
		return err
	}
	for i, d := range ds {
		j := &js[i]
		j.Arch = d.Arch
		if t, ok := info.targets.For(d.ID); ok {
			j.UpdateTarget = targetToJSON(&t, loc)
			_, _, j.UpdateTarget.Note, _ = info.targetWords(d)
		}
		if d.Update.State != "" {
			u := d.Update
			j.Update = &updateJSON{Version: u.Version, State: u.State, Progress: u.Progress, Detail: u.Detail,
				At: jsonTime(u.At, loc), ReceivedAt: jsonTime(u.Received, loc)}
			j.Update.Text, _ = updateWords(u)
		}
	}
	return nil
}

func (o *Office) apiReleases(w http.ResponseWriter, r *http.Request, _ Admin) {
	rs, err := o.store.Releases()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	ts, err := o.store.UpdateTargets()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	loc := o.zone()
	out := make([]releaseJSON, 0, len(rs))
	for _, rel := range rs {
		out = append(out, releaseToJSON(rel, loc))
	}
	writeJSON(w, http.StatusOK, struct {
		Releases   []releaseJSON `json:"releases"`
		AllDevices *targetJSON   `json:"all_devices_target"`
	}{out, targetToJSON(ts.All, loc)})
}

func (o *Office) apiRelease(w http.ResponseWriter, r *http.Request, _ Admin) {
	rel, err := o.store.Release(r.PathValue("id"))
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, releaseToJSON(rel, o.zone()))
}

func (o *Office) apiUploadRelease(w http.ResponseWriter, r *http.Request, a Admin) {
	rel, created, err := o.receiveRelease(w, r, a.Username, nil)
	switch {
	case errors.Is(err, errUploadTooLarge):
		writeAPIError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("upload over %d bytes; a siteclockd binary is far smaller, check the file", maxReleaseUpload), "")
		return
	case errors.Is(err, ErrReleaseExists):
		writeAPIError(w, http.StatusConflict, "release_exists", strings.TrimPrefix(err.Error(), "backoffice: "), "")
		return
	case err != nil:
		o.apiFail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, releaseToJSON(rel, o.zone()))
}

func (o *Office) apiSetAllTarget(w http.ResponseWriter, r *http.Request, a Admin) {
	var in targetInput
	if !decodeBody(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Version) == "" {
		o.apiFail(w, r, badField("version", "Give the version to install, such as 1.4.0 (DELETE clears the target)."))
		return
	}
	if err := o.setTarget("", in.Version, a.Username); err != nil {
		o.apiFail(w, r, err)
		return
	}
	ts, err := o.store.UpdateTargets()
	if err != nil {
		o.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, targetToJSON(ts.All, o.zone()))
}

func (o *Office) apiClearAllTarget(w http.ResponseWriter, r *http.Request, a Admin) {
	if err := o.setTarget("", "", a.Username); err != nil {
		o.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *Office) apiSetDeviceTarget(w http.ResponseWriter, r *http.Request, a Admin) {
	var in targetInput
	if !decodeBody(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Version) == "" {
		o.apiFail(w, r, badField("version", "Give the version to install, such as 1.4.0 (DELETE makes the device follow the target of all devices)."))
		return
	}
	id := r.PathValue("id")
	if err := o.setTarget(id, in.Version, a.Username); err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.writeDevice(w, r, id)
}

func (o *Office) apiClearDeviceTarget(w http.ResponseWriter, r *http.Request, a Admin) {
	id := r.PathValue("id")
	if err := o.setTarget(id, "", a.Username); err != nil {
		o.apiFail(w, r, err)
		return
	}
	o.writeDevice(w, r, id)
}
