package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-target", srv.URL, "-rates", "twice=1"}, pw, &stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no first line; stderr %q", stderr.String())
	}
	first := lines.Text()
	_, rest, ok := strings.Cut(first, "listening on ")
	if !ok {
		t.Fatalf("first line %q", first)
	}
	url, _, _ := strings.Cut(rest, ",")
	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello from /ping" {
		t.Errorf("answer %q", b)
	}
	cancel()
	var out []string
	for lines.Scan() {
		out = append(out, lines.Text())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !strings.Contains(out[0], "1 requests, 2 forwarded, 1 faults") || !strings.Contains(out[0], "twice 1") {
		t.Errorf("final counts %q", out)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-rates", "bogus=1"}, {"-target", "nope"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) accepted", args)
		}
	}
}
