package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// Answers that change what the sync loop does.
var (
	// errUnauthorized: the server does not know the token.
	errUnauthorized = errors.New("uplink: device token refused")
	// errGone: the server refuses the device as disabled; it said
	// goodbye before (perhaps its answer was lost).
	errGone = errors.New("uplink: device disabled and gone")
	// errStopped: the kiosk is disabled (it sent everything and said
	// goodbye, or the server refuses it as gone): syncing is over.
	errStopped = errors.New("uplink: kiosk disabled")
	// errNotEnrolled: there is no identity to sync with.
	errNotEnrolled = errors.New("uplink: not enrolled")
)

// Limits on what the kiosk reads from the server.
const (
	maxAnswerBytes = protocol.MaxBodyBytes
	maxRosterBytes = 64 << 20 // a roster grows with the company, beyond the request limit
)

// httpError is a 4xx or 5xx answer.
type httpError struct {
	op         string
	status     int
	code       string // protocol.Error's code, "" when the body was not one
	message    string
	retryAfter time.Duration
}

func (e *httpError) Error() string {
	s := fmt.Sprintf("uplink: %s: server answered %d", e.op, e.status)
	if e.code != "" {
		s += " " + e.code
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

func (e *httpError) Unwrap() error {
	switch {
	case e.status == http.StatusUnauthorized:
		return errUnauthorized
	case e.status == http.StatusForbidden && e.code == protocol.ErrDisabled:
		return errGone
	}
	return nil
}

// refusal reports whether err is the server refusing this request for good
// with a protocol error (as opposed to a failure worth retrying). An answer
// that is not a protocol error (a proxy's page) is never taken for one: a
// misconfigured proxy must not get photos given up.
func refusal(err error) (*httpError, bool) {
	var he *httpError
	if !errors.As(err, &he) || he.code == "" || he.status < 400 || he.status >= 500 {
		return nil, false
	}
	switch he.status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return nil, false
	}
	if he.code == protocol.ErrDisabled || he.code == protocol.ErrRateLimited || he.code == protocol.ErrInternal {
		return nil, false
	}
	return he, true
}

// retryAfter is the wait a 429 or 503 asked for, 0 if none.
func retryAfter(err error) time.Duration {
	var he *httpError
	if errors.As(err, &he) {
		return he.retryAfter
	}
	return 0
}

// request is one call to the device API.
type request struct {
	op          string // for errors: "check in", "upload punches"
	method      string
	path        string
	token       string // "" for none (enrolment)
	body        []byte
	contentType string
	header      map[string]string
	limit       int64 // most bytes read from the answer; 0: maxAnswerBytes
}

// do sends r and returns the status and body of a 2xx or 304 answer; any
// other answer is an *httpError, a failure to get one a plain error.
func (c *Client) do(ctx context.Context, serverURL string, r request) (int, []byte, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := c.newRequest(ctx, r.method, serverURL+r.path, body, r.token)
	if err != nil {
		return 0, nil, fmt.Errorf("uplink: %s: %w", r.op, err)
	}
	req.Header.Set("Accept", protocol.ContentTypeJSON)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The error names the URL, never the headers: no token in it.
		return 0, nil, fmt.Errorf("uplink: %s: %w", r.op, err)
	}
	defer resp.Body.Close()
	limit := r.limit
	if limit == 0 {
		limit = maxAnswerBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, fmt.Errorf("uplink: %s: read answer: %w", r.op, err)
	}
	if int64(len(b)) > limit {
		return 0, nil, fmt.Errorf("uplink: %s: answer larger than %d bytes", r.op, limit)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300, resp.StatusCode == http.StatusNotModified:
		return resp.StatusCode, b, nil
	}
	he := &httpError{op: r.op, status: resp.StatusCode}
	var pe protocol.Error
	if json.Unmarshal(b, &pe) == nil && pe.Code != "" {
		he.code, he.message = pe.Code, pe.Message
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		he.retryAfter = time.Duration(s) * time.Second
	}
	return resp.StatusCode, nil, he
}

// newRequest is a request to the office with what every one carries: the
// kiosk's User-Agent and, unless token is "", the device token.
func (c *Client) newRequest(ctx context.Context, method, url string, body io.Reader, token string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "siteclockd/"+c.version)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

// callJSON sends in as JSON (if not nil) and decodes a 2xx answer into out
// (if not nil).
func (c *Client) callJSON(ctx context.Context, serverURL, op, method, path, token string, in, out any) error {
	r := request{op: op, method: method, path: path, token: token}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("uplink: %s: %w", op, err)
		}
		r.body, r.contentType = b, protocol.ContentTypeJSON
	}
	_, b, err := c.do(ctx, serverURL, r)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("uplink: %s: unreadable answer: %w", op, err)
		}
	}
	return nil
}
