package daemon

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/kiosk"
)

// slowStart is a camera whose stream takes as long to start as the test
// says (a webcam stuck in a USB timeout).
type slowStart struct {
	*camera.Sim
	release chan struct{}
	starts  atomic.Int32
	stops   atomic.Int32
}

func (c *slowStart) Start(ctx context.Context) error {
	c.starts.Add(1)
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return nil
}

func (c *slowStart) Stop() error { c.stops.Add(1); return nil }

// A camera slow to start holds up neither the screen nor the keys.
func TestSlowCameraStartDoesNotBlock(t *testing.T) {
	db := openQueue(t)
	cam := &slowStart{Sim: camera.NewSim(time.Now), release: make(chan struct{})}
	disp := newScreens()
	keys := make(chan kiosk.Key)
	k := &Kiosk{
		State:   kiosk.New(kiosk.Ready, testRoster(t), nil, "", kiosk.Net{}, time.Now()),
		Keys:    keys,
		Display: disp,
		Camera:  cam,
		Store:   db,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- k.Run(ctx) }()
	for _, c := range "2222#" {
		key, _ := kiosk.ParseKey(c)
		select {
		case keys <- key:
		case <-time.After(10 * time.Second):
			t.Fatalf("key %c not taken while the camera was starting", c)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(func() string { disp.mu.Lock(); defer disp.mu.Unlock(); return disp.buf.String() }(), "Hello, Ben Cole") {
		if time.Now().After(deadline) {
			t.Fatal("the greeting never showed while the camera was starting")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The worker may not have reached Start yet when the greeting shows;
	// it must get there, once, and stay in it until released.
	for cam.starts.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the camera was never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := cam.starts.Load(); n != 1 {
		t.Errorf("camera started %d times, want once (still starting)", n)
	}
	close(cam.release)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
