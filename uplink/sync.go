package uplink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/photoseal"
	"github.com/siteclock/siteclock/protocol"
	"github.com/siteclock/siteclock/punch"
	"github.com/siteclock/siteclock/queue"
	"github.com/siteclock/siteclock/roster"
)

// photosPerList is how many photos are listed from the queue at a time.
const photosPerList = 20

// maxFinalPasses bounds the last transmission of a disabled kiosk when
// punches keep coming while it sends: the rest waits for the next round.
const maxFinalPasses = 3

// sync is one round: check in, fetch the roster if it changed, upload the
// waiting punches, then their photos. When the office disabled the kiosk,
// the round sends everything, says goodbye and returns errStopped.
func (c *Client) sync(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	id := c.identity()
	if id == nil {
		return errNotEnrolled
	}
	err := c.round(ctx, id)
	if errors.Is(err, errGone) {
		c.disabled(ctx, "the office refuses this kiosk as disabled")
		return errStopped
	}
	return err
}

func (c *Client) round(ctx context.Context, id *identity) error {
	ans, held, err := c.checkIn(ctx, id)
	if err != nil {
		return err
	}
	c.setInterval(time.Duration(ans.SyncEvery))
	c.recordAnchor(ans.ServerTime)
	c.usePhotoKey(ans.PhotoKey)
	if c.updates != nil {
		c.updates.Offer(ans.Update, releaseSource{c, id})
	}
	if ans.Disabled {
		return c.farewell(ctx, id)
	}
	// A roster that cannot be fetched or applied must not hold up the
	// punches: upload first, report it after.
	var rosterErr error
	if ans.RosterVersion != "" && ans.RosterVersion != held {
		rosterErr = c.fetchRoster(ctx, id, held)
	}
	if err := c.uploadPunches(ctx, id); err != nil {
		return err
	}
	if err := c.uploadPhotos(ctx, id); err != nil {
		return err
	}
	if rosterErr != nil {
		return rosterErr
	}
	if err := c.q.MarkSynced(c.now()); err != nil {
		c.log.Warn("recording the last sync failed", "err", err)
	}
	return nil
}

// checkIn reports the kiosk's state and returns the server's answer and
// the roster version the kiosk holds.
func (c *Client) checkIn(ctx context.Context, id *identity) (protocol.CheckInResponse, string, error) {
	var ans protocol.CheckInResponse
	st, err := c.q.Stats()
	if err != nil {
		return ans, "", err
	}
	held, err := c.q.RosterVersion()
	if err != nil {
		return ans, "", err
	}
	who, err := c.q.LastUsedBy()
	if err != nil {
		return ans, "", err
	}
	ci := protocol.CheckIn{
		Version:       c.version,
		RosterVersion: held,
		Waiting:       st.Waiting,
		OldestWaiting: st.OldestWaiting,
		Camera:        c.camera(),
		LastUsedBy:    who,
		DeviceTime:    c.now(),
		BootID:        c.bootID(),
		BootTimeNS:    int64(c.bootTime()),
		Arch:          firmware.Arch(),
	}
	if c.updates != nil {
		ci.Update = c.updates.Report()
	}
	if err := c.callJSON(ctx, id.ServerURL, "check in", http.MethodPost, protocol.PathCheckIn, id.Token, ci, &ans); err != nil {
		return ans, "", err
	}
	return ans, held, nil
}

// fetchRoster gets the current roster, unless the server says the one held
// is current, and applies it atomically; the kiosk learns it by a
// kiosk.RosterLoaded. The ETag of a roster is protocol.RosterETag of its
// version.
func (c *Client) fetchRoster(ctx context.Context, id *identity, held string) error {
	r := request{op: "fetch roster", method: http.MethodGet, path: protocol.PathRoster, token: id.Token, limit: maxRosterBytes}
	if held != "" {
		r.header = map[string]string{"If-None-Match": protocol.RosterETag(held)}
	}
	status, body, err := c.do(ctx, id.ServerURL, r)
	if err != nil {
		return err
	}
	if status == http.StatusNotModified {
		c.log.Debug("roster not modified", "roster_version", held)
		return nil
	}
	ro, err := roster.Parse(bytes.NewReader(body))
	if err != nil {
		// The body holds PIN hashes: the error names a line, not content.
		return fmt.Errorf("uplink: the server's roster is unusable (the kiosk keeps %q): %w", held, err)
	}
	if ro.Version == held {
		return nil
	}
	if err := c.q.ReplaceRoster(ro); err != nil {
		return err
	}
	statuses, err := c.q.Statuses()
	if err != nil {
		return err
	}
	last := make(map[string]kiosk.LastPunch, len(statuses))
	for emp, s := range statuses {
		last[emp] = kiosk.LastPunch{Direction: s.Direction, At: s.At}
	}
	c.log.Info("new roster applied", "roster_version", ro.Version, "previous", held, "employees", len(ro.Employees()))
	c.send(ctx, kiosk.RosterLoaded{Roster: ro, Status: last})
	return nil
}

