package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/siteclock/siteclock/device"
	"github.com/siteclock/siteclock/firmware"
	"github.com/siteclock/siteclock/kiosk"
)

// DefaultConfigPath is where siteclockd looks for its configuration when
// -config is not given. A missing file there means the defaults.
const DefaultConfigPath = "/etc/siteclock/siteclockd.toml"

// config is the daemon's configuration file:
//
//	state_dir = "/var/lib/siteclock"
//	log_level = "info"           # debug, info, warn, error
//	[input]
//	driver = "terminal"          # terminal (keys typed in a terminal), stdin (one character a key),
//	                             # matrix (a keypad on GPIO), none (only the devices below)
//	rows = ["GPIO5", "GPIO6", "GPIO13", "GPIO19"]   # matrix: the row lines, top to bottom
//	cols = ["GPIO12", "GPIO16", "GPIO20"]           # matrix: the column lines, left to right
//	layout = []                  # matrix: one string a row; default the 3x4 or 4x4 keypad's
//	debounce = "20ms"            # matrix and buttons
//	evdev = []                   # USB keypads: /dev/input/by-id/...-event-kbd
//	badge = ""                   # a USB badge reader: /dev/input/by-id/...-event-kbd
//	[gpio]                       # buttons, status LED and buzzer: GPIO line names, "" for none
//	in = ""
//	out = ""
//	clock_for = ""
//	lang = ""
//	led = ""
//	led_active_low = false       # true: the LED lights while the line is low
//	buzzer = ""
//	buzzer_active_low = false    # true for "low level trigger" buzzer modules""
//	[display]
//	driver = "terminal"          # terminal (drawn for a person), text (plain text screens),
//	                             # framebuffer, ssd1306 (OLED on I2C), hd44780 (character LCD on I2C)
//	device = "/dev/fb0"          # framebuffer
//	console = "/dev/tty0"        # framebuffer: the console put into graphics mode ("none" to leave it)
//	i2c_bus = ""                 # ssd1306, hd44780: the I2C bus ("" the first, or "1" for /dev/i2c-1)
//	i2c_addr = 0                 # ssd1306, hd44780: the address (default 0x3c and 0x27)
//	lcd_cols = 20                # hd44780: 16 or 20
//	lcd_rows = 4                 # hd44780: 2 or 4
//	[camera]
//	driver = "sim"               # sim (generated test image), v4l2 (a USB UVC webcam), none
//	device = "/dev/video0"       # v4l2
//	width = 640                  # v4l2: the photo size asked of the camera
//	height = 480
//	sim_fault = ""               # sim only: "", "none", "permission", "unplugged"
//	[server]
//	url = ""                     # the back office, e.g. https://office.example.com; "" for none
//	nickname = ""                # this kiosk's name on the Devices page (default: host name)
//	[update]
//	release_keys = []            # public release keys (`siteclockd release keygen` prints one);
//	                             # none: updates the office offers are refused
//	ready_timeout = "2m"         # a new version must report ready within this
//	probation = "2m"             # and then stay healthy this long, or the previous one is put back
//	quiet = "30s"                # an update installs once no one touched the kiosk for this long
type config struct {
	StateDir string      `toml:"state_dir"`
	LogLevel string      `toml:"log_level"`
	LogFile  string      `toml:"log_file"`
	Input    inputConfig `toml:"input"`
	GPIO     gpioConfig  `toml:"gpio"`
	Display  struct {
		Driver  string `toml:"driver"`
		Device  string `toml:"device"`
		Console string `toml:"console"`
		I2CBus  string `toml:"i2c_bus"`
		I2CAddr int    `toml:"i2c_addr"`
		LCDCols int    `toml:"lcd_cols"`
		LCDRows int    `toml:"lcd_rows"`
	} `toml:"display"`
	Camera struct {
		Driver   string `toml:"driver"`
		Device   string `toml:"device"`
		Width    int    `toml:"width"`
		Height   int    `toml:"height"`
		SimFault string `toml:"sim_fault"`
	} `toml:"camera"`
	Server struct {
		URL      string `toml:"url"`
		Nickname string `toml:"nickname"`
	} `toml:"server"`
	Update struct {
		ReleaseKeys  []string `toml:"release_keys"`
		ReadyTimeout string   `toml:"ready_timeout"`
		Probation    string   `toml:"probation"`
		Quiet        string   `toml:"quiet"`
	} `toml:"update"`
}

type inputConfig struct {
	Driver   string   `toml:"driver"`
	Rows     []string `toml:"rows"`
	Cols     []string `toml:"cols"`
	Layout   []string `toml:"layout"`
	Debounce string   `toml:"debounce"`
	Evdev    []string `toml:"evdev"`
	Badge    string   `toml:"badge"`
}

