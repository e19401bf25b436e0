package display

// The icons are drawn in code from simple shapes, so they scale to any size
// without image files and stay sharp: a green disc with a check mark for
// saved, a red disc with a cross for an error, signal bars struck through
// for offline, a padlock, a camera and an hourglass.

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/vector"

	"github.com/siteclock/siteclock/kiosk"
)

// iconPen fills anti-aliased shapes in a rectangle of an image. Shapes added
// between two paints are filled together in one colour. Outlines are added
// in one winding direction and holes in the other: the rasterizer adds up
// the windings, so overlapping shapes merge and holes cut out.
type iconPen struct {
	z   *vector.Rasterizer
	dst *image.RGBA
	r   image.Rectangle
	s   float32 // pixels per icon unit: icons are drawn in a 1×1 square
}

type vpt struct{ x, y float32 }

// newIconPen returns a pen for the rectangle r of dst that rasterizes with
// z, whose buffers are reused from shape to shape.
func newIconPen(z *vector.Rasterizer, dst *image.RGBA, r image.Rectangle) *iconPen {
	p := &iconPen{z: z, dst: dst, r: r, s: float32(min(r.Dx(), r.Dy()))}
	p.z.Reset(r.Dx(), r.Dy())
	return p
}

// pathPx adds a closed polygon in pixels relative to the pen's rectangle.
func (p *iconPen) pathPx(pts []vpt, hole bool) {
	if len(pts) < 3 {
		return
	}
	var area float32
	for i, a := range pts {
		b := pts[(i+1)%len(pts)]
		area += a.x*b.y - b.x*a.y
	}
	// Outlines turn one way, holes the other.
	if (area < 0) != hole {
		for i, j := 0, len(pts)-1; i < j; i, j = i+1, j-1 {
			pts[i], pts[j] = pts[j], pts[i]
		}
	}
	p.z.MoveTo(pts[0].x, pts[0].y)
	for _, q := range pts[1:] {
		p.z.LineTo(q.x, q.y)
	}
	p.z.ClosePath()
}

// poly adds a polygon in icon units.
func (p *iconPen) poly(hole bool, pts ...vpt) {
	px := make([]vpt, len(pts))
	for i, q := range pts {
		px[i] = vpt{q.x * p.s, q.y * p.s}
	}
	p.pathPx(px, hole)
}

// arcPts returns points on a circle from angle a0 to a1 (radians,
// clockwise on screen from the +x axis), in pixels.
func (p *iconPen) arcPts(cx, cy, rad, a0, a1 float64) []vpt {
	n := max(8, int(math.Abs(a1-a0)*rad*float64(p.s)/3)) // about 3 px a segment
	pts := make([]vpt, 0, n+1)
	for i := 0; i <= n; i++ {
		a := a0 + (a1-a0)*float64(i)/float64(n)
		pts = append(pts, vpt{float32((cx + rad*math.Cos(a)) * float64(p.s)), float32((cy + rad*math.Sin(a)) * float64(p.s))})
	}
	return pts
}

// disc adds a filled circle in icon units.
func (p *iconPen) disc(cx, cy, rad float64, hole bool) {
	pts := p.arcPts(cx, cy, rad, 0, 2*math.Pi)
	p.pathPx(pts[:len(pts)-1], hole)
}

// arc adds a stroke of width w along a circle from a0 to a1.
func (p *iconPen) arc(cx, cy, rad, a0, a1, w float64) {
	outer := p.arcPts(cx, cy, rad+w/2, a0, a1)
	inner := p.arcPts(cx, cy, rad-w/2, a0, a1)
	for i := len(inner) - 1; i >= 0; i-- {
		outer = append(outer, inner[i])
	}
	p.pathPx(outer, false)
}

// line adds a stroke of width w from (x0, y0) to (x1, y1) with round ends.
func (p *iconPen) line(x0, y0, x1, y1, w float32) {
	dx, dy := x1-x0, y1-y0
	l := float32(math.Hypot(float64(dx), float64(dy)))
	if l == 0 {
		return
	}
	nx, ny := -dy/l*w/2, dx/l*w/2
	p.poly(false, vpt{x0 + nx, y0 + ny}, vpt{x1 + nx, y1 + ny}, vpt{x1 - nx, y1 - ny}, vpt{x0 - nx, y0 - ny})
	p.disc(float64(x0), float64(y0), float64(w/2), false)
	p.disc(float64(x1), float64(y1), float64(w/2), false)
}

// roundRectPx adds a rectangle with round corners, in pixels.
func (p *iconPen) roundRectPx(x0, y0, x1, y1, rad float32, hole bool) {
	if x1 <= x0 || y1 <= y0 {
		return
	}
	if rad <= 0 {
		p.pathPx([]vpt{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}, hole)
		return
	}
	// Corners as quarter circles, in pixels: arcPts works in icon units,
	// so scale the centres and radius down by s.
	s := float64(p.s)
	r := float64(rad) / s
	var pts []vpt
	corner := func(cx, cy float32, a0 float64) {
		pts = append(pts, p.arcPts(float64(cx)/s, float64(cy)/s, r, a0, a0+math.Pi/2)...)
	}
	corner(x1-rad, y0+rad, -math.Pi/2)
	corner(x1-rad, y1-rad, 0)
	corner(x0+rad, y1-rad, math.Pi/2)
	corner(x0+rad, y0+rad, math.Pi)
	p.pathPx(pts, hole)
}