// uploadPunches sends the waiting punches, oldest first, in batches, until
// none is left. Each batch either makes progress (a punch acknowledged or
// refused) or ends the round with an error.
func (c *Client) uploadPunches(ctx context.Context, id *identity) error {
	for {
		ps, err := c.q.Unsent(protocol.MaxBatchPunches)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return nil
		}
		batch := protocol.PunchBatch{Punches: make([]protocol.Punch, len(ps))}
		for i, p := range ps {
			batch.Punches[i] = c.wirePunch(p)
		}
		var ans protocol.PunchBatchResponse
		if err := c.callJSON(ctx, id.ServerURL, "upload punches", http.MethodPost, protocol.PathPunches, id.Token, batch, &ans); err != nil {
			return err
		}
		results := make(map[string]protocol.PunchResult, len(ans.Results))
		for _, r := range ans.Results {
			results[r.ID] = r
		}
		now := c.now()
		var sent []string
		accepted, duplicates, rejected := 0, 0, 0
		for _, p := range ps {
			r, ok := results[p.ID]
			switch {
			case !ok:
				c.log.Warn("the server did not answer for a punch; it stays waiting", "punch_id", p.ID)
			case r.Status == protocol.Accepted:
				accepted++
				sent = append(sent, p.ID)
			case r.Status == protocol.Duplicate:
				duplicates++
				sent = append(sent, p.ID)
			case r.Status == protocol.Rejected:
				reason := strings.TrimSpace(r.Reason)
				if reason == "" {
					reason = "refused by the server without a reason"
				}
				if err := c.q.MarkRejected(p.ID, reason, now); err != nil {
					return err
				}
				rejected++
			default:
				c.log.Warn("the server answered a punch with an unknown status; it stays waiting", "punch_id", p.ID, "status", r.Status)
			}
		}
		if err := c.q.MarkSent(sent, now); err != nil {
			return err
		}
		c.log.Info("punches uploaded", "accepted", accepted, "duplicate", duplicates, "rejected", rejected, "batch", len(ps))
		if len(sent)+rejected == 0 {
			return fmt.Errorf("uplink: upload punches: the server acknowledged none of %d punches", len(ps))
		}
	}
}

// usePhotoKey gives the company's photo key from a check-in to the queue,
// which seals photos to it from then on, and the ones stored before at
// once. A key that cannot be used or kept must not hold up the punches:
// it is logged, and the next check-in brings it again.
func (c *Client) usePhotoKey(b []byte) {
	if len(b) == 0 {
		return // an older server: photos stay unsealed
	}
	k, err := photoseal.NewPublicKey(b)
	if err == nil {
		err = c.q.SetPhotoKey(k)
	}
	if err != nil {
		c.log.Error("the company's photo key from the server cannot be used; photos are stored as before", "err", err)
	}
}

// wirePunch is p as the protocol sends it; the photo is named by the hash
// of its JPEG.
func (c *Client) wirePunch(p punch.Punch) protocol.Punch {
	// The photo hash the queue recorded at commit is the one the punch's
	// signature covers; only a punch committed before the queue recorded
	// it names its photo by reading it now.
	w := protocol.WirePunch(p)
	if p.Photo != "" && p.PhotoSHA256 == "" {
		// Not the file's hash: a sealed file hashes to something else,
		// and the kiosk cannot open it. The queue knows the JPEG's.
		sum, err := c.q.PhotoSHA256(p.Photo)
		if err != nil {
			// The punch matters more than its photo: it goes up without
			// the link, and the photo is given up when its turn comes.
			c.log.Error("the photo of a waiting punch cannot be read; the punch goes up without it", "punch_id", p.ID, "err", err)
			return w
		}
		w.PhotoSHA256 = sum
	}
	return w
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// uploadPhotos sends the photos of acknowledged punches, oldest first,
// until none is left. Each photo is acknowledged, given up, or ends the
// round with an error.
func (c *Client) uploadPhotos(ctx context.Context, id *identity) error {
	for {
		ps, err := c.q.PhotosToUpload(photosPerList)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return nil
		}
		for _, p := range ps {
			if err := c.uploadPhoto(ctx, id, p); err != nil {
				return err
			}
		}
	}
}