type gpioConfig struct {
	In              string `toml:"in"`
	Out             string `toml:"out"`
	ClockFor        string `toml:"clock_for"`
	Lang            string `toml:"lang"`
	LED             string `toml:"led"`
	LEDActiveLow    bool   `toml:"led_active_low"`
	Buzzer          string `toml:"buzzer"`
	BuzzerActiveLow bool   `toml:"buzzer_active_low"`
}

func defaultConfig() config {
	var c config
	c.StateDir = "/var/lib/siteclock"
	c.LogLevel = "info"
	c.Input.Driver = "terminal"
	c.Input.Debounce = "20ms"
	c.Display.Driver = "terminal"
	c.Display.Device = "/dev/fb0"
	c.Display.Console = "/dev/tty0"
	c.Display.LCDCols, c.Display.LCDRows = 20, 4
	c.Camera.Driver = "sim"
	c.Camera.Device = "/dev/video0"
	c.Camera.Width, c.Camera.Height = 640, 480
	c.Update.ReadyTimeout, c.Update.Probation, c.Update.Quiet = "2m", "2m", "30s"
	return c
}

// loadConfig reads path over the defaults. explicit says the user named
// the file, so it must exist.
func loadConfig(path string, explicit bool) (config, error) {
	c := defaultConfig()
	md, err := toml.DecodeFile(path, &c)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return c, nil
	case errors.Is(err, fs.ErrNotExist):
		return c, fmt.Errorf("config %s does not exist; give an existing file or leave -config out for the defaults", path)
	case err != nil:
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return c, fmt.Errorf("config %s: line %d: %s; fix the file (nothing was started)", path, pe.Position.Line, pe.Message)
		}
		return c, fmt.Errorf("config %s: %v; fix the file (nothing was started)", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown setting %s; check the spelling (see the README)", path, strings.Join(keys, ", "))
	}
	return c, c.validate(path)
}

func (c config) validate(path string) error {
	bad := func(what, val, want string) error {
		return fmt.Errorf("config %s: %s %q is not one of %s", path, what, val, want)
	}
	switch c.Input.Driver {
	case "terminal", "stdin", "none":
	case "matrix":
		if len(c.Input.Rows) == 0 || len(c.Input.Cols) == 0 {
			return fmt.Errorf("config %s: input.driver is matrix but input.rows or input.cols is empty; name the keypad's GPIO lines (see the README's pinout)", path)
		}
		if _, err := c.keypadLayout(); err != nil {
			return fmt.Errorf("config %s: %v", path, err)
		}
	default:
		return bad("input.driver", c.Input.Driver, "terminal, stdin, matrix, none")
	}
	if d, err := time.ParseDuration(c.Input.Debounce); err != nil || d < 0 || d > time.Second {
		return fmt.Errorf("config %s: input.debounce %q is not a duration from 0 to 1s, such as \"20ms\"", path, c.Input.Debounce)
	}
	if err := c.checkLines(); err != nil {
		return fmt.Errorf("config %s: %v", path, err)
	}
	switch c.Display.Driver {
	case "terminal", "text", "framebuffer", "ssd1306":
	case "hd44780":
		if !(c.Display.LCDCols == 16 && c.Display.LCDRows == 2 || c.Display.LCDCols == 20 && c.Display.LCDRows == 4) {
			return fmt.Errorf("config %s: display.lcd_cols and lcd_rows are %dx%d; the character LCDs supported are 16x2 and 20x4", path, c.Display.LCDCols, c.Display.LCDRows)
		}
	default:
		return bad("display.driver", c.Display.Driver, "terminal, text, framebuffer, ssd1306, hd44780")
	}
	if c.Display.I2CAddr < 0 || c.Display.I2CAddr > 0x7f {
		return fmt.Errorf("config %s: display.i2c_addr %#x is not a 7-bit I2C address (0x3c for most SSD1306, 0x27 or 0x3f for LCD backpacks)", path, c.Display.I2CAddr)
	}
	switch c.Camera.Driver {
	case "sim", "none", "v4l2":
	default:
		return bad("camera.driver", c.Camera.Driver, "sim, v4l2, none")
	}
	if c.Camera.Width < 64 || c.Camera.Height < 48 || c.Camera.Width > 4096 || c.Camera.Height > 4096 {
		return fmt.Errorf("config %s: camera.width and height are %dx%d; ask for a size from 64x48 to 4096x4096, such as 640x480", path, c.Camera.Width, c.Camera.Height)
	}
	switch c.Camera.SimFault {
	case "", "none", "permission", "unplugged":
	default:
		return bad("camera.sim_fault", c.Camera.SimFault, `"", none, permission, unplugged`)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("config %s: %v", path, err)
	}
	if _, err := c.releaseKeys(); err != nil {
		return fmt.Errorf("config %s: update.release_keys: %v", path, err)
	}
	for _, d := range []struct{ name, val string }{{"update.ready_timeout", c.Update.ReadyTimeout}, {"update.probation", c.Update.Probation}, {"update.quiet", c.Update.Quiet}} {
		if v, err := time.ParseDuration(d.val); err != nil || v < time.Second || v > time.Hour {
			return fmt.Errorf("config %s: %s %q is not a duration from 1s to 1h, such as \"2m\"", path, d.name, d.val)
		}
	}
	if c.StateDir == "" {
		return fmt.Errorf("config %s: state_dir is empty; name the folder for the punch queue", path)
	}
	return nil
}

