package camera

import (
	"image"
	"image/color"
	"slices"
	"testing"
	"time"
)

// grid makes a w×h image whose pixel (x, y) has red x and green y, so a
// pixel's colour says where it came from.
func grid(r image.Rectangle) *image.RGBA {
	img := image.NewRGBA(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(x - r.Min.X), uint8(y - r.Min.Y), 7, 255})
		}
	}
	return img
}

// layout lists, row by row, where each pixel of img came from as "xy".
func layout(img image.Image) [][]string {
	b := img.Bounds()
	var rows [][]string
	for y := b.Min.Y; y < b.Max.Y; y++ {
		var row []string
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, _, _ := img.At(x, y).RGBA()
			row = append(row, string(rune('0'+r>>8))+string(rune('0'+g>>8)))
		}
		rows = append(rows, row)
	}
	return rows
}

func TestRotate(t *testing.T) {
	// The source, 2 wide and 3 tall, by origin of each pixel:
	//
	//	00 10
	//	01 11
	//	02 12
	tests := []struct {
		degrees int
		want    [][]string
	}{
		{0, [][]string{{"00", "10"}, {"01", "11"}, {"02", "12"}}},
		{90, [][]string{{"02", "01", "00"}, {"12", "11", "10"}}}, // clockwise: the left column becomes the top row
		{180, [][]string{{"12", "02"}, {"11", "01"}, {"10", "00"}}},
		{270, [][]string{{"10", "11", "12"}, {"00", "01", "02"}}},
		{-90, [][]string{{"10", "11", "12"}, {"00", "01", "02"}}},
		{450, [][]string{{"02", "01", "00"}, {"12", "11", "10"}}},
		{360, [][]string{{"00", "10"}, {"01", "11"}, {"02", "12"}}},
		{45, [][]string{{"00", "10"}, {"01", "11"}, {"02", "12"}}}, // not a right angle: unchanged
	}
	for _, tt := range tests {
		// Also from an image whose bounds do not start at (0, 0), like a
		// cropped photo.
		for _, src := range []image.Image{grid(image.Rect(0, 0, 2, 3)), grid(image.Rect(5, 9, 7, 12))} {
			got := Rotate(src, tt.degrees)
			if tt.degrees%360 != 0 && tt.degrees != 45 && got.Bounds().Min != (image.Point{}) {
				t.Errorf("Rotate(%d) bounds %v, want them to start at (0, 0)", tt.degrees, got.Bounds())
			}
			if g, w := layout(got), tt.want; !slices.EqualFunc(g, w, slices.Equal[[]string]) {
				t.Errorf("Rotate(%v, %d) =\n%v\nwant\n%v", src.Bounds(), tt.degrees, g, w)
			}
		}
	}
}

func TestRotateDecodedPhoto(t *testing.T) {
	// A photo as the camera returns it, decoded to YCbCr.
	img := decode(t, mustCapture(t))
	got := Rotate(img, 90)
	b, gb := img.Bounds(), got.Bounds()
	if gb.Dx() != b.Dy() || gb.Dy() != b.Dx() {
		t.Fatalf("rotated %v to %v, want width and height swapped", b, gb)
	}
	// The photo's top left corner is now its top right.
	r1, g1, b1, _ := img.At(0, 0).RGBA()
	r2, g2, b2, _ := got.At(gb.Dx()-1, 0).RGBA()
	if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
		t.Errorf("top right after rotating is %v, want the top left before, %v", got.At(gb.Dx()-1, 0), img.At(0, 0))
	}
}

func mustCapture(t *testing.T) []byte {
	t.Helper()
	photo, err := NewSim(func() time.Time { return t0 }, WithSize(64, 48)).Capture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return photo
}
