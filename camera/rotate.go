package camera

import (
	"image"
	"image/draw"
)

// Rotate turns img clockwise by degrees, for a camera mounted on its side or
// upside down. degrees must be a multiple of 90; -90 is the same as 270.
// The result's bounds start at (0, 0). For 0, and for angles that are not a
// multiple of 90 (which the photo-rotation setting is validated against when
// the configuration is loaded), img is returned as it is.
func Rotate(img image.Image, degrees int) image.Image {
	if degrees%90 != 0 {
		return img
	}
	turns := ((degrees/90)%4 + 4) % 4
	if turns == 0 {
		return img
	}
	// Copy into RGBA first: draw converts a decoded JPEG's YCbCr in one
	// fast pass, and moving 4-byte pixels is then simple.
	b := img.Bounds()
	src := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(src, src.Rect, img, b.Min, draw.Src)
	w, h := b.Dx(), b.Dy()

	var dst *image.RGBA
	var to func(x, y int) (int, int) // where source pixel (x, y) goes
	switch turns {
	case 1:
		dst = image.NewRGBA(image.Rect(0, 0, h, w))
		to = func(x, y int) (int, int) { return h - 1 - y, x }
	case 2:
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
		to = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case 3:
		dst = image.NewRGBA(image.Rect(0, 0, h, w))
		to = func(x, y int) (int, int) { return y, w - 1 - x }
	}
	for y := range h {
		for x := range w {
			dx, dy := to(x, y)
			copy(dst.Pix[dst.PixOffset(dx, dy):][:4], src.Pix[src.PixOffset(x, y):][:4])
		}
	}
	return dst
}
