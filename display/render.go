package display

// The graphic renderer: one layout for every kiosk screen, drawn into an
// image that a graphic display (the Linux framebuffer, later an HDMI or SPI
// panel) copies to its pixels.
//
// The screen is read from about two metres away, in dust and sunlight: white
// text on a near-black background, a large bold font for Big, and colour only
// as a second cue (the icon and a stripe under the title), never as the only
// one. Sizes are chosen for 800×480 and scaled with the screen, so the same
// code serves a 480×320 panel and a 1280×800 monitor.

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"

	"github.com/siteclock/siteclock/camera"
	"github.com/siteclock/siteclock/kiosk"
)

// The smallest screen the renderer lays out; smaller ones have no room for a
// PIN and its hints at a readable size.
const (
	MinRenderWidth  = 320
	MinRenderHeight = 200
)

// The palette. Text is white on near-black; the bands are dark enough that
// white text on them keeps a contrast ratio above 12:1.
var (
	colBackground = color.RGBA{0x0b, 0x0d, 0x10, 0xff}
	colText       = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colTitleBand  = color.RGBA{0x1c, 0x25, 0x33, 0xff}
	colStatusBand = color.RGBA{0x26, 0x2c, 0x35, 0xff}
	colStatusText = color.RGBA{0xe8, 0xeb, 0xef, 0xff}
	colOutline    = color.RGBA{0x7a, 0x85, 0x94, 0xff}
	colKeycap     = color.RGBA{0xe8, 0xeb, 0xef, 0xff}
	colGreen      = color.RGBA{0x2e, 0xcc, 0x40, 0xff}
	colRed        = color.RGBA{0xf0, 0x3a, 0x2f, 0xff}
	colAmber      = color.RGBA{0xff, 0xb3, 0x00, 0xff}
	colBlue       = color.RGBA{0x4f, 0xc3, 0xf7, 0xff}
	colGrey       = color.RGBA{0x9a, 0xa3, 0xaf, 0xff}
)

// fontSet holds the parsed fonts. Parsing is done once per process: the
// renderer and the test pattern share them, and sfnt.Font is safe for
// concurrent use.
type fontSet struct{ regular, bold *opentype.Font }

var loadFonts = sync.OnceValues(func() (*fontSet, error) {
	reg, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("display: parse the Go Regular font: %w", err)
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("display: parse the Go Bold font: %w", err)
	}
	return &fontSet{regular: reg, bold: bold}, nil
})

// faceCache makes font faces of one font set at whole pixel sizes. Sizes are
// whole pixels so the cache stays small while shrinking text to fit.
type faceCache struct {
	fonts *fontSet
	faces map[faceKey]font.Face
}

type faceKey struct {
	bold bool
	px   int
}

func (c *faceCache) face(bold bool, px int) font.Face {
	k := faceKey{bold, px}
	if f, ok := c.faces[k]; ok {
		return f
	}
	fnt := c.fonts.regular
	if bold {
		fnt = c.fonts.bold
	}
	// Full hinting rounds the metrics and advances to whole pixels, which
	// keeps the layout on the pixel grid and the same on every CPU.
	// NewFace has no failure path for a parsed font.
	f, _ := opentype.NewFace(fnt, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if c.faces == nil {
		c.faces = make(map[faceKey]font.Face)
	}
	c.faces[k] = f
	return f
}

// Renderer draws kiosk screens into images of one size. It keeps font faces
// between screens, so it is used by one goroutine (the display's); it is not
// safe for concurrent use.
type Renderer struct {
	w, h  int
	m     renderSizes
	faces faceCache
	z     vector.Rasterizer // for shapes and icons; its buffers are reused
}

// renderSizes are the layout's lengths in pixels for one screen size.
type renderSizes struct {
	margin, gap                  int
	titlePx, bigPx, figurePx     int
	bodyPx, hintPx, statusPx     int
	minPx                        int // no text is drawn smaller
	stripe                       int // the icon-coloured stripe under the title
	outline                      int // width of outlines (entry box, hint chips)
	photoShare                   float64
	minBigShare, hintOneRowShare float64
}

func renderSizesFor(w, h int) renderSizes {
	// Scale from the 800×480 design by the tighter of the two ratios, so a
	// wide or a tall screen does not push text past the other edge.
	u := min(float64(w)/800, float64(h)/480)
	px := func(v float64) int { return max(1, int(math.Round(v*u))) }
	return renderSizes{
		margin: px(20), gap: px(12),
		titlePx: px(36), bigPx: px(104), figurePx: px(76),
		bodyPx: px(36), hintPx: px(28), statusPx: px(24),
		// 16 px is about 3 mm on a 7-inch 800×480 panel: the least that
		// can still be read at arm's length when nothing else fits.
		minPx:  max(12, px(16)),
		stripe: max(2, px(6)), outline: max(1, px(2)),
		photoShare: 0.42,
		// Big shrinks to 45% of its size on one line before it wraps.
		minBigShare: 0.45,
		// Hints stay on one row down to 75% of their size, then take two.
		hintOneRowShare: 0.75,
	}
}

// NewRenderer returns a renderer for a width×height screen. It fails if the
// screen is smaller than MinRenderWidth×MinRenderHeight.
func NewRenderer(width, height int) (*Renderer, error) {
	if width < MinRenderWidth || height < MinRenderHeight {
		return nil, fmt.Errorf("display: renderer: a %dx%d screen is too small for the kiosk screens; the smallest is %dx%d", width, height, MinRenderWidth, MinRenderHeight)
	}
	fs, err := loadFonts()
	if err != nil {
		return nil, err
	}
	return &Renderer{w: width, h: height, m: renderSizesFor(width, height), faces: faceCache{fonts: fs}}, nil
}

// Size returns the width and height the renderer draws.
func (r *Renderer) Size() (w, h int) { return r.w, r.h }

// Render draws s into a new image of the renderer's size.
func (r *Renderer) Render(s kiosk.Screen) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, r.w, r.h))
	r.Draw(img, s)
	return img
}

