// Command faultproxy runs the fault-injecting proxy of package faultproxy
// between a kiosk and a back office, to watch by hand what a bad network
// does to them:
//
//	faultproxy -target http://127.0.0.1:8080 -listen 127.0.0.1:8081 -rates 0.3
//
// then point the kiosk at http://127.0.0.1:8081. On Ctrl-C it prints how
// many faults of each kind it injected. It is a test tool: never put it in
// front of a real office.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/siteclock/siteclock/faultproxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(1)
	}
}

// run serves the proxy until ctx is done, then prints its counts.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("faultproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	target := fs.String("target", "http://127.0.0.1:8080", "the back office to forward to")
	rates := fs.String("rates", "0.3", "fault rate: a total split over every kind (0.3), or kind=rate pairs (reset=0.1,500=0.05,503=0.05,stall=0.02,truncate=0.05,twice=0.05)")
	seed := fs.Uint64("seed", 1, "seed of the fault sequence")
	stall := fs.Duration("stall", 30*time.Second, "longest a stalled answer is held")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	r, err := faultproxy.ParseRates(*rates)
	if err != nil {
		return err
	}
	p, err := faultproxy.New(faultproxy.Config{Target: *target, Seed: *seed, Rates: r, StallFor: *stall})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "faultproxy: listening on http://%s, forwarding to %s\n", ln.Addr(), *target)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintf(stdout, "faultproxy: %s\n", p.Stats())
	return nil
}
