package camera

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
)

// A YUYV frame is rows of pixel pairs, four bytes each: Y0 Cb Y1 Cr, the
// two pixels' brightness and their shared colour. JPEG stores pictures as
// YCbCr too, so a YUYV frame goes into an image.YCbCr with 4:2:2
// subsampling nearly byte for byte, and image/jpeg encodes that without a
// conversion to RGB. What does need converting:
//
//   - The range. V4L2 YUV is limited range unless the driver says
//     otherwise (Y 16–235, Cb and Cr 16–240); JPEG's is full range
//     (0–255). Copied as they are, limited-range values make a grey,
//     washed-out photo.
//   - The matrix. JPEG uses BT.601; a driver may send BT.709, where the
//     same colour has other Cb and Cr (and the same Y, so only Y picks up
//     a correction from the colour).

// yuyvImage unpacks a YUYV frame of format f into a full-range BT.601
// 4:2:2 image.
func yuyvImage(data []byte, f Format) (*image.YCbCr, error) {
	w, h := f.Width, f.Height
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("YUYV frame size %dx%d", w, h)
	}
	pairs := (w + 1) / 2
	rowBytes := 4 * pairs
	stride := f.stride
	if stride == 0 {
		stride = rowBytes
	}
	if stride < rowBytes {
		return nil, fmt.Errorf("YUYV rows of %d bytes are too short for %d pixels", stride, w)
	}
	if need := (h-1)*stride + rowBytes; len(data) < need {
		return nil, fmt.Errorf("YUYV frame has %d bytes, want %d for %dx%d", len(data), need, w, h)
	}

	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio422)
	ylut, clut := &identityLUT, &identityLUT
	if !f.fullRange {
		ylut, clut = &limitedYLUT, &limitedCLUT
	}
	for y := range h {
		src := data[y*stride : y*stride+rowBytes]
		dy := img.Y[y*img.YStride : y*img.YStride+w]
		dcb := img.Cb[y*img.CStride : y*img.CStride+pairs]
		dcr := img.Cr[y*img.CStride : y*img.CStride+pairs]
		if f.bt709 {
			row709(dy, dcb, dcr, src, ylut, clut)
			continue
		}
		for p := range pairs {
			s := src[4*p : 4*p+4]
			dy[2*p] = ylut[s[0]]
			if 2*p+1 < len(dy) { // an odd width drops the last pair's second pixel
				dy[2*p+1] = ylut[s[2]]
			}
			dcb[p] = clut[s[1]]
			dcr[p] = clut[s[3]]
		}
	}
	return img, nil
}

// row709 unpacks one row of BT.709 pixel pairs into BT.601.
func row709(dy, dcb, dcr, src []byte, ylut, clut *[256]byte) {
	m := &bt709To601
	for p := range dcb {
		s := src[4*p : 4*p+4]
		cb, cr := int32(clut[s[1]])-128, int32(clut[s[3]])-128
		dY := (m.yb*cb + m.yr*cr + 1<<15) >> 16
		dy[2*p] = clamp8(int32(ylut[s[0]]) + dY)
		if 2*p+1 < len(dy) {
			dy[2*p+1] = clamp8(int32(ylut[s[2]]) + dY)
		}
		dcb[p] = clamp8(128 + (m.bb*cb+m.br*cr+1<<15)>>16)
		dcr[p] = clamp8(128 + (m.rb*cb+m.rr*cr+1<<15)>>16)
	}
}

// encodeYUYV encodes a YUYV frame of format f as a JPEG.
func encodeYUYV(data []byte, f Format, quality int) ([]byte, error) {
	img, err := yuyvImage(data, f)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(f.Width * f.Height / 6) // about what a webcam photo takes at quality 85
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("encode JPEG: %w", err)
	}
	return b.Bytes(), nil
}

// Lookup tables from a YUYV byte to a full-range one.
var identityLUT, limitedYLUT, limitedCLUT = func() (id, ly, lc [256]byte) {
	for i := range 256 {
		id[i] = byte(i)
		ly[i] = clamp8(int32(math.Round(float64(i-16) * 255 / 219)))
		lc[i] = clamp8(int32(math.Round(float64(i-128)*255/224 + 128)))
	}
	return
}()

// yccMatrix turns (Cb-128, Cr-128) in one YCbCr encoding into the change
// of Y and the Cb-128, Cr-128 of another, in 16.16 fixed point.
type yccMatrix struct{ yb, yr, bb, br, rb, rr int32 }

// bt709To601 is worked out from the two standards' luma weights (Kr, Kb):
// back to RGB with BT.709's, forward with BT.601's. Y itself carries over
// unchanged (white is Y=1, Cb=Cr=0 in both), so only the columns for Cb
// and Cr are needed.
var bt709To601 = func() yccMatrix {
	toRGB := func(kr, kb, y, cb, cr float64) (r, g, b float64) {
		r = y + 2*(1-kr)*cr
		b = y + 2*(1-kb)*cb
		g = (y - kr*r - kb*b) / (1 - kr - kb)
		return
	}
	fromRGB := func(kr, kb, r, g, b float64) (y, cb, cr float64) {
		y = kr*r + (1-kr-kb)*g + kb*b
		return y, (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
	}
	column := func(cb, cr float64) (float64, float64, float64) {
		r, g, b := toRGB(0.2126, 0.0722, 0, cb, cr)
		return fromRGB(0.299, 0.114, r, g, b)
	}
	q := func(x float64) int32 { return int32(math.Round(x * 65536)) }
	yb, bb, rb := column(1, 0)
	yr, br, rr := column(0, 1)
	return yccMatrix{q(yb), q(yr), q(bb), q(br), q(rb), q(rr)}
}()

func clamp8(v int32) byte {
	return byte(min(max(v, 0), 255))
}
