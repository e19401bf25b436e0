package display

import (
	"fmt"
	"image"
	"image/color"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"github.com/siteclock/siteclock/kiosk"
)

// The OLED panel's size in pixels: the common 0.96" SSD1306 module.
const (
	OLEDWidth  = 128
	OLEDHeight = 64
)

// OLEDAddress is the I2C address of most SSD1306 modules; the other one a
// module can be strapped to is 0x3d.
const OLEDAddress uint16 = 0x3c

// i2cAdvice ends every I2C bus error of the OLED and the LCD: the same four
// things are wrong almost every time, and the person reading the log is
// at the kiosk with a screwdriver, not a debugger.
const i2cAdvice = "check the display's I2C address (i2cdetect -y 1 lists it), its wiring (SDA, SCL, power, ground), " +
	"that I2C is enabled (raspi-config, or dtparam=i2c_arm=on in config.txt) " +
	"and that the service user is in group i2c"

// OLED shows the kiosk's screens on a 128×64 monochrome SSD1306 OLED on an
// I2C bus. It draws the layout of OLEDImage: Title, Big with the Icon
// beside it, one body line and Status.
//
// It never shows the photo: a face on 128×64 one-bit pixels is a smudge
// that proves nothing to the worker and costs a whole-panel redraw, so the
// preview screen shows its text only.
//
// Redrawing goes through the ssd1306 driver, which sends only the 8-pixel
// pages and the columns that changed: the idle clock going from 7:02 to
// 7:03 costs a few small transactions, not the 1 KiB frame.
//
// An OLED is used by one goroutine, the kiosk runner; it is not safe for
// concurrent use.
type OLED struct {
	bus  i2c.Bus
	addr uint16
	// dev is nil after a bus error: the panel may have lost power or its
	// settings with it, and the driver's copy of what the panel shows is
	// no longer true. The next Show starts it again and redraws it all.
	dev  *ssd1306.Dev
	last lastShown
}