func (c *Client) uploadPhoto(ctx context.Context, id *identity, p punch.Punch) error {
	b, err := c.q.ReadPhoto(p.Photo)
	if errors.Is(err, queue.ErrNotFound) {
		return c.q.MarkPhotoRejected(p.ID, "the photo file is missing from the kiosk's storage", c.now())
	}
	if err != nil {
		return err
	}
	// A sealed photo goes up sealed, named by the hash of the JPEG inside
	// (only the office can open it and check); an unsealed one (no key
	// yet, or an older server) as the JPEG it is.
	contentType, size, sum := protocol.ContentTypeJPEG, len(b), hexSHA256(b)
	if photoseal.IsSealed(b) {
		h, err := photoseal.Hash(b)
		if err != nil {
			return c.q.MarkPhotoRejected(p.ID, "the sealed photo file is cut short on the kiosk's storage", c.now())
		}
		contentType, size, sum = protocol.ContentTypeSealedPhoto, len(b)-photoseal.Overhead, hex.EncodeToString(h[:])
	}
	if size > protocol.MaxPhotoBytes {
		return c.q.MarkPhotoRejected(p.ID, fmt.Sprintf("the photo (%d bytes) is over the server's limit of %d bytes", size, protocol.MaxPhotoBytes), c.now())
	}
	_, body, err := c.do(ctx, id.ServerURL, request{
		op: "upload photo", method: http.MethodPut, path: protocol.PathPhotos + sum, token: id.Token,
		body: b, contentType: contentType, header: map[string]string{protocol.HeaderPunchID: p.ID},
	})
	if he, ok := refusal(err); ok {
		reason := he.message
		if reason == "" {
			reason = "refused by the server (" + he.code + ")"
		}
		return c.q.MarkPhotoRejected(p.ID, reason, c.now())
	}
	if err != nil {
		return err
	}
	var ans protocol.PhotoResponse
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("uplink: upload photo of punch %s: unreadable answer: %w", p.ID, err)
	}
	if ans.Status != protocol.Accepted && ans.Status != protocol.Duplicate {
		return fmt.Errorf("uplink: upload photo of punch %s: unexpected status %q", p.ID, ans.Status)
	}
	if err := c.q.MarkPhotoSent(p.ID, c.now()); err != nil {
		return err
	}
	c.log.Info("photo uploaded", "punch_id", p.ID, "status", ans.Status, "bytes", len(b))
	return nil
}

// farewell is the round of a kiosk the office disabled: send everything
// the queue holds, then say goodbye, then stop. If anything fails it
// returns the error and the next round (still disabled) tries again; it
// never says goodbye while something is unacknowledged (a refused punch
// or photo counts as answered).
func (c *Client) farewell(ctx context.Context, id *identity) error {
	c.log.Info("the office disabled this kiosk; sending everything it holds before saying goodbye", "device_id", id.DeviceID)
	// Stop punching first, so that no punch is made after the last
	// transmission has been put together.
	c.send(ctx, kiosk.DeviceDisabled{})
	for pass := 0; ; pass++ {
		if err := c.uploadPunches(ctx, id); err != nil {
			return err
		}
		if err := c.uploadPhotos(ctx, id); err != nil {
			return err
		}
		st, err := c.q.Stats()
		if err != nil {
			return err
		}
		if st.Waiting == 0 && st.PhotosWaiting == 0 {
			break
		}
		if pass+1 == maxFinalPasses {
			return fmt.Errorf("uplink: last transmission: %d punches and %d photos still waiting", st.Waiting, st.PhotosWaiting)
		}
	}
	if err := c.callJSON(ctx, id.ServerURL, "say goodbye", http.MethodPost, protocol.PathGoodbye, id.Token, struct{}{}, nil); err != nil && !errors.Is(err, errGone) {
		return err
	}
	c.disabled(ctx, "said goodbye after sending everything")
	return errStopped
}

// disabled records that the kiosk is disabled and tells the runner.
func (c *Client) disabled(ctx context.Context, why string) {
	st, _ := c.q.Stats()
	if st.Waiting > 0 || st.PhotosWaiting > 0 {
		c.log.Error("the kiosk is disabled with punches the office never received; they stay in the queue for a person to recover",
			"waiting", st.Waiting, "photos_waiting", st.PhotosWaiting)
	}
	d, err := c.q.Device()
	if err == nil {
		d.Disabled = true
		err = c.q.SetDevice(d)
	}
	if err != nil {
		// The server refuses the kiosk anyway; the next start learns it
		// again at check-in.
		c.log.Error("recording that the kiosk is disabled failed", "err", err)
	}
	c.log.Info("kiosk disabled by the office", "device_id", c.DeviceID(), "why", why)
	c.send(ctx, kiosk.DeviceDisabled{})
}
