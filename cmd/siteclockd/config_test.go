package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/siteclock/siteclock/device"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "siteclockd.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A kiosk's hardware configuration as the README shows it loads, with
// the keypad layout chosen by its size.
func TestConfigHardware(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, `
[input]
driver = "matrix"
rows = ["GPIO5", "GPIO6", "GPIO13", "GPIO19"]
cols = ["GPIO12", "GPIO16", "GPIO20", "GPIO21"]
evdev = ["/dev/input/event3"]
badge = "/dev/input/event4"
[gpio]
in = "GPIO23"
out = "GPIO24"
led = "GPIO18"
buzzer = "GPIO22"
[display]
driver = "framebuffer"
[camera]
driver = "v4l2"
width = 1280
height = 720
`), true)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := cfg.keypadLayout(); err != nil || !reflect.DeepEqual(l, device.Layout4x4) {
		t.Errorf("layout of a 4x4 keypad = %q, %v", l, err)
	}
	if cfg.Display.Device != "/dev/fb0" || cfg.Display.Console != "/dev/tty0" || cfg.Camera.Device != "/dev/video0" ||
		cfg.Camera.Width != 1280 || cfg.Input.Debounce != "20ms" || cfg.Input.Badge != "/dev/input/event4" {
		t.Errorf("config = %+v", cfg)
	}
}

// Mistakes in the hardware settings are refused before anything starts,
// with what is wrong and what to do.
func TestConfigHardwareMistakes(t *testing.T) {
	tests := []struct{ body, want string }{
		{"[input]\ndriver = \"matrix\"\nrows = [\"GPIO5\"]", "input.rows or input.cols is empty"},
		{"[input]\ndriver = \"matrix\"\nrows = [\"GPIO5\", \"GPIO6\"]\ncols = [\"GPIO12\"]", "not 4x3 or 4x4; give one string a row"},
		{"[input]\ndriver = \"matrix\"\nrows = [\"GPIO5\", \"GPIO6\"]\ncols = [\"GPIO12\"]\nlayout = [\"1\", \"23\"]", `input.layout row 2 ("23") has 2 keys, input.cols names 1 lines`},
		{"[input]\ndriver = \"matrix\"\nrows = [\"GPIO5\"]\ncols = [\"GPIO12\"]\nlayout = [\"1\", \"2\"]", "input.layout has 2 rows, input.rows names 1"},
		{"[input]\ndriver = \"matrix\"\nrows = [\"GPIO5\", \"GPIO6\", \"GPIO13\", \"GPIO19\"]\ncols = [\"GPIO12\", \"GPIO16\", \"GPIO5\"]", "input.rows[0] and input.cols[2] are both GPIO5"},
		{"[input]\ndriver = \"none\"\n[gpio]\nin = \"GPIO23\"\nled = \"GPIO23\"", "gpio.in and gpio.led are both GPIO23"},
		{"[input]\ndriver = \"none\"\n[gpio]\nin = \"gpio23\"\nbuzzer = \"GPIO23\"", "gpio.in and gpio.buzzer are both GPIO23"},
		{"[input]\ndebounce = \"soon\"", `input.debounce "soon" is not a duration`},
		{"[input]\ndriver = \"gpio\"", `input.driver "gpio" is not one of terminal, stdin, matrix, none`},
		{"[display]\ndriver = \"hd44780\"\nlcd_cols = 40\nlcd_rows = 2", "are 40x2; the character LCDs supported are 16x2 and 20x4"},
		{"[display]\ndriver = \"ssd1306\"\ni2c_addr = 300", "is not a 7-bit I2C address"},
		{"[display]\ndriver = \"hdmi\"", "terminal, text, framebuffer, ssd1306, hd44780"},
		{"[camera]\ndriver = \"v4l2\"\nwidth = 10", "camera.width and height are 10x480"},
		{"[gpio]\nbeeper = \"GPIO22\"", "unknown setting gpio.beeper"},
	}
	for _, tt := range tests {
		_, err := loadConfig(writeConfig(t, tt.body), true)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config:\n%s\nerr = %v\nwant it to say %q", tt.body, err, tt.want)
		}
	}
}