// roundRect adds a rectangle with round corners in icon units.
func (p *iconPen) roundRect(x0, y0, x1, y1, rad float32) {
	p.roundRectPx(x0*p.s, y0*p.s, x1*p.s, y1*p.s, rad*p.s, false)
}

// paint fills the shapes added since the last paint with c.
func (p *iconPen) paint(c color.RGBA) {
	var dst draw.Image = p.dst
	if !p.r.In(p.dst.Bounds()) {
		// The rasterizer's fast path for *image.RGBA does not clip; the
		// generic path does, through At and Set.
		dst = struct{ draw.Image }{p.dst}
	}
	p.z.Draw(dst, p.r, image.NewUniform(c), image.Point{})
	p.z.Reset(p.r.Dx(), p.r.Dy())
}

// drawIcon draws icon in the square r of dst, rasterizing with z.
func drawIcon(z *vector.Rasterizer, dst *image.RGBA, r image.Rectangle, icon kiosk.Icon) {
	if r.Empty() {
		return
	}
	p := newIconPen(z, dst, r)
	switch icon {
	case kiosk.IconSaved:
		p.disc(0.5, 0.5, 0.48, false)
		p.paint(colGreen)
		p.line(0.27, 0.52, 0.43, 0.68, 0.1)
		p.line(0.43, 0.68, 0.74, 0.35, 0.1)
		p.paint(colText)
	case kiosk.IconError:
		p.disc(0.5, 0.5, 0.48, false)
		p.paint(colRed)
		p.line(0.32, 0.32, 0.68, 0.68, 0.11)
		p.line(0.68, 0.32, 0.32, 0.68, 0.11)
		p.paint(colText)
	case kiosk.IconOffline:
		// Signal bars, struck through.
		for i := range 4 {
			x := 0.1 + float32(i)*0.21
			top := 0.72 - float32(i)*0.18
			p.roundRect(x, top, x+0.15, 0.9, 0.03)
		}
		p.paint(colGrey)
		p.line(0.12, 0.12, 0.88, 0.88, 0.2)
		p.paint(colBackground) // a gap either side of the stroke
		p.line(0.12, 0.12, 0.88, 0.88, 0.1)
		p.paint(colAmber)
	case kiosk.IconLocked:
		p.arc(0.5, 0.42, 0.2, math.Pi, 2*math.Pi, 0.09)
		p.poly(false, vpt{0.255, 0.42}, vpt{0.345, 0.42}, vpt{0.345, 0.5}, vpt{0.255, 0.5})
		p.poly(false, vpt{0.655, 0.42}, vpt{0.745, 0.42}, vpt{0.745, 0.5}, vpt{0.655, 0.5})
		p.paint(colGrey)
		p.roundRect(0.14, 0.45, 0.86, 0.95, 0.07)
		p.paint(colAmber)
		p.disc(0.5, 0.64, 0.075, false)
		p.poly(false, vpt{0.47, 0.66}, vpt{0.53, 0.66}, vpt{0.56, 0.83}, vpt{0.44, 0.83})
		p.paint(colBackground)
	case kiosk.IconCamera:
		p.roundRect(0.32, 0.16, 0.62, 0.34, 0.04)
		p.roundRect(0.04, 0.26, 0.96, 0.86, 0.08)
		p.paint(colBlue)
		p.disc(0.5, 0.57, 0.22, false)
		p.paint(colBackground)
		p.disc(0.5, 0.57, 0.14, false)
		p.paint(colBlue)
		p.disc(0.83, 0.37, 0.045, false)
		p.paint(colText)
	case kiosk.IconWait:
		// An hourglass: two caps and two glass triangles meeting in the middle.
		p.roundRect(0.2, 0.06, 0.8, 0.14, 0.03)
		p.roundRect(0.2, 0.86, 0.8, 0.94, 0.03)
		p.paint(colText)
		p.poly(false, vpt{0.26, 0.14}, vpt{0.74, 0.14}, vpt{0.53, 0.5}, vpt{0.47, 0.5})
		p.poly(false, vpt{0.47, 0.5}, vpt{0.53, 0.5}, vpt{0.74, 0.86}, vpt{0.26, 0.86})
		p.paint(colBlue)
		// Sand: the lower part of the top glass and a heap at the bottom.
		p.poly(false, vpt{0.4, 0.38}, vpt{0.6, 0.38}, vpt{0.51, 0.5}, vpt{0.49, 0.5})
		p.poly(false, vpt{0.5, 0.62}, vpt{0.68, 0.86}, vpt{0.32, 0.86})
		p.paint(colAmber)
	}
}