// Draw draws s over the rectangle (0,0)-(width,height) of dst, every pixel
// of it; pixels outside dst's bounds are left out.
func (r *Renderer) Draw(dst *image.RGBA, s kiosk.Screen) {
	for _, o := range r.layout(s) {
		o.paint(r, dst)
	}
}

// A drawOp is one drawing operation of a laid-out screen. Layout and painting
// are separate so tests can check where everything goes.
type drawOp interface {
	paint(r *Renderer, dst *image.RGBA)
}

// fillOp fills a rectangle, with rounded corners when radius > 0, or draws
// its outline when stroke > 0.
type fillOp struct {
	rect           image.Rectangle
	col            color.RGBA
	radius, stroke int
}

// textOp draws one line of text with its baseline starting at dot. Nothing
// is drawn outside clip, but the layout keeps the ink inside clip anyway
// (a test checks it); the clip is a safety net.
type textOp struct {
	s    string
	bold bool
	px   int
	dot  image.Point
	clip image.Rectangle
	col  color.RGBA
}

// iconOp draws an icon in a square.
type iconOp struct {
	icon kiosk.Icon
	rect image.Rectangle
}

// photoOp draws a photo, already turned and scaled to the size of rect.
type photoOp struct {
	img  *image.RGBA
	rect image.Rectangle
}

func (o fillOp) paint(r *Renderer, dst *image.RGBA) {
	if o.radius <= 0 && o.stroke <= 0 {
		draw.Draw(dst, o.rect, image.NewUniform(o.col), image.Point{}, draw.Src)
		return
	}
	p := newIconPen(&r.z, dst, o.rect)
	w, h := float32(o.rect.Dx()), float32(o.rect.Dy())
	rad := float32(min(o.radius, o.rect.Dx()/2, o.rect.Dy()/2))
	p.roundRectPx(0, 0, w, h, rad, false)
	if o.stroke > 0 {
		s := float32(o.stroke)
		p.roundRectPx(s, s, w-s, h-s, max(0, rad-s), true)
	}
	p.paint(o.col)
}

func (o textOp) paint(r *Renderer, dst *image.RGBA) {
	sub, ok := dst.SubImage(o.clip).(*image.RGBA)
	if !ok || sub.Bounds().Empty() {
		return
	}
	d := font.Drawer{Dst: sub, Src: image.NewUniform(o.col), Face: r.faces.face(o.bold, o.px), Dot: fixed.P(o.dot.X, o.dot.Y)}
	d.DrawString(o.s)
}

func (o iconOp) paint(r *Renderer, dst *image.RGBA) { drawIcon(&r.z, dst, o.rect, o.icon) }

func (o photoOp) paint(r *Renderer, dst *image.RGBA) {
	draw.Draw(dst, o.rect, o.img, image.Point{}, draw.Src)
}

