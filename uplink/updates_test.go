package uplink

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siteclock/siteclock/protocol"
)

// TestReleaseSource: the binary is fetched from the office the kiosk
// enrolled with, with its token, from where a cut download stopped; an
// offer that points anywhere else is not followed.
func TestReleaseSource(t *testing.T) {
	bin := strings.Repeat("0123456789", 100)
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Range"))
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(bin))
	}))
	defer srv.Close()
	c := &Client{http: srv.Client(), version: "1.0.0"}
	src := releaseSource{c, &identity{ServerURL: srv.URL, Token: "tok"}}

	body, start, err := src.Fetch(context.Background(), protocol.PathRelease+"r1", 640)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if start != 640 || string(b) != bin[640:] {
		t.Errorf("resumed fetch started at %d with %d bytes; want 640 and the rest", start, len(b))
	}
	if len(got) != 1 || got[0] != protocol.PathRelease+"r1 Bearer tok bytes=640-" {
		t.Errorf("the office saw %q", got)
	}
	for _, path := range []string{"https://elsewhere.example/x", protocol.PathRelease + "../roster", protocol.PathRoster, protocol.PathRelease + "r1?x=1"} {
		if _, _, err := src.Fetch(context.Background(), path, 0); err == nil {
			t.Errorf("fetched an offer at %q", path)
		}
	}
	for _, cr := range []string{"bytes 5-9/10", "bytes x-9/10", "items 5-9/10", ""} {
		n, err := rangeStart(cr)
		if (cr == "bytes 5-9/10") != (err == nil) || cr == "bytes 5-9/10" && n != 5 {
			t.Errorf("rangeStart(%q) = %d, %v", cr, n, err)
		}
	}
}
