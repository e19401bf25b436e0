package uplink

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"time"

	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/protocol"
)

// How long the "Enrolling…" screen may wait: for the enrolment itself, and
// for the first sync that brings the roster (which, if it fails, Run
// retries in the background).
const (
	enrollTimeout    = 30 * time.Second
	firstSyncTimeout = time.Minute
)

// Enroll joins the company whose current setup code is code (it implements
// daemon.Enroller). It sends the kiosk's nickname, hardware, version,
// installation ID and public key (making the key the first time), saves
// the device ID and token the server gives in device.json, and syncs at
// once, so that the roster reaches the kiosk (kiosk.RosterLoaded on
// Events) before Enroll returns; then Run carries on.
func (c *Client) Enroll(ctx context.Context, code string) kiosk.EnrollProblem {
	if c.serverURL == "" {
		c.log.Warn("enrolment asked for, but no back office server is configured")
		return kiosk.EnrollNoServer
	}
	inst, err := installationID(c.dir)
	if err != nil {
		c.log.Error("enrolment impossible: the kiosk cannot keep its identity", "err", err)
		return kiosk.EnrollUnreachable
	}
	key, err := deviceKey(c.dir)
	if err != nil {
		c.log.Error("enrolment impossible: the kiosk cannot keep its identity", "err", err)
		return kiosk.EnrollUnreachable
	}
	req := protocol.EnrollRequest{
		SetupCode:      code, // never logged: it lets anyone join the company
		Nickname:       c.nickname,
		Hardware:       c.hardware,
		Version:        c.version,
		InstallationID: inst,
		PublicKey:      key.Public().(ed25519.PublicKey),
	}
	ectx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	var resp protocol.EnrollResponse
	if err := c.callJSON(ectx, c.serverURL, "enrol", http.MethodPost, protocol.PathEnroll, "", req, &resp); err != nil {
		p := enrollProblem(err)
		if errors.Is(err, errGone) {
			// The kiosk screen has no words for this yet: say it here.
			c.log.Error("enrolment refused: the office disabled this installation; it cannot enrol again unless reinstalled (remove installation-id, device.key and device.json from the state folder)", "err", err)
			return p
		}
		c.log.Warn("enrolment failed", "problem", string(p), "err", err)
		return p
	}
	if resp.DeviceID == "" || resp.Token == "" {
		c.log.Error("enrolment failed: the server's answer has no device ID or token; is the server URL a siteclock back office?", "server", c.serverURL)
		return kiosk.EnrollUnreachable
	}
	id := &identity{DeviceID: resp.DeviceID, Token: resp.Token, ServerURL: c.serverURL}
	if err := saveIdentity(c.dir, id); err != nil {
		// Without the file the next start would not know the token: an
		// enrolment that cannot be kept did not happen.
		c.log.Error("enrolment could not be saved; free space on the state folder and enrol again", "device_id", id.DeviceID, "err", err)
		return kiosk.EnrollUnreachable
	}
	c.setIdentity(id)
	c.log.Info("enrolled with the back office", "device_id", id.DeviceID, "server", id.ServerURL)
	if !resp.ServerTime.IsZero() {
		if skew := c.now().Sub(resp.ServerTime); skew > time.Minute || skew < -time.Minute {
			c.log.Warn("the kiosk's clock differs from the server's; punches carry the kiosk's time, so check its time source (NTP)",
				"skew", skew.Round(time.Second))
		}
	}

	sctx, scancel := context.WithTimeout(ctx, firstSyncTimeout)
	err = c.sync(sctx)
	scancel()
	switch {
	case err == nil:
		c.sendNet(ctx, true)
	case errors.Is(err, errStopped):
		// Disabled at once: Run finds it so and stops.
	default:
		c.log.Warn("first sync after enrolment failed; retrying in the background", "err", err)
	}
	select {
	case c.enrolled <- struct{}{}:
	default:
	}
	return kiosk.EnrollOK
}

// enrollProblem says what a failed enrolment means for the person at the
// keypad.
func enrollProblem(err error) kiosk.EnrollProblem {
	var he *httpError
	if !errors.As(err, &he) {
		return kiosk.EnrollUnreachable // no answer
	}
	switch he.code {
	case protocol.ErrDisabled:
		return kiosk.EnrollDisabled
	case protocol.ErrWrongCode:
		return kiosk.EnrollWrongCode
	case protocol.ErrExpiredCode:
		return kiosk.EnrollExpired
	case protocol.ErrRateLimited:
		return kiosk.EnrollRateLimited
	}
	switch he.status {
	case http.StatusForbidden:
		return kiosk.EnrollWrongCode
	case http.StatusGone:
		return kiosk.EnrollExpired
	case http.StatusTooManyRequests:
		return kiosk.EnrollRateLimited
	}
	return kiosk.EnrollUnreachable
}