// layout decides where everything of s goes. From the top: the title band
// with a stripe in the icon's colour, the content (Big with its icon,
// Lines, and the photo on the right), the hints as key chips, and the status
// band at the bottom. Each text shrinks to fit its width, then wraps or ends
// in "…"; the content shrinks as a whole until it fits its height.
func (r *Renderer) layout(s kiosk.Screen) []drawOp {
	m := r.m
	full := image.Rect(0, 0, r.w, r.h)
	ops := []drawOp{fillOp{rect: full, col: colBackground}}
	top, bottom := 0, r.h

	if s.Status != "" {
		px, text := r.fitLine(false, s.Status, m.statusPx, m.minPx, r.w-2*m.margin)
		f := r.faces.face(false, px)
		pad := m.gap / 2
		band := image.Rect(0, r.h-faceLineHeight(f)-2*pad, r.w, r.h)
		ops = append(ops, fillOp{rect: band, col: colStatusBand})
		ops = append(ops, r.textIn(text, false, px, band.Inset(pad).Intersect(full), m.margin, colStatusText))
		bottom = band.Min.Y
	}
	if s.Title != "" {
		px, text := r.fitLine(true, s.Title, m.titlePx, m.minPx, r.w-2*m.margin)
		f := r.faces.face(true, px)
		pad := m.gap * 3 / 4
		band := image.Rect(0, 0, r.w, faceLineHeight(f)+2*pad)
		ops = append(ops, fillOp{rect: band, col: colTitleBand})
		ops = append(ops, r.textIn(text, true, px, band.Inset(pad).Intersect(full), m.margin, colText))
		top = band.Max.Y
	}
	if c, ok := iconColour(s.Icon); ok {
		ops = append(ops, fillOp{rect: image.Rect(0, top, r.w, top+m.stripe), col: c})
		top += m.stripe
	}
	if len(s.Hints) > 0 {
		var hintOps []drawOp
		hintOps, bottom = r.layoutHints(s.Hints, image.Rect(m.margin, top, r.w-m.margin, bottom-m.gap))
		ops = append(ops, hintOps...)
	}

	content := image.Rect(m.margin, top+m.gap, r.w-m.margin, bottom-m.gap)
	if content.Empty() {
		return ops
	}
	if s.Photo != nil {
		var photoOps []drawOp
		photoOps, content = r.layoutPhoto(s.Photo, s.PhotoRotation, content)
		ops = append(ops, photoOps...)
	}
	return append(ops, r.layoutContent(s, content)...)
}

// textIn places one line of text, already fitted to the width, left-aligned
// at x in box and centred vertically in it.
func (r *Renderer) textIn(text string, bold bool, px int, box image.Rectangle, x int, col color.RGBA) textOp {
	f := r.faces.face(bold, px)
	met := f.Metrics()
	y := box.Min.Y + (box.Dy()-faceLineHeight(f))/2 + met.Ascent.Ceil()
	return textOp{s: text, bold: bold, px: px, dot: image.Pt(x, y), clip: box, col: col}
}

// iconColour is the colour that stands for an icon: the stripe under the
// title is drawn in it.
func iconColour(i kiosk.Icon) (color.RGBA, bool) {
	switch i {
	case kiosk.IconSaved:
		return colGreen, true
	case kiosk.IconError:
		return colRed, true
	case kiosk.IconOffline, kiosk.IconLocked:
		return colAmber, true
	case kiosk.IconCamera, kiosk.IconWait:
		return colBlue, true
	}
	return color.RGBA{}, false
}

// layoutPhoto puts the photo at the right of area, as large as the area's
// height allows within photoShare of its width, and returns what is left for
// the text. A photo that does not decode still takes its place, as a framed
// camera symbol: the worker sees that a photo was taken.
func (r *Renderer) layoutPhoto(photo []byte, rotation int, area image.Rectangle) ([]drawOp, image.Rectangle) {
	m := r.m
	maxW := int(float64(area.Dx()) * m.photoShare)
	img, err := jpeg.Decode(bytes.NewReader(photo))
	if err != nil || img.Bounds().Empty() {
		img = nil
	}
	frame := m.outline
	var w, h int
	if img != nil {
		pw, ph := img.Bounds().Dx(), img.Bounds().Dy()
		if quarterTurns(rotation)%2 == 1 {
			pw, ph = ph, pw
		}
		h = area.Dy() - 2*frame
		w = h * pw / ph
		if w > maxW-2*frame {
			w = maxW - 2*frame
			h = w * ph / pw
		}
	} else {
		w = min(maxW-2*frame, area.Dy()-2*frame)
		h = w
	}
	if w <= 0 || h <= 0 {
		return nil, area
	}
	top := area.Min.Y + (area.Dy()-h-2*frame)/2
	outer := image.Rect(area.Max.X-w-2*frame, top, area.Max.X, top+h+2*frame)
	inner := outer.Inset(frame)
	ops := []drawOp{fillOp{rect: outer, col: colOutline}}
	if img != nil {
		ops = append(ops, photoOp{img: scalePhoto(img, rotation, inner.Dx(), inner.Dy()), rect: inner})
	} else {
		ops = append(ops, fillOp{rect: inner, col: colBackground})
		side := min(inner.Dx(), inner.Dy()) / 2
		c := inner.Min.Add(image.Pt((inner.Dx()-side)/2, (inner.Dy()-side)/2))
		ops = append(ops, iconOp{icon: kiosk.IconCamera, rect: image.Rectangle{c, c.Add(image.Pt(side, side))}})
	}
	area.Max.X = outer.Min.X - 2*m.gap
	return ops, area
}