// NewOLED starts the SSD1306 at addr (0 means OLEDAddress) on bus and
// returns it. The panel is on from here and shows whatever its memory
// holds (noise, after power-up) until the first Show, which redraws all
// of it.
func NewOLED(bus i2c.Bus, addr uint16) (*OLED, error) {
	if addr == 0 {
		addr = OLEDAddress
	}
	if addr != 0x3c && addr != 0x3d {
		return nil, fmt.Errorf("display: oled: address %#x: an SSD1306 answers at 0x3c or 0x3d; check the address setting", addr)
	}
	o := &OLED{bus: bus, addr: addr}
	if err := o.start(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *OLED) start() error {
	// ssd1306.NewI2C always talks to 0x3c; readdress moves it to the
	// module's real address.
	dev, err := ssd1306.NewI2C(readdress{o.bus, 0x3c, o.addr}, &ssd1306.DefaultOpts)
	if err != nil {
		return fmt.Errorf("display: oled: start SSD1306 at %#x on %s: %w; %s", o.addr, o.bus, err, i2cAdvice)
	}
	o.dev = dev
	return nil
}

// Show draws s, unless it is the screen shown last: the runner shows the
// screen again on every clock tick.
func (o *OLED) Show(s kiosk.Screen) error {
	if o.last.same(s) {
		return nil
	}
	if o.dev == nil {
		if err := o.start(); err != nil {
			return err
		}
	}
	img := OLEDImage(s)
	if err := o.dev.Draw(img.Bounds(), img, image.Point{}); err != nil {
		o.dev = nil
		return fmt.Errorf("display: oled: show screen %q at %#x on %s: %w; %s", s.Name, o.addr, o.bus, err, i2cAdvice)
	}
	o.last.set(s)
	return nil
}

// Close turns the panel off, so that a kiosk whose daemon stopped does not
// go on showing a clock that no longer moves. It does not close the bus,
// which belongs to the caller.
func (o *OLED) Close() error {
	if o.dev == nil {
		if err := o.start(); err != nil {
			return err
		}
	}
	if err := o.dev.Halt(); err != nil {
		return fmt.Errorf("display: oled: turn off at %#x on %s: %w; %s", o.addr, o.bus, err, i2cAdvice)
	}
	o.last = lastShown{}
	return nil
}

// readdress is a bus on which transactions a driver sends to address from
// go to address to instead.
type readdress struct {
	i2c.Bus
	from, to uint16
}

func (b readdress) Tx(addr uint16, w, r []byte) error {
	if addr == b.from {
		addr = b.to
	}
	return b.Bus.Tx(addr, w, r)
}

// The OLED layout, top to bottom, in pixel rows. Each band is the clip of
// what is drawn in it, so a tall glyph cannot reach into its neighbour.
var (
	oledTitleBand  = image.Rect(0, 0, OLEDWidth, 13)
	oledBigBand    = image.Rect(0, 13, OLEDWidth, 39)
	oledLineBand   = image.Rect(0, 39, OLEDWidth, 52)
	oledStatusBand = image.Rect(0, 52, OLEDWidth, OLEDHeight)
)

// oledBigSizes are the sizes, in pixels, tried in turn for Big: the
// largest that fits the width wins. Go Bold stays crisp without
// anti-aliasing from about 14 pixels up.
var oledBigSizes = []float64{22, 18, 15}

// oledBigWrapSize is the size of Big when it takes two lines: two lines
// of it fill the band.
const oledBigWrapSize = 13

// oledSmallSize is the size of every other text: Go Medium at 12 pixels
// is the smallest that keeps accents and stems whole when thresholded.
const oledSmallSize = 12

// oledFonts parses the two Go fonts once. Faces are made per image: an
// opentype.Face is not safe for concurrent use, and OLEDImage is a pure
// function that tests call in parallel.
var oledFonts = sync.OnceValues(func() (fonts [2]*opentype.Font, err error) {
	for i, ttf := range [][]byte{gomedium.TTF, gobold.TTF} {
		if fonts[i], err = opentype.Parse(ttf); err != nil {
			return fonts, err
		}
	}
	return fonts, nil
})

func oledFace(bold bool, size float64) font.Face {
	fonts, err := oledFonts()
	if err != nil {
		panic("display: oled: bundled Go font does not parse: " + err.Error())
	}
	f := fonts[0]
	if bold {
		f = fonts[1]
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		panic("display: oled: bundled Go font: " + err.Error())
	}
	return face
}

// OLEDImage lays out s for a 128×64 one-bit panel:
//
//	Title, small, centred
//	Icon (16×16) and Big, in bold as large as fits, centred; on two
//	lines when even the smallest single-line size is too wide
//	the first non-empty line of Lines, or the Hints if it has none
//	Status, small
//
// Text that does not fit is cut with an ellipsis. Text is rendered
// without anti-aliasing (thresholded), so each pixel is plainly on or off.
// Photo and the other Lines are not shown.
func OLEDImage(s kiosk.Screen) *image1bit.VerticalLSB {
	// Glyphs are drawn as coverage into an alpha mask, then thresholded:
	// a grey edge pixel on a one-bit panel would be either a blob or a
	// gap, and the threshold decides it the same way every time.
	mask := image.NewAlpha(image.Rect(0, 0, OLEDWidth, OLEDHeight))
	small := oledFace(false, oledSmallSize)
	defer small.Close()

	oledText(mask, oledTitleBand, small, s.Title, true)

	big := oledBigBand
	if icon, ok := oledIcons[s.Icon]; ok {
		top := big.Min.Y + (big.Dy()-oledIconSize)/2
		oledDrawIcon(mask, image.Pt(2, top), icon)
		big.Min.X = 2 + oledIconSize + 2
	}
	oledBig(mask, big, s.Big)

	line := ""
	for _, l := range s.Lines {
		if strings.TrimSpace(l) != "" {
			line = l
			break
		}
	}
	if line == "" {
		line = strings.Join(s.Hints, "  ")
	}
	if n := utf8.RuneCountInString(line); n > 0 && strings.Count(line, "•") == n && n*oledDotPitch <= OLEDWidth {
		oledDots(mask, oledLineBand, n)
	} else {
		oledText(mask, oledLineBand, small, line, true)
	}
	oledText(mask, oledStatusBand, small, s.Status, false)

	img := image1bit.NewVerticalLSB(mask.Rect)
	for y := range OLEDHeight {
		for x := range OLEDWidth {
			if mask.AlphaAt(x, y).A >= 0x80 {
				img.SetBit(x, y, image1bit.On)
			}
		}
	}
	return img
}

// oledBig draws Big in the largest size that fits band's width on one
// line, or else on two lines of the smallest size.
func oledBig(mask *image.Alpha, band image.Rectangle, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	for _, size := range oledBigSizes {
		face := oledFace(true, size)
		fits := font.MeasureString(face, text).Ceil() <= band.Dx()
		if fits {
			oledText(mask, band, face, text, true)
		}
		face.Close()
		if fits {
			return
		}
	}
	face := oledFace(true, oledBigWrapSize)
	defer face.Close()
	first, second := twoLineSplit(text, band.Dx(), func(s string) int { return font.MeasureString(face, s).Ceil() })
	half := band.Dy() / 2
	oledText(mask, image.Rect(band.Min.X, band.Min.Y, band.Max.X, band.Min.Y+half), face, first, true)
	oledText(mask, image.Rect(band.Min.X, band.Min.Y+half, band.Max.X, band.Max.Y), face, second, true)
}

// twoLineSplit breaks text in two lines at a space, measuring with width.
// It keeps the longer line near its shortest, and among the breaks within
// a tenth of that picks the last: "Clocked IN 7:02 AM" reads "Clocked IN"
// over "7:02 AM", not "Clocked" over "IN 7:02 AM" nor "AM" alone. When no
// break lets both lines fit in limit, the first takes as many words as
// fit and the second is cut when drawn.
func twoLineSplit(text string, limit int, width func(string) int) (string, string) {
	words := strings.Fields(text)
	if len(words) < 2 {
		return text, ""
	}
	longer := make([]int, len(words)) // longer[i]: the longer line when breaking before word i
	shortest := -1
	for i := 1; i < len(words); i++ {
		longer[i] = max(width(strings.Join(words[:i], " ")), width(strings.Join(words[i:], " ")))
		if longer[i] <= limit && (shortest < 0 || longer[i] < shortest) {
			shortest = longer[i]
		}
	}
	best := 0
	for i := 1; i < len(words); i++ {
		if shortest >= 0 && longer[i] <= shortest+shortest/10 {
			best = i
		}
	}
	if best == 0 {
		best = 1
		for best+1 < len(words) && width(strings.Join(words[:best+1], " ")) <= limit {
			best++
		}
	}
	return strings.Join(words[:best], " "), strings.Join(words[best:], " ")
}

// oledText draws text on one line in band, cut with an ellipsis if it is
// too wide, centred or left-aligned, with its baseline placed so that
// capitals and descenders both fit the band's height.
func oledText(mask *image.Alpha, band image.Rectangle, face font.Face, text string, centre bool) {
	text = oledEllipsis(face, strings.TrimSpace(text), band.Dx())
	if text == "" {
		return
	}
	m := face.Metrics()
	// Centre the space from cap height to descent, not the font's whole
	// ascent: accents above capitals may be clipped, but the letters of
	// every language the kiosk speaks sit in the middle of the band.
	textH := m.CapHeight + m.Descent
	baseline := fixed.I(band.Min.Y) + (fixed.I(band.Dy())-textH)/2 + m.CapHeight
	x := fixed.I(band.Min.X)
	if centre {
		x += (fixed.I(band.Dx()) - font.MeasureString(face, text)) / 2
	}
	d := font.Drawer{
		Dst:  mask.SubImage(band).(*image.Alpha),
		Src:  image.Opaque,
		Face: face,
		Dot:  fixed.P(x.Floor(), baseline.Round()),
	}
	d.DrawString(text)
}

// oledEllipsis cuts text to fit width pixels, ending it with "…" if it had
// to be cut.
func oledEllipsis(face font.Face, text string, width int) string {
	if font.MeasureString(face, text).Ceil() <= width {
		return text
	}
	for text != "" {
		_, n := utf8.DecodeLastRuneInString(text)
		text = strings.TrimRight(text[:len(text)-n], " ")
		if font.MeasureString(face, text+"…").Ceil() <= width {
			return text + "…"
		}
	}
	return ""
}

// oledDotPitch is the distance between the centres of the dots of a
// masked PIN.
const oledDotPitch = 11

// oledDots draws n round dots centred in band: the masked PIN. At 12
// pixels "•" is a speck, and counting the digits typed is the one thing a
// worker reads on the PIN screen.
func oledDots(mask *image.Alpha, band image.Rectangle, n int) {
	cy := band.Min.Y + band.Dy()/2
	x0 := band.Min.X + (band.Dx()-n*oledDotPitch)/2 + oledDotPitch/2
	for i := range n {
		cx := x0 + i*oledDotPitch
		for dy := -3; dy <= 3; dy++ {
			for dx := -3; dx <= 3; dx++ {
				if dx*dx+dy*dy <= 10 {
					mask.SetAlpha(cx+dx, cy+dy, color.Alpha{A: 0xff})
				}
			}
		}
	}
}

// oledIconSize is the width and height of an icon in pixels.
const oledIconSize = 16

// oledIcons are drawn pixel by pixel: at 16×16 a symbol font's glyphs are
// thresholded into mush, and these six are all the kiosk needs.
var oledIcons = map[kiosk.Icon][oledIconSize]string{
	kiosk.IconSaved: {
		"................",
		"................",
		"..............##",
		".............###",
		"............###.",
		"...........###..",
		"..........###...",
		"##.......###....",
		"###.....###.....",
		".###...###......",
		"..###.###.......",
		"...#####........",
		"....###.........",
		".....#..........",
		"................",
		"................",
	},
	kiosk.IconError: {
		"................",
		".##..........##.",
		".###........###.",
		"..###......###..",
		"...###....###...",
		"....###..###....",
		".....######.....",
		"......####......",
		"......####......",
		".....######.....",
		"....###..###....",
		"...###....###...",
		"..###......###..",
		".###........###.",
		".##..........##.",
		"................",
	},
	kiosk.IconOffline: { // a cloud, struck through
		"#...............",
		".#..............",
		"..#...####......",
		"...#.#....#.....",
		"....#......#....",
		"...#.#.....###..",
		"..#...#.......#.",
		".#.....#.......#",
		"#.......#......#",
		"#........#.....#",
		".#........#...#.",
		"..#########.##..",
		"............#...",
		".............#..",
		"..............#.",
		"...............#",
	},
	kiosk.IconLocked: {
		"................",
		".....######.....",
		"....##....##....",
		"....#......#....",
		"....#......#....",
		"....#......#....",
		"..############..",
		"..############..",
		"..#####..#####..",
		"..####....####..",
		"..#####..#####..",
		"..######.#####..",
		"..######.#####..",
		"..############..",
		"..############..",
		"................",
	},
	kiosk.IconCamera: {
		"................",
		"................",
		".....#####......",
		"....#.....#.....",
		".###########....",
		"#...........###.",
		"#....####.....#.",
		"#...#....#....#.",
		"#..#......#...#.",
		"#..#......#...#.",
		"#..#......#...#.",
		"#...#....#....#.",
		"#....####.....#.",
		".#############..",
		"................",
		"................",
	},
	kiosk.IconWait: { // an hourglass
		"................",
		"..############..",
		"..############..",
		"...#........#...",
		"...##......##...",
		"....##....##....",
		".....##..##.....",
		"......####......",
		"......####......",
		".....##..##.....",
		"....##.##.##....",
		"...##.####.##...",
		"...#.######.#...",
		"..############..",
		"..############..",
		"................",
	},
}

func oledDrawIcon(mask *image.Alpha, at image.Point, icon [oledIconSize]string) {
	for y, row := range icon {
		for x := range len(row) {
			if row[x] == '#' {
				mask.Pix[mask.PixOffset(at.X+x, at.Y+y)] = 0xff
			}
		}
	}
}
