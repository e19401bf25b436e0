package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/siteclock/siteclock/kiosk"
	"github.com/siteclock/siteclock/photoseal"
)

// oneShot is a camera that always gives the same JPEG.
type oneShot []byte

func (c oneShot) Check(context.Context) error             { return nil }
func (c oneShot) Capture(context.Context) ([]byte, error) { return bytes.Clone(c), nil }

// With photos sealed at rest, the preview still shows the picture: it
// comes from the camera's bytes in memory, not from the stored file,
// which the kiosk can no longer open.
func TestPreviewFromCameraNotFromSealedFile(t *testing.T) {
	db := openQueue(t)
	r := testRoster(t)
	if err := db.ReplaceRoster(r); err != nil {
		t.Fatal(err)
	}
	key, err := photoseal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetPhotoKey(key.Public()); err != nil {
		t.Fatal(err)
	}
	shot := oneShot(append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("Ben's face "), 100)...))
	disp := newScreens()
	runKiosk(t, &Kiosk{
		State:    kiosk.New(kiosk.Ready, r, nil, "", kiosk.Net{}, time.Now()),
		Keys:     script("2222##"),
		Display:  disp,
		Camera:   shot,
		Store:    db,
		BootID:   "test-boot",
		Scripted: true,
	})

	disp.mu.Lock()
	var preview *kiosk.Screen
	for i := range disp.all {
		if disp.all[i].Name == "preview" {
			preview = &disp.all[i]
			break
		}
	}
	disp.mu.Unlock()
	if preview == nil || !bytes.Equal(preview.Photo, shot) {
		t.Fatalf("the preview does not show the camera's picture (preview found: %v)", preview != nil)
	}
	ps, err := db.Unsent(0)
	if err != nil || len(ps) != 1 || ps[0].Photo == "" {
		t.Fatalf("committed: %+v, %v; want one punch with a photo", ps, err)
	}
	stored, err := os.ReadFile(filepath.Join(db.Dir(), "photos", ps[0].Photo))
	if err != nil {
		t.Fatal(err)
	}
	if !photoseal.IsSealed(stored) || bytes.Contains(stored, shot[4:40]) {
		t.Error("the stored photo is not sealed")
	}
	if got, err := key.Open(stored); err != nil || !bytes.Equal(got, shot) {
		t.Errorf("the sealed photo does not open to the picture shown: %v", err)
	}
}