// quarterTurns is how many times a rotation of degrees turns a photo
// clockwise: 0 to 3. Rotations that are not a multiple of 90 (which the
// settings reject) do not turn it, as camera.Rotate does.
func quarterTurns(degrees int) int {
	if degrees%90 != 0 {
		return 0
	}
	return ((degrees/90)%4 + 4) % 4
}

// scalePhoto turns src clockwise by rotation degrees and scales it to w×h.
// Shrinking, which is the usual case (a 640×480 photo in a third of the
// screen), averages each output pixel's box of source pixels in one pass
// with integer arithmetic: no shimmer, and the same pixels on every CPU.
// Enlarging a small photo interpolates.
func scalePhoto(src image.Image, rotation, w, h int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	turns := quarterTurns(rotation)
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	rw, rh := sw, sh // the size once turned
	if turns%2 == 1 {
		rw, rh = sh, sw
	}
	if w <= 0 || h <= 0 {
		return out
	}
	if w > rw || h > rh {
		turned := camera.Rotate(src, rotation)
		xdraw.ApproxBiLinear.Scale(out, out.Rect, turned, turned.Bounds(), draw.Src, nil)
		return out
	}
	rgba, ok := src.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) {
		// A decoded JPEG is YCbCr: convert it once, in draw's fast path.
		rgba = image.NewRGBA(image.Rect(0, 0, sw, sh))
		draw.Draw(rgba, rgba.Rect, src, b.Min, draw.Src)
	}
	for dy := range h {
		ry0, ry1 := dy*rh/h, (dy+1)*rh/h
		for dx := range w {
			rx0, rx1 := dx*rw/w, (dx+1)*rw/w
			// The box in the turned photo, as a box of the source: see
			// camera.Rotate for where each source pixel goes.
			var x0, x1, y0, y1 int
			switch turns {
			case 0:
				x0, x1, y0, y1 = rx0, rx1, ry0, ry1
			case 1:
				x0, x1, y0, y1 = ry0, ry1, sh-rx1, sh-rx0
			case 2:
				x0, x1, y0, y1 = sw-rx1, sw-rx0, sh-ry1, sh-ry0
			case 3:
				x0, x1, y0, y1 = sw-ry1, sw-ry0, rx0, rx1
			}
			var r, g, bl uint32
			for y := y0; y < y1; y++ {
				row := rgba.Pix[y*rgba.Stride+4*x0 : y*rgba.Stride+4*x1]
				for i := 0; i < len(row); i += 4 {
					r += uint32(row[i])
					g += uint32(row[i+1])
					bl += uint32(row[i+2])
				}
			}
			n := uint32((x1 - x0) * (y1 - y0))
			o := out.PixOffset(dx, dy)
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = uint8((r+n/2)/n), uint8((g+n/2)/n), uint8((bl+n/2)/n), 0xff
		}
	}
	return out
}

// A layoutRow is one horizontal band of the content: part of Big (with the icon
// beside its first line), a body line, the entry box.
type layoutRow struct {
	height int
	ops    func(y int) []drawOp // the row's ops with its top at y
	space  bool                 // only space between rows
}

