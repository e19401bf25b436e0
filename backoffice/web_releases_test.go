package backoffice

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// multipartBody is a form of parts in order: name, then a file's (or a
// field's) contents, as a browser or curl -F sends it.
func multipartBody(t testing.TB, parts ...string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(parts); i += 2 {
		var w io.Writer
		var err error
		if parts[i] == "csrf" {
			w, err = mw.CreateFormField(parts[i])
		} else {
			w, err = mw.CreateFormFile(parts[i], parts[i]+".bin")
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, parts[i+1])
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// upload posts a release through the web UI's form.
func (b *browser) upload(parts ...string) webReply {
	b.t.Helper()
	ct, body := multipartBody(b.t, parts...)
	req, err := http.NewRequest("POST", b.base+"/releases", bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return webReply{status: resp.StatusCode, header: resp.Header, body: string(raw), location: resp.Header.Get("Location")}
}

func TestReleasesPage(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	_, piToken := e.enrollDevice("Main St trailer")
	yard, _ := e.enrollDevice("Yard gate")
	rs := newReleaser(t)
	bin := fakeBinary(70_000, "1.3.0")
	manifest := rs.sign("1.3.0", "arm64", bin)
	b := e.signedIn()

	if r := b.get("/releases"); r.status != http.StatusOK || !strings.Contains(r.body, "No release has been uploaded yet.") {
		t.Fatalf("empty releases page: %d\n%s", r.status, r.body)
	}
	csrf := b.csrf("/releases")

	// A forged form (no token, or not first) stores nothing.
	if r := b.upload("manifest", string(manifest), "binary", string(bin)); r.status != http.StatusForbidden {
		t.Errorf("upload without the token: %d", r.status)
	}
	if r := b.upload("manifest", string(manifest), "csrf", csrf, "binary", string(bin)); r.status != http.StatusForbidden {
		t.Errorf("upload with the token late: %d", r.status)
	}
	if r := b.upload("csrf", "forged", "manifest", string(manifest), "binary", string(bin)); r.status != http.StatusForbidden {
		t.Errorf("upload with a wrong token: %d", r.status)
	}
	if n := count(t, e.store, "releases"); n != 0 || len(releaseFiles(t, e.store)) != 0 {
		t.Fatalf("forged uploads stored %d releases, files %v", n, releaseFiles(t, e.store))
	}
	// A binary that is not the manifest's: the page says why.
	r := b.upload("csrf", csrf, "manifest", string(manifest), "binary", string(bin[:1000]))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `id="upload-error"`) || !strings.Contains(html.UnescapeString(r.body), "The binary is 1000 bytes") {
		t.Errorf("short binary: %d\n%s", r.status, r.body)
	}
	r = b.upload("csrf", csrf, "binary", string(bin))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Send the manifest part first") {
		t.Errorf("binary first: %d\n%s", r.status, r.body)
	}
	// The real thing.
	r = b.upload("csrf", csrf, "manifest", string(manifest), "binary", string(bin))
	if r.status != http.StatusSeeOther || r.location != "/releases" {
		t.Fatalf("upload: %d %q\n%s", r.status, r.location, r.body)
	}
	page := b.get("/releases").body
	if !strings.Contains(page, "Added siteclockd 1.3.0 (arm64).") || !strings.Contains(page, `data-version="1.3.0"`) || !strings.Contains(page, sha256hex(bin)) {
		t.Errorf("releases page after the upload:\n%s", page)
	}
	if r := b.upload("csrf", csrf, "manifest", string(manifest), "binary", string(bin)); r.status != http.StatusSeeOther {
		t.Errorf("identical upload: %d", r.status)
	}
	if page := b.get("/releases").body; !strings.Contains(page, "was uploaded already, the very same; nothing changed.") {
		t.Errorf("identical upload's flash missing")
	}
	other := fakeBinary(70_000, "other")
	r = b.upload("csrf", csrf, "manifest", string(rs.sign("1.3.0", "arm64", other)), "binary", string(other))
	if r.status != http.StatusConflict || !strings.Contains(r.body, "a release is never replaced") {
		t.Errorf("another 1.3.0: %d\n%s", r.status, r.body)
	}

	// Choose 1.3.0 for all devices, and keep the yard's kiosk where it is.
	if r := b.post("/releases", "/releases/target", url.Values{"version": {"9.9.9"}}); r.status != http.StatusBadRequest {
		t.Errorf("a version never uploaded: %d", r.status)
	}
	if r := b.post("/releases", "/releases/target", url.Values{"version": {"1.3.0"}}); r.status != http.StatusSeeOther {
		t.Fatalf("set all: %d\n%s", r.status, r.body)
	}
	rs.add(e.store, "1.2.0", "arm64", fakeBinary(100, "1.2.0"))
	if r := b.post("/releases", "/devices/"+yard+"/update-target", url.Values{"version": {"1.2.0"}}); r.status != http.StatusSeeOther {
		t.Fatalf("set the yard's: %d\n%s", r.status, r.body)
	}
	ts, _ := e.store.UpdateTargets()
	if ts.All == nil || ts.All.Version != "1.3.0" || ts.All.SetBy != e.admin.Username || ts.Devices[yard].Version != "1.2.0" {
		t.Fatalf("targets %+v", ts)
	}
	page = b.get("/releases").body
	if !strings.Contains(page, "All devices should run <strong>1.3.0</strong> (chosen by "+e.admin.Username) {
		t.Errorf("all devices' target not shown:\n%s", page)
	}

	// The kiosk is offered 1.3.0, downloads it, rolls it back; the
	// Devices page says so, with the reason.
	resp := e.checkIn(piToken, protocol.CheckIn{Version: "1.2.0", Arch: "arm64"})
	if resp.Update == nil {
		t.Fatal("no offer")
	}
	dl := e.do("GET", resp.Update.Path, piToken, nil)
	if !bytes.Equal(dl.body, bin) {
		t.Fatalf("download: %d, %d bytes", dl.status, len(dl.body))
	}
	e.checkIn(piToken, protocol.CheckIn{Version: "1.2.0", Arch: "arm64", Update: &protocol.UpdateReport{Version: "1.3.0", State: protocol.UpdateDownloading, Progress: 42, At: t0}})
	if devices := html.UnescapeString(b.get("/devices").body); !strings.Contains(devices, "downloading 1.3.0: 42%") || !strings.Contains(devices, "arm64") {
		t.Errorf("Devices page while downloading:\n%s", devices)
	}
	e.clock.Advance(time.Minute)
	e.checkIn(piToken, protocol.CheckIn{Version: "1.2.0", Arch: "arm64", Update: &protocol.UpdateReport{Version: "1.3.0",
		State: protocol.UpdateRolledBack, Detail: "did not report ready within 2m", At: e.clock.Now()}})
	devices := html.UnescapeString(b.get("/devices").body)
	for _, want := range []string{"rolled back 1.3.0: did not report ready within 2m", "target <strong>1.3.0</strong>", "(all devices)",
		"target <strong>1.2.0</strong>", "(this device)", "up to date", "Releases and updates",
		"not offered again after the kiosk rolled it back; choose the version again to retry"} {
		if !strings.Contains(devices, want) {
			t.Errorf("Devices page lacks %q", want)
		}
	}
	// The yard's kiosk goes back to following all devices.
	if r := b.post("/releases", "/devices/"+yard+"/update-target", url.Values{"version": {""}}); r.status != http.StatusSeeOther {
		t.Fatalf("clear the yard's: %d", r.status)
	}
	if ts, _ := e.store.UpdateTargets(); len(ts.Devices) != 0 {
		t.Errorf("yard's target not cleared: %+v", ts)
	}
	// A kiosk without a build for its architecture is not offered
	// anything, and the page says why.
	e.checkIn(piToken, protocol.CheckIn{Version: "1.2.0", Arch: "armv7"})
	if devices := html.UnescapeString(b.get("/devices").body); !strings.Contains(devices, "not offered: no 1.3.0 build for armv7; upload one") {
		t.Errorf("missing build not shown")
	}
}

func TestReleasesAPI(t *testing.T) {
	e := newOfficeEnv(t, OfficeOptions{})
	token := e.apiToken()
	id, devToken := e.enrollDevice("Main St trailer")
	rs := newReleaser(t)
	bin := fakeBinary(20_000, "1.3.0")
	manifest := rs.sign("1.3.0", "arm64", bin)
	upload := func(parts ...string) reply {
		t.Helper()
		ct, body := multipartBody(t, parts...)
		req, _ := http.NewRequest("POST", e.web.URL+apiPrefix+"releases", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, header: resp.Header, body: b}
	}

	r := upload("manifest", string(manifest), "binary", string(bin))
	r.wantStatus(t, http.StatusCreated)
	var rel releaseJSON
	r.decode(t, &rel)
	if rel.Version != "1.3.0" || rel.Arch != "arm64" || rel.SHA256 != sha256hex(bin) || rel.UploadedBy != e.admin.Username || !bytes.Equal(rel.Manifest, manifest) {
		t.Errorf("release %+v", rel)
	}
	upload("manifest", string(manifest), "binary", string(bin)).wantStatus(t, http.StatusOK)
	other := fakeBinary(20_000, "other")
	upload("manifest", string(rs.sign("1.3.0", "arm64", other)), "binary", string(other)).wantAPIError(t, http.StatusConflict, "release_exists", "")
	upload("manifest", string(manifest), "binary", string(other)).wantAPIError(t, http.StatusBadRequest, "invalid", "")
	upload("binary", string(bin)).wantAPIError(t, http.StatusBadRequest, "invalid", "manifest")
	upload("manifest", string(manifest)).wantAPIError(t, http.StatusBadRequest, "invalid", "binary")
	e.api("POST", "releases", token, `{"manifest": "x"}`).wantAPIError(t, http.StatusBadRequest, "invalid", "binary")

	var list struct {
		Releases   []releaseJSON `json:"releases"`
		AllDevices *targetJSON   `json:"all_devices_target"`
	}
	e.api("GET", "releases", token, nil).decode(t, &list)
	if len(list.Releases) != 1 || list.Releases[0].ID != rel.ID || list.AllDevices != nil {
		t.Errorf("list %+v", list)
	}
	e.api("GET", "releases/"+rel.ID, token, nil).wantStatus(t, http.StatusOK)
	e.api("GET", "releases/nope", token, nil).wantAPIError(t, http.StatusNotFound, "not_found", "")

	e.api("PUT", "update-target", token, map[string]string{"version": "2.0.0"}).wantAPIError(t, http.StatusBadRequest, "invalid", "version")
	e.api("PUT", "update-target", token, map[string]string{}).wantAPIError(t, http.StatusBadRequest, "invalid", "version")
	var tj targetJSON
	e.api("PUT", "update-target", token, map[string]string{"version": "1.3.0"}).decode(t, &tj)
	if tj.Version != "1.3.0" || tj.Scope != "all" || tj.SetBy != e.admin.Username {
		t.Errorf("target %+v", tj)
	}
	e.checkIn(devToken, protocol.CheckIn{Version: "1.2.0", Arch: "arm64", Update: &protocol.UpdateReport{Version: "1.3.0", State: protocol.UpdateInstalling, At: t0}})
	var dj deviceJSON
	e.api("GET", "devices/"+id, token, nil).decode(t, &dj)
	if dj.Arch != "arm64" || dj.UpdateTarget == nil || dj.UpdateTarget.Version != "1.3.0" || dj.UpdateTarget.Scope != "all" ||
		dj.UpdateTarget.Note != "offered at its next check-in" || dj.Update == nil || dj.Update.State != "installing" || dj.Update.Text != "installing 1.3.0" {
		t.Errorf("device %+v target %+v update %+v", dj, dj.UpdateTarget, dj.Update)
	}
	e.api("PUT", "devices/"+id+"/update-target", token, map[string]string{"version": "1.3.0"}).decode(t, &dj)
	if dj.UpdateTarget == nil || dj.UpdateTarget.Scope != "device" {
		t.Errorf("device's own target %+v", dj.UpdateTarget)
	}
	e.api("PUT", "devices/nope/update-target", token, map[string]string{"version": "1.3.0"}).wantAPIError(t, http.StatusNotFound, "not_found", "")
	e.api("DELETE", "devices/"+id+"/update-target", token, nil).decode(t, &dj)
	if dj.UpdateTarget == nil || dj.UpdateTarget.Scope != "all" {
		t.Errorf("after clearing the device's %+v", dj.UpdateTarget)
	}
	e.api("DELETE", "update-target", token, nil).wantStatus(t, http.StatusNoContent)
	var all struct {
		Devices []deviceJSON `json:"devices"`
	}
	raw := e.api("GET", "devices", token, nil)
	raw.decode(t, &all)
	if len(all.Devices) != 1 || all.Devices[0].UpdateTarget != nil || all.Devices[0].Update == nil {
		t.Errorf("devices after clearing: %s", raw.body)
	}
	// Without a token, nothing.
	e.api("GET", "releases", "", nil).wantAPIError(t, http.StatusUnauthorized, "unauthorized", "")
	var m map[string]any
	if err := json.Unmarshal(raw.body, &m); err != nil {
		t.Fatal(err)
	}
}

// With release keys set, the web UI refuses a release another key signed.
func TestReleaseKeysAtUpload(t *testing.T) {
	rs := newReleaser(t)
	e := newOfficeEnv(t, OfficeOptions{ReleaseKeys: []ed25519.PublicKey{rs.pub}})
	b := e.signedIn()
	csrf := b.csrf("/releases")
	bin := fakeBinary(1000, "k")
	r := b.upload("csrf", csrf, "manifest", string(newReleaser(t).sign("1.3.0", "arm64", bin)), "binary", string(bin))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "not signed by a release key this server trusts") {
		t.Errorf("another key: %d\n%s", r.status, r.body)
	}
	if r := b.upload("csrf", csrf, "manifest", string(rs.sign("1.3.0", "arm64", bin)), "binary", string(bin)); r.status != http.StatusSeeOther {
		t.Errorf("the trusted key: %d\n%s", r.status, r.body)
	}
	if !strings.Contains(b.get("/releases").body, "This server checks each manifest") {
		t.Error("the page does not say signatures are checked")
	}
}