// releaseKeys are the public release keys updates must be signed with.
func (c config) releaseKeys() ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, s := range c.Update.ReleaseKeys {
		k, err := firmware.ParsePublicKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// updateTimes are the probation's limits and the quiet time before an
// install (validated by loadConfig).
func (c config) updateTimes() (ready, probation, quiet time.Duration) {
	ready, _ = time.ParseDuration(c.Update.ReadyTimeout)
	probation, _ = time.ParseDuration(c.Update.Probation)
	quiet, _ = time.ParseDuration(c.Update.Quiet)
	return ready, probation, quiet
}

// keypadLayout is the matrix keypad's layout: as configured, or the 3x4
// or 4x4 keypad's for that many lines.
func (c config) keypadLayout() ([]string, error) {
	rows, cols := len(c.Input.Rows), len(c.Input.Cols)
	if len(c.Input.Layout) == 0 {
		switch {
		case rows == 4 && cols == 3:
			return device.Layout3x4, nil
		case rows == 4 && cols == 4:
			return device.Layout4x4, nil
		}
		return nil, fmt.Errorf("input.layout is not given, and the keypad is %dx%d (rows x columns), not 4x3 or 4x4; give one string a row", rows, cols)
	}
	if len(c.Input.Layout) != rows {
		return nil, fmt.Errorf("input.layout has %d rows, input.rows names %d lines", len(c.Input.Layout), rows)
	}
	for i, r := range c.Input.Layout {
		if n := utf8.RuneCountInString(r); n != cols {
			return nil, fmt.Errorf("input.layout row %d (%q) has %d keys, input.cols names %d lines", i+1, r, n, cols)
		}
	}
	return c.Input.Layout, nil
}

// buttonLine is a push button: the key it sends and its GPIO line.
type buttonLine struct {
	key  kiosk.Key
	line string
}

// buttons are the configured push buttons (those given a line).
func (c config) buttons() []buttonLine {
	var out []buttonLine
	for _, b := range []buttonLine{{kiosk.KeyIn, c.GPIO.In}, {kiosk.KeyOut, c.GPIO.Out}, {kiosk.KeyClockFor, c.GPIO.ClockFor}, {kiosk.KeyLang, c.GPIO.Lang}} {
		if b.line != "" {
			out = append(out, b)
		}
	}
	return out
}

// checkLines checks that no GPIO line has two jobs.
func (c config) checkLines() error {
	seen := map[string]string{}
	use := func(what, line string) error {
		if line == "" {
			return nil
		}
		line = strings.ToUpper(line) // OpenPin takes "gpio17" for "GPIO17"

		if other, ok := seen[line]; ok {
			return fmt.Errorf("%s and %s are both %s; give each its own GPIO line", other, what, line)
		}
		seen[line] = what
		return nil
	}
	if c.Input.Driver == "matrix" {
		for i, l := range c.Input.Rows {
			if err := use(fmt.Sprintf("input.rows[%d]", i), l); err != nil {
				return err
			}
		}
		for i, l := range c.Input.Cols {
			if err := use(fmt.Sprintf("input.cols[%d]", i), l); err != nil {
				return err
			}
		}
	}
	g := c.GPIO
	for _, p := range []struct{ what, line string }{
		{"gpio.in", g.In}, {"gpio.out", g.Out}, {"gpio.clock_for", g.ClockFor}, {"gpio.lang", g.Lang},
		{"gpio.led", g.LED}, {"gpio.buzzer", g.Buzzer},
	} {
		if err := use(p.what, p.line); err != nil {
			return err
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log_level %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}