// layoutContent lays out the icon, Big and Lines in area, vertically
// centred. It tries the full sizes first and shrinks everything by steps
// until it fits; at the smallest sizes it leaves out the rows that do not fit
// and ends the last one shown with "…".
func (r *Renderer) layoutContent(s kiosk.Screen, area image.Rectangle) []drawOp {
	const steps = 6
	var rows []layoutRow
	for i := 0; i <= steps; i++ {
		// Scale from 1 down to 0.4 of the full sizes.
		k := 1 - 0.6*float64(i)/steps
		rows = r.contentRows(s, area, k)
		if totalHeight(rows) <= area.Dy() {
			break
		}
	}
	if totalHeight(rows) > area.Dy() {
		for len(rows) > 1 && (totalHeight(rows) > area.Dy() || rows[len(rows)-1].space) {
			rows = rows[:len(rows)-1]
		}
		rows[len(rows)-1] = r.markCut(rows[len(rows)-1])
	}
	y := area.Min.Y + max(0, (area.Dy()-totalHeight(rows))/2)
	var ops []drawOp
	for _, rw := range rows {
		if y+rw.height > area.Max.Y {
			break // a single row taller than the area: leave it out
		}
		ops = append(ops, rw.ops(y)...)
		y += rw.height
	}
	return ops
}

func totalHeight(rows []layoutRow) int {
	n := 0
	for _, rw := range rows {
		n += rw.height
	}
	return n
}

// markCut ends the last text of a row with "…", to show that rows were left
// out after it.
func (r *Renderer) markCut(rw layoutRow) layoutRow {
	inner := rw.ops
	rw.ops = func(y int) []drawOp {
		ops := inner(y)
		for i := len(ops) - 1; i >= 0; i-- {
			if t, ok := ops[i].(textOp); ok {
				f := r.faces.face(t.bold, t.px)
				t.s = ellipsizePixels(f, strings.TrimSuffix(t.s, "…")+"…", t.clip.Max.X-t.dot.X)
				ops[i] = t
				break
			}
		}
		return ops
	}
	return rw
}

// isFigure reports whether a body line is a figure that should be large: a
// countdown ("4:59", "3"), typed digits or a masked PIN.
func isFigure(l string) bool {
	if l == "" {
		return false
	}
	for _, c := range l {
		if !strings.ContainsRune("0123456789:•", c) {
			return false
		}
	}
	return true
}

// hasEntry reports whether the first line of the screen is what the worker
// is typing, drawn in a box even while it is empty.
func hasEntry(s kiosk.Screen) bool {
	return (s.Name == kiosk.ScreenPIN || s.Name == kiosk.ScreenSetupCode) && len(s.Lines) > 0
}

// contentRows builds the rows of the content at scale k of the full sizes.
func (r *Renderer) contentRows(s kiosk.Screen, area image.Rectangle, k float64) []layoutRow {
	m := r.m
	scale := func(px int) int { return max(m.minPx, int(float64(px)*k)) }
	bigPx, figurePx, bodyPx := scale(m.bigPx), scale(m.figurePx), scale(m.bodyPx)
	gap := max(2, int(float64(m.gap)*k))
	var rows []layoutRow

	// Big, with the icon beside its first line.
	bigF := r.faces.face(true, bigPx)
	iconSide := 0
	if s.Icon != kiosk.IconNone {
		iconSide = min(faceLineHeight(bigF)*9/10, area.Dx()/3)
	}
	textX := area.Min.X
	if iconSide > 0 {
		textX += iconSide + 2*gap
	}
	switch {
	case s.Big != "":
		px, lines := r.fitBlock(true, s.Big, bigPx, max(m.minPx, int(float64(bigPx)*m.minBigShare)), area.Max.X-textX)
		f := r.faces.face(true, px)
		lh := faceLineHeight(f)
		for i, l := range lines {
			rw := layoutRow{height: lh}
			withIcon := i == 0 && iconSide > 0
			if withIcon {
				rw.height = max(lh, iconSide)
			}
			rw.ops = func(y int) []drawOp {
				var ops []drawOp
				if withIcon {
					iy := y + (rw.height-iconSide)/2
					ops = append(ops, iconOp{icon: s.Icon, rect: image.Rect(area.Min.X, iy, area.Min.X+iconSide, iy+iconSide)})
				}
				box := image.Rect(textX, y, area.Max.X, y+rw.height)
				return append(ops, r.textIn(l, true, px, box, textX, colText))
			}
			rows = append(rows, rw)
		}
	case iconSide > 0:
		rows = append(rows, layoutRow{height: iconSide, ops: func(y int) []drawOp {
			return []drawOp{iconOp{icon: s.Icon, rect: image.Rect(area.Min.X, y, area.Min.X+iconSide, y+iconSide)}}
		}})
	}

	for i, l := range s.Lines {
		if len(rows) > 0 {
			rows = append(rows, spaceRow(gap))
		}
		switch {
		case i == 0 && hasEntry(s):
			rows = append(rows, r.entryRow(l, figurePx, area, gap))
		case l == "":
			// An empty line is deliberate spacing: half a line.
			rows = append(rows, spaceRow(faceLineHeight(r.faces.face(false, bodyPx))/2))
		case isFigure(l):
			px, text := r.fitLine(true, l, figurePx, m.minPx, area.Dx())
			rows = append(rows, r.textRow(text, true, px, area))
		default:
			px, lines := r.fitBlock(false, l, bodyPx, bodyPx, area.Dx())
			for j, wl := range lines {
				if j > 0 {
					rows = append(rows, spaceRow(max(1, gap/4)))
				}
				rows = append(rows, r.textRow(wl, false, px, area))
			}
		}
	}
	return rows
}

