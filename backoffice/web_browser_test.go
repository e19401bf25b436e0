package backoffice

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/roster"
)

// findChromium returns Debian's chromium, which the browser test drives.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("chromium is not installed, and the web UI test needs a real browser: run `apt-get install chromium` (as root; `make deps` does it)")
	return ""
}

// artifacts is the folder the browser test saves its screenshots in:
// $SITECLOCK_ARTIFACTS, or a temporary folder.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SITECLOCK_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// portraitJPEG is a camera-like photo: a face-ish figure on a gradient, 240
// wide and 320 high, so that a rotation is visible.
func portraitJPEG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 240, 320))
	for y := 0; y < 320; y++ {
		for x := 0; x < 240; x++ {
			c := color.RGBA{uint8(90 + y/4), uint8(120 + x/4), 170, 255}
			dx, dy := x-120, y-120
			switch {
			case dx*dx+dy*dy < 60*60: // head
				c = color.RGBA{224, 172, 130, 255}
			case y > 200 && dx*dx < (y-190)*(y-190): // shoulders
				c = color.RGBA{234, 88, 12, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	return b.Bytes()
}

// The web UI in a real headless chromium: sign in, add an employee, turn
// FaceFront off for a role, rotate the setup code, disable a device,
// hover a timecard's "i" to see the photo, upload a release and choose it
// for the devices. Each step leaves a screenshot.
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	shots := artifacts(t)
	t.Logf("screenshots in %s", shots)

	e := newOfficeEnv(t, OfficeOptions{})
	deviceID, devToken := e.enrollDevice("Main St trailer")
	yardID, yardToken := e.enrollDevice("Yard gate")
	photo := portraitJPEG()
	timecardPunches(t, e, devToken, photo)
	if _, err := e.store.SetSettings(roster.Settings{Timezone: "America/Chicago", Nickname: "Site kiosk", PhotoRotation: 90}); err != nil {
		t.Fatal(err)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// Start the browser on a context without a deadline (the browser
	// lives as long as the context of its first run); each step below
	// gets its own deadline.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	bctx := browser

	// do runs a step: actions, the last of which waits for what the step
	// leads to. A click that loads a new page destroys the page the wait
	// started on; the wait is then repeated on the new page.
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, stepTimeout)
		defer cancel()
		err := chromedp.Do(sctx, actions[:len(actions)-1]...)
		for try := 0; err == nil; try++ {
			err = chromedp.Do(sctx, actions[len(actions)-1])
			if !navigatedAway(err) || try == 20 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			shot(t, browser, shots, "failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, stepTimeout)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		for try := 0; navigatedAway(err) && try < 20; try++ {
			time.Sleep(100 * time.Millisecond)
			s, err = chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		}
		if err != nil {
			shot(t, bctx, shots, "failed")
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	attr := func(sel, name string) string {
		t.Helper()
		return evalJS[string](t, bctx, fmt.Sprintf(`document.querySelector(%q).getAttribute(%q)`, sel, name))
	}

	// Sign in: the devices page asks for it first.
	do("open the UI", chromedp.EmulateViewport(1360, 900), chromedp.Navigate(e.web.URL+"/devices"), chromedp.WaitVisible(chromedp.ID("username")))
	shot(t, bctx, shots, "01-sign-in")
	do("sign in",
		chromedp.SendKeys(chromedp.ID("username"), e.admin.Username),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("setup-code")),
	)
	shot(t, bctx, shots, "02-devices")

	// Add an employee; a taken PIN is refused next to the field first.
	do("open the employee form",
		chromedp.Click(chromedp.CSS(`nav a[href="/employees"]`)),
		chromedp.WaitVisible(chromedp.ID("add-employee")),
		chromedp.Click(chromedp.ID("add-employee")),
		chromedp.WaitVisible(chromedp.ID("employee-form")),
		chromedp.SendKeys(chromedp.ID("name"), "Dana Lee"),
		chromedp.SendKeys(chromedp.ID("number"), "2001"),
		chromedp.SendKeys(chromedp.ID("pin"), "2222"),
		chromedp.SetValue(chromedp.ID("role_id"), "worker"),
		chromedp.Click(chromedp.ID("photo_consent")),
		chromedp.Click(chromedp.ID("save-employee")),
		chromedp.WaitVisible(chromedp.ID("pin-error")),
	)
	if msg := text("#pin-error"); !strings.Contains(msg, "Another active employee has this PIN") {
		t.Errorf("PIN error %q", msg)
	}
	shot(t, bctx, shots, "03-employee-pin-taken")
	do("add the employee",
		chromedp.SendKeys(chromedp.ID("pin"), "9753"),
		chromedp.Click(chromedp.ID("save-employee")),
		chromedp.WaitVisible(chromedp.ID("employees")),
	)
	if list := text("#employees"); !strings.Contains(list, "Dana Lee") || !strings.Contains(text(".flash"), "Added Dana Lee.") {
		t.Errorf("employees: %q", list)
	}
	if m, ok := mustRoster(t, e.store).MatchPIN("9753"); !ok || m.Name != "Dana Lee" || !m.PhotoConsent {
		t.Errorf("Dana in the roster: %+v %v", m, ok)
	}
	shot(t, bctx, shots, "04-employees")

	// Turn FaceFront off for workers.
	ff := `tr[data-role-id="worker"] button[data-flag="face_front"]`
	do("open roles", chromedp.Click(chromedp.CSS(`nav a[href="/roles"]`)), chromedp.WaitVisible(chromedp.CSS(ff)))
	if attr(ff, "aria-pressed") != "true" {
		t.Fatalf("worker FaceFront is not on to begin with")
	}
	do("turn FaceFront off", chromedp.Click(chromedp.CSS(ff)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if attr(ff, "aria-pressed") != "false" || !strings.Contains(text(".flash"), "FaceFront is off for Worker.") {
		t.Errorf("after the click: %s", attr(ff, "aria-pressed"))
	}
	if mustRoster(t, e.store).RoleOf(roster.Employee{RoleID: "worker"}).FaceFront {
		t.Errorf("the store still has FaceFront on for workers")
	}
	shot(t, bctx, shots, "05-roles")

	// Rotate the setup code.
	do("open devices", chromedp.Click(chromedp.CSS(`nav a[href="/devices"]`)), chromedp.WaitVisible(chromedp.ID("setup-code")))
	before := attr("#setup-code", "data-code")
	do("rotate", chromedp.Click(chromedp.ID("rotate")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	after := attr("#setup-code", "data-code")
	if after == before || after != e.code() || strings.ReplaceAll(text("#setup-code"), " ", "") != after {
		t.Errorf("setup code %s → %s (store %s)", before, after, e.code())
	}
	shot(t, bctx, shots, "06-setup-code-rotated")

	// Disable a device: a confirmation, then it moves to Disabled devices
	// with the admin's name.
	row := fmt.Sprintf(`tr[data-device-id="%s"]`, deviceID)
	do("disable",
		chromedp.Click(chromedp.CSS(`#approved `+row+` a.danger`)),
		chromedp.WaitVisible(chromedp.ID("confirm-disable")),
	)
	shot(t, bctx, shots, "07-disable-confirm")
	do("confirm", chromedp.Click(chromedp.ID("confirm-disable")), chromedp.WaitVisible(chromedp.CSS(`#disabled `+row)))
	if by := text(`#disabled ` + row + ` .disabled-by`); by != e.admin.Username {
		t.Errorf("Disabled By %q", by)
	}
	if n := evalJS[int](t, bctx, fmt.Sprintf(`document.querySelectorAll('#approved %s').length`, row)); n != 0 {
		t.Errorf("still approved: %d", n)
	}
	shot(t, bctx, shots, "08-device-disabled")

	// Open Ben's timecard and hover the "i" of the punch with a photo.
	do("open timecards",
		chromedp.Click(chromedp.CSS(`nav a[href="/timecards"]`)),
		chromedp.WaitVisible(chromedp.ID("timecard-picker")),
	)
	// The picker's own submit is a plain GET form; going to its address
	// directly waits for exactly one page load.
	do("open the timecard",
		chromedp.Navigate(e.web.URL+"/timecards?employee="+e.ben.ID+"&week=2026-11-23"),
		chromedp.WaitVisible(chromedp.ID("timecard")),
	)
	if total := text("#week-total"); total != "16.75" {
		t.Errorf("week total %q", total)
	}
	img := `.info:not(.nophoto) img.photo`
	if visible(t, bctx, img) {
		t.Errorf("the photo shows before the hover")
	}
	hover(t, bctx, `.info:not(.nophoto)`, img)
	do("see the photo",
		chromedp.WaitVisible(chromedp.CSS(img)),
		chromedp.Poll[chromedp.Void](`(() => { const i = document.querySelector(`+"`"+img+"`"+`); return i.complete && i.naturalWidth > 0; })()`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	if w := evalJS[int](t, bctx, `document.querySelector(`+"`"+img+"`"+`).naturalWidth`); w != 240 || !visible(t, bctx, img) {
		t.Errorf("photo naturalWidth %d", w)
	}
	if rot := evalJS[string](t, bctx, `getComputedStyle(document.querySelector(`+"`"+img+"`"+`)).transform`); rot == "none" || rot == "" {
		t.Errorf("the photo is not rotated per the setting: transform %q", rot)
	}
	shot(t, bctx, shots, "09-timecard-photo")

	// The OUT was clocked by Ana: its "i" says why there is no photo.
	hover(t, bctx, `tbody.day tr td:nth-child(3) .info.nophoto`, `tbody.day tr td:nth-child(3) .info.nophoto .why`)
	do("see why", chromedp.WaitVisible(chromedp.CSS(`tbody.day tr td:nth-child(3) .info.nophoto .why`)))
	if why := text(`tbody.day tr td:nth-child(3) .info.nophoto .why`); why != "no photo: clocked by Ana Ruiz with Clock For" {
		t.Errorf("reason %q", why)
	}
	shot(t, bctx, shots, "10-timecard-no-photo")

	// Set a photo retention of 3 days; once the rule has run, Settings
	// says what it deleted and the timecard why the photo is gone.
	do("open settings",
		chromedp.Click(chromedp.CSS(`nav a[href="/settings"]`)),
		chromedp.WaitVisible(chromedp.ID("company-settings")),
		chromedp.SetValue(chromedp.ID("photo_retention_days"), "3"),
		chromedp.Click(chromedp.CSS(`#company-settings button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if p, err := e.store.ApplyPhotoRetention(e.clock.Now()); err != nil || p.Deleted != 1 {
		t.Fatalf("purge: %+v %v", p, err)
	}
	do("reload settings", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("last-purge")))
	if s := text("#last-purge"); !strings.Contains(s, "deleted 1 photo.") {
		t.Errorf("last purge: %q", s)
	}
	shot(t, bctx, shots, "11-settings-retention")
	do("timecard again", chromedp.Navigate(e.web.URL+"/timecards?employee="+e.ben.ID+"&week=2026-11-23"), chromedp.WaitVisible(chromedp.ID("timecard")))
	first := `tbody.day tr td:nth-child(2) .info`
	hover(t, bctx, first, first+` .why`)
	do("see why", chromedp.WaitVisible(chromedp.CSS(first+` .why`)))
	if why := text(first + ` .why`); why != "photo deleted after 3 days (retention)" {
		t.Errorf("purged photo reason %q", why)
	}
	shot(t, bctx, shots, "12-timecard-photo-deleted")

	// Upload a signed release through the form (the files as `siteclockd
	// release sign` leaves them), choose it for all devices and one
	// device, and see where the kiosk stands on the Devices page.
	rs := newReleaser(t)
	bin := fakeBinary(2<<20, "browser 1.3.0")
	files := t.TempDir()
	manifestFile, binFile := filepath.Join(files, "siteclockd-1.3.0-arm64.manifest"), filepath.Join(files, "siteclockd-1.3.0-arm64")
	if err := os.WriteFile(manifestFile, rs.sign("1.3.0", "arm64", bin), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(binFile, bin, 0o600); err != nil {
		t.Fatal(err)
	}
	do("open releases",
		chromedp.Click(chromedp.CSS(`nav a[href="/releases"]`)),
		chromedp.WaitVisible(chromedp.ID("upload-release")),
	)
	do("upload the release",
		chromedp.SetUploadFiles(chromedp.ID("manifest"), []string{manifestFile}),
		chromedp.SetUploadFiles(chromedp.ID("binary"), []string{binFile}),
		chromedp.Click(chromedp.ID("upload")),
		chromedp.WaitVisible(chromedp.CSS(`#releases tr[data-version="1.3.0"]`)),
	)
	if f := text(".flash"); !strings.Contains(f, "Added siteclockd 1.3.0 (arm64).") {
		t.Errorf("after the upload: %q", f)
	}
	if rels, err := e.store.Releases(); err != nil || len(rels) != 1 || rels[0].SHA256 != sha256hex(bin) {
		t.Fatalf("stored releases %+v %v", rels, err)
	}
	shot(t, bctx, shots, "13-release-uploaded")
	do("choose it for all devices",
		chromedp.SetValue(chromedp.ID("all-version"), "1.3.0"),
		chromedp.Click(chromedp.ID("set-all-target")),
		flashSays("All devices should run 1.3.0"),
	)
	if now := text("#all-target-now"); !strings.Contains(now, "All devices should run 1.3.0") {
		t.Errorf("all devices' version: %q", now)
	}
	yardRow := fmt.Sprintf(`#device-targets tr[data-device-id="%s"]`, yardID)
	do("choose it for the yard's kiosk",
		chromedp.SetValue(chromedp.CSS(yardRow+` select`), "1.3.0"),
		chromedp.Click(chromedp.CSS(yardRow+` button`)),
		flashSays("Yard gate should run 1.3.0"),
	)
	ts, err := e.store.UpdateTargets()
	if err != nil || ts.All == nil || ts.All.Version != "1.3.0" || ts.Devices[yardID].Version != "1.3.0" || ts.Devices[yardID].SetBy != e.admin.Username {
		t.Fatalf("targets %+v %v", ts, err)
	}
	shot(t, bctx, shots, "14-release-chosen")
	// The kiosk is offered it and reports how far it got.
	resp := e.checkIn(yardToken, protocol.CheckIn{Version: "1.2.0", Arch: "arm64"})
	if resp.Update == nil {
		t.Fatal("the yard's kiosk was not offered 1.3.0")
	}
	e.checkIn(yardToken, protocol.CheckIn{Version: "1.2.0", Arch: "arm64",
		Update: &protocol.UpdateReport{Version: "1.3.0", State: protocol.UpdateDownloading, Progress: 42, At: e.clock.Now()}})
	do("open devices", chromedp.Click(chromedp.CSS(`nav a[href="/devices"]`)), chromedp.WaitVisible(chromedp.ID("approved")))
	if u := text(fmt.Sprintf(`#approved tr[data-device-id="%s"] td.update`, yardID)); !strings.Contains(u, "downloading 1.3.0: 42%") || !strings.Contains(u, "target 1.3.0") {
		t.Errorf("the yard's update cell: %q", u)
	}
	shot(t, bctx, shots, "15-devices-update")
}

// flashSays waits until the page's flash message says what: the message
// of the step before may still be showing while the form is sent.
func flashSays(what string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const f = document.querySelector(".flash"); return !!f && f.textContent.includes(%q); })()`, what)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			ok, err := chromedp.Evaluate[bool](js)(ctx, t)
			switch {
			case err == nil && ok:
				return chromedp.Void{}, nil
			case err != nil && !navigatedAway(err):
				return chromedp.Void{}, err
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("the page never said %q: %w", what, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// navigatedAway reports whether err is a page going away under a running
// action: the new page is loading.
func navigatedAway(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "Cannot find context") || strings.Contains(m, "Execution context was destroyed") ||
		strings.Contains(m, "Inspected target navigated")
}

// visible reports whether the element is shown (not display:none anywhere
// up the tree, and with a size).
func visible(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); const r = e.getBoundingClientRect(); return e.checkVisibility() && r.width > 0 && r.height > 0; })()`, sel)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	for try := 0; navigatedAway(err) && try < 20; try++ {
		time.Sleep(100 * time.Millisecond)
		v, err = chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	}
	if err != nil {
		t.Fatalf("visible %s: %v", sel, err)
	}
	return v
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	for try := 0; navigatedAway(err) && try < 20; try++ {
		time.Sleep(100 * time.Millisecond)
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	}
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// stepTimeout bounds each step of the browser test.
const stepTimeout = 20 * time.Second

// hover moves the mouse over the middle of the element, as a person
// would, until what it shows is displayed: a mouse move that reaches the
// page before it has settled after a navigation is not always seen.
func hover(t *testing.T, ctx context.Context, sel, shows string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	type point struct{ X, Y float64 }
	for try := 0; ; try++ {
		p, err := chromedp.Run(ctx, chromedp.Evaluate[point](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(); return {X: r.x + r.width / 2, Y: r.y + r.height / 2}; })()`, sel)))
		if err != nil {
			t.Fatalf("find %s: %v", sel, err)
		}
		// Move off first, so that each hover is a real move.
		if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, 1, 1), chromedp.MouseEvent(chromedp.MouseMoved, p.X, p.Y)); err != nil {
			t.Fatalf("hover %s: %v", sel, err)
		}
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`getComputedStyle(document.querySelector(%q).closest(".pop")).display !== "none"`, shows)))
		if err != nil {
			t.Fatalf("hover %s: %v", sel, err)
		}
		if shown {
			return
		}
		if try == 20 {
			t.Fatalf("hovering %s does not show %s", sel, shows)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a PNG of the browser's viewport.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
	}
}
