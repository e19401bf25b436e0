package uplink

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/protocol"
)

// Updates takes the software updates the office offers at check-in and
// says how they are going (firmware.Updater).
type Updates interface {
	// Report is told to the office at every check-in (nil: nothing).
	Report() *protocol.UpdateReport
	// Offer hands over the check-in answer's offer (nil: none) and where
	// to fetch its binary from. It must not block.
	Offer(o *protocol.UpdateOffer, src firmware.Source)
}

// releaseSource fetches a release's binary from the office the kiosk is
// enrolled with, with its token, resuming with a Range request.
type releaseSource struct {
	c  *Client
	id *identity
}

func (s releaseSource) Fetch(ctx context.Context, path string, offset int64) (io.ReadCloser, int64, error) {
	if !strings.HasPrefix(path, protocol.PathRelease) || strings.Contains(path, "..") || strings.ContainsAny(path, "?#") {
		return nil, 0, fmt.Errorf("uplink: the office offered a release at %q, not under %s", path, protocol.PathRelease)
	}
	req, err := s.c.newRequest(ctx, http.MethodGet, s.id.ServerURL+path, nil, s.id.Token)
	if err != nil {
		return nil, 0, fmt.Errorf("uplink: fetch release: %w", err)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := s.c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("uplink: fetch release: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		start, err := rangeStart(resp.Header.Get("Content-Range"))
		if err != nil {
			resp.Body.Close()
			return nil, 0, err
		}
		return resp.Body, start, nil
	}
	resp.Body.Close()
	return nil, 0, fmt.Errorf("uplink: fetch release: server answered %s", resp.Status)
}

// rangeStart reads the first byte's offset from "bytes 100-199/200".
func rangeStart(cr string) (int64, error) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	first, _, ok2 := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(first, 10, 64)
	if !ok || !ok2 || err != nil || n < 0 {
		return 0, fmt.Errorf("uplink: fetch release: unreadable Content-Range %q", cr)
	}
	return n, nil
}