func spaceRow(h int) layoutRow {
	return layoutRow{height: h, ops: func(int) []drawOp { return nil }, space: true}
}

// textRow is a row of one line of text across the area.
func (r *Renderer) textRow(text string, bold bool, px int, area image.Rectangle) layoutRow {
	h := faceLineHeight(r.faces.face(bold, px))
	return layoutRow{height: h, ops: func(y int) []drawOp {
		return []drawOp{r.textIn(text, bold, px, image.Rect(area.Min.X, y, area.Max.X, y+h), area.Min.X, colText)}
	}}
}

// entryRow draws what the worker is typing in an outlined box, so an empty
// PIN still shows where the digits go.
func (r *Renderer) entryRow(text string, px int, area image.Rectangle, gap int) layoutRow {
	m := r.m
	pad := max(gap, 2*m.outline+1) // the text's line fits inside the outline
	w := min(area.Dx(), max(area.Dx()*2/3, 8*px))
	px, text = r.fitLine(true, text, px, m.minPx, w-2*pad-2*m.outline)
	h := faceLineHeight(r.faces.face(true, px)) + 2*pad
	return layoutRow{height: h, ops: func(y int) []drawOp {
		box := image.Rect(area.Min.X, y, area.Min.X+w, y+h)
		ops := []drawOp{fillOp{rect: box, col: colOutline, radius: pad, stroke: m.outline}}
		if text != "" {
			in := box.Inset(m.outline + pad/2)
			ops = append(ops, r.textIn(text, true, px, in, box.Min.X+m.outline+pad, colText))
		}
		return ops
	}}
}

// layoutHints lays the hints out as chips, "# OK" as a key cap "#" and the
// word "OK", left to right from the bottom of area up. It keeps them on one
// row while they fit at hintOneRowShare of the full size or more, and takes
// a second row otherwise. It returns the ops and the top of the hints.
func (r *Renderer) layoutHints(hints []string, area image.Rectangle) ([]drawOp, int) {
	m := r.m
	width := area.Dx()
	lo := m.minPx
	one := largestFitting(lo, m.hintPx, func(px int) bool { return len(r.flowHints(hints, px, width)) == 1 })
	px := one
	if one < int(float64(m.hintPx)*m.hintOneRowShare) {
		if two := largestFitting(lo, m.hintPx, func(px int) bool { return len(r.flowHints(hints, px, width)) <= 2 }); two > one {
			px = two
		}
	}
	if px < lo {
		px = lo // does not fit in two rows even at the smallest size: flow on
	}
	rows := r.flowHints(hints, px, width)
	chipH := r.chipHeight(px)
	gap := max(2, px/3)
	maxRows := max(1, (area.Dy()+gap)/(chipH+gap))
	if len(rows) > maxRows {
		rows = rows[:maxRows]
	}
	topY := area.Max.Y - len(rows)*chipH - (len(rows)-1)*gap
	var ops []drawOp
	for i, rw := range rows {
		y := topY + i*(chipH+gap)
		x := area.Min.X
		for _, c := range rw {
			ops = append(ops, r.chipOps(c, px, image.Rect(x, y, x+c.width, y+chipH))...)
			x += c.width + gap
		}
	}
	return ops, topY
}

// hintChip is one hint laid out at a size.
type hintChip struct {
	key, label  string // key is empty for a hint without a key
	keyW, width int
}

func (r *Renderer) chipHeight(px int) int {
	return faceLineHeight(r.faces.face(true, px)) + 2*max(2, px/4)
}

func (r *Renderer) makeChip(hint string, px, maxW int) hintChip {
	f := r.faces.face(true, px)
	padX := max(3, px/2)
	h := r.chipHeight(px)
	c := hintChip{label: hint}
	if k, rest, ok := strings.Cut(hint, " "); ok && utf8.RuneCountInString(k) == 1 && rest != "" {
		c.key, c.label = k, rest
		c.keyW = max(h-2*r.m.outline, inkWidth(f, k)+2*max(2, px/4))
	}
	labelW := inkWidth(f, c.label)
	c.width = c.keyW + padX + labelW + padX
	if c.width > maxW {
		c.label = ellipsizePixels(f, c.label, max(0, maxW-c.keyW-2*padX))
		c.width = min(maxW, c.keyW+padX+inkWidth(f, c.label)+padX)
	}
	return c
}

