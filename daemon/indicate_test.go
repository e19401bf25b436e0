package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siteclock/siteclock/kiosk"
)

// The status LED hears whether the kiosk is ready and online, once at the
// start and again only when either changes; a badge read arriving as an
// event identifies its employee.
func TestIndicateAndBadge(t *testing.T) {
	db := openQueue(t)
	disp := newScreens()
	events := make(chan kiosk.Event)
	var (
		mu   sync.Mutex
		told []string
	)
	k := &Kiosk{
		State:   kiosk.New(kiosk.Ready, testRoster(t), nil, "", kiosk.Net{}, time.Now()),
		Keys:    make(chan kiosk.Key),
		Events:  events,
		Display: disp,
		Store:   db,
		Indicate: func(ready, online bool) {
			mu.Lock()
			told = append(told, fmt.Sprintf("ready=%v online=%v", ready, online))
			mu.Unlock()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- k.Run(ctx) }()
	send := func(ev kiosk.Event) {
		t.Helper()
		select {
		case events <- ev:
		case <-time.After(10 * time.Second):
			t.Fatal("the kiosk took no event")
		}
	}
	send(kiosk.NetChanged{Net: kiosk.Net{Online: true}})
	send(kiosk.NetChanged{Net: kiosk.Net{Online: true, Waiting: 2}})
	send(kiosk.Badge{Number: "1002"})
	send(kiosk.DeviceDisabled{})
	send(kiosk.NetChanged{Net: kiosk.Net{Online: true}}) // a no-op event, so the last one was applied
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"ready=true online=false", "ready=true online=true", "ready=false online=true"}
	if !slices.Equal(told, want) {
		t.Errorf("Indicate heard %q, want %q", told, want)
	}
	if s := disp.buf.String(); !strings.Contains(s, "Hello, Ben Cole") {
		t.Errorf("a badge read did not greet its employee; screens:\n%s", s)
	}
}