// flowHints puts the chips into rows of at most width pixels.
func (r *Renderer) flowHints(hints []string, px, width int) [][]hintChip {
	gap := max(2, px/3)
	var rows [][]hintChip
	x := 0
	for _, h := range hints {
		c := r.makeChip(h, px, width)
		if len(rows) == 0 || x+gap+c.width > width {
			rows = append(rows, nil)
			x = -gap
		}
		rows[len(rows)-1] = append(rows[len(rows)-1], c)
		x += gap + c.width
	}
	return rows
}

func (r *Renderer) chipOps(c hintChip, px int, box image.Rectangle) []drawOp {
	m := r.m
	rad := box.Dy() / 4
	ops := []drawOp{fillOp{rect: box, col: colOutline, radius: rad, stroke: m.outline}}
	padX := max(3, px/2)
	x := box.Min.X + padX
	if c.key != "" {
		kc := image.Rect(box.Min.X, box.Min.Y, box.Min.X+c.keyW, box.Max.Y)
		ops = append(ops, fillOp{rect: kc, col: colKeycap, radius: rad})
		f := r.faces.face(true, px)
		kx := kc.Min.X + (kc.Dx()-inkWidth(f, c.key))/2
		ops = append(ops, r.textIn(c.key, true, px, kc.Inset(m.outline), kx, colBackground))
		x = kc.Max.X + padX
	}
	if c.label != "" {
		ops = append(ops, r.textIn(c.label, true, px, image.Rect(x, box.Min.Y+m.outline, box.Max.X-m.outline, box.Max.Y-m.outline), x, colText))
	}
	return ops
}

// fitLine fits text on one line of width: the largestFitting size from hi down to
// lo at which it fits, or at lo ended with "…".
func (r *Renderer) fitLine(bold bool, text string, hi, lo, width int) (int, string) {
	px := largestFitting(lo, hi, func(px int) bool { return inkWidth(r.faces.face(bold, px), text) <= width })
	if px >= lo {
		return px, text
	}
	return lo, ellipsizePixels(r.faces.face(bold, lo), text, width)
}

// fitBlock fits text in width: on one line at the largestFitting size from hi down
// to lo, or wrapped into lines at lo.
func (r *Renderer) fitBlock(bold bool, text string, hi, lo, width int) (int, []string) {
	px := largestFitting(lo, hi, func(px int) bool { return inkWidth(r.faces.face(bold, px), text) <= width })
	if px >= lo {
		return px, []string{text}
	}
	return lo, wrapPixels(r.faces.face(bold, lo), text, width)
}

// largestFitting returns the largestFitting n in [lo, hi] for which fits(n) holds, or
// lo-1 if there is none. Text width grows with its size, so a binary search
// finds it; the answer is checked, since hinting can make the growth uneven.
func largestFitting(lo, hi int, fits func(int) bool) int {
	if hi < lo || !fits(lo) {
		return lo - 1
	}
	if fits(hi) {
		return hi
	}
	// fits(lo) holds and fits(hi) does not.
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// faceLineHeight is the height of a line of text in f: the ascent and descent,
// which hold the ink of every glyph the kiosk's languages use.
func faceLineHeight(f font.Face) int {
	met := f.Metrics()
	return met.Ascent.Ceil() + met.Descent.Ceil()
}

// inkWidth is how far text reaches to the right of its start: its advance,
// or its ink where a last glyph overhangs the advance.
func inkWidth(f font.Face, text string) int {
	b, adv := font.BoundString(f, text)
	return max(adv, b.Max.X).Ceil()
}

// ellipsizePixels shortens text until it and a "…" fit in width.
func ellipsizePixels(f font.Face, text string, width int) string {
	if inkWidth(f, text) <= width {
		return text
	}
	rs := []rune(strings.TrimSuffix(text, "…"))
	cut := func(n int) string { return strings.TrimRight(string(rs[:n]), " ") + "…" }
	// A longer prefix is wider: search for the longest that fits.
	if n := largestFitting(0, len(rs), func(n int) bool { return inkWidth(f, cut(n)) <= width }); n >= 0 {
		return cut(n)
	}
	return ""
}

// wrapPixels breaks text into lines of at most width pixels, between words
// where it can and inside a word too long for a line.
func wrapPixels(f font.Face, text string, width int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		try := w
		if cur != "" {
			try = cur + " " + w
		}
		if inkWidth(f, try) <= width {
			cur = try
			continue
		}
		if cur != "" {
			lines = append(lines, cur)
		}
		cur = w
		for inkWidth(f, cur) > width {
			rs := []rune(cur)
			// At least one rune a line, so the loop ends.
			n := max(1, largestFitting(1, len(rs), func(n int) bool { return inkWidth(f, string(rs[:n])) <= width }))
			lines = append(lines, string(rs[:n]))
			cur = string(rs[n:])
		}
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

// TestPattern returns a width×height test picture for checking a display
// (siteclockd hwcheck): eight colour bars named in their colours, so swapped
// red and blue show at once; a grey ramp, which shows banding on a 16-bit
// screen; a grid of squares, which shows stretching; the size in the middle
// of the grid; and a one-pixel white frame, which shows whether the edges
// are cut off.
func TestPattern(width, height int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	if width <= 0 || height <= 0 {
		return img
	}
	fill := func(r image.Rectangle, c color.RGBA) {
		draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
	}
	fill(img.Rect, color.RGBA{0, 0, 0, 255})
	var faces faceCache
	if fs, err := loadFonts(); err == nil {
		faces.fonts = fs
	}
	label := func(text string, px int, box image.Rectangle, c color.RGBA) {
		if faces.fonts == nil || px < 6 {
			return // the picture is still useful without words
		}
		f := faces.face(true, px)
		w := inkWidth(f, text)
		if w > box.Dx() {
			return
		}
		dot := image.Pt(box.Min.X+(box.Dx()-w)/2, box.Min.Y+(box.Dy()-faceLineHeight(f))/2+f.Metrics().Ascent.Ceil())
		d := font.Drawer{Dst: img.SubImage(box).(*image.RGBA), Src: image.NewUniform(c), Face: f, Dot: fixed.P(dot.X, dot.Y)}
		d.DrawString(text)
	}

	barsEnd, rampEnd := height*6/10, height*8/10
	bars := []struct {
		name string
		c    color.RGBA
	}{
		{"white", color.RGBA{255, 255, 255, 255}}, {"yellow", color.RGBA{255, 255, 0, 255}},
		{"cyan", color.RGBA{0, 255, 255, 255}}, {"green", color.RGBA{0, 255, 0, 255}},
		{"magenta", color.RGBA{255, 0, 255, 255}}, {"red", color.RGBA{255, 0, 0, 255}},
		{"blue", color.RGBA{0, 0, 255, 255}}, {"black", color.RGBA{0, 0, 0, 255}},
	}
	labelPx := min(width/8/5, height/16)
	for i, b := range bars {
		r := image.Rect(width*i/8, 0, width*(i+1)/8, barsEnd)
		fill(r, b.c)
		text := color.RGBA{0, 0, 0, 255}
		if 30*int(b.c.R)+59*int(b.c.G)+11*int(b.c.B) < 128*100 { // dark: white words
			text = color.RGBA{255, 255, 255, 255}
		}
		label(b.name, labelPx, image.Rect(r.Min.X, barsEnd*3/4, r.Max.X, barsEnd), text)
	}
	for x := range width {
		g := uint8(x * 255 / max(1, width-1))
		fill(image.Rect(x, barsEnd, x+1, rampEnd), color.RGBA{g, g, g, 255})
	}
	white := color.RGBA{255, 255, 255, 255}
	cell := max(4, (height-rampEnd)/4)
	for x := 0; x < width; x += cell {
		fill(image.Rect(x, rampEnd, x+1, height), white)
	}
	for y := rampEnd; y < height; y += cell {
		fill(image.Rect(0, y, width, y+1), white)
	}
	size := fmt.Sprintf(" %d×%d ", width, height)
	if faces.fonts != nil {
		px := max(6, cell*2/3)
		f := faces.face(true, px)
		w, h := inkWidth(f, size), faceLineHeight(f)
		box := image.Rect((width-w)/2, rampEnd+(height-rampEnd-h)/2, (width+w)/2, rampEnd+(height-rampEnd+h)/2)
		fill(box, color.RGBA{0, 0, 0, 255})
		label(size, px, box, white)
	}
	fill(image.Rect(0, 0, width, 1), white)
	fill(image.Rect(0, height-1, width, height), white)
	fill(image.Rect(0, 0, 1, height), white)
	fill(image.Rect(width-1, 0, width, height), white)
	return img
}
