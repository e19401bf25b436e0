package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultConfigPath is where siteclockd looks for its configuration when
// -config is not given. A missing file there means the defaults.
const DefaultConfigPath = "/etc/siteclock/siteclockd.toml"

// config is the daemon's configuration file:
//
//	state_dir = "/var/lib/siteclock"
//	log_level = "info"           # debug, info, warn, error
//	[input]
//	driver = "terminal"          # terminal (keys typed in a terminal), stdin (one character a key)
//	[display]
//	driver = "terminal"          # terminal (drawn for a person), text (plain text screens)
//	[camera]
//	driver = "sim"               # sim (generated test image), none
//	sim_fault = ""               # sim only: "", "none", "permission", "unplugged"
//	[server]
//	url = ""                     # the back office, e.g. https://office.example.com; "" for none
//	nickname = ""                # this kiosk's name on the Devices page (default: host name)
type config struct {
	StateDir string `toml:"state_dir"`
	LogLevel string `toml:"log_level"`
	LogFile  string `toml:"log_file"`
	Input    struct {
		Driver string `toml:"driver"`
	} `toml:"input"`
	Display struct {
		Driver string `toml:"driver"`
	} `toml:"display"`
	Camera struct {
		Driver   string `toml:"driver"`
		SimFault string `toml:"sim_fault"`
	} `toml:"camera"`
	Server struct {
		URL      string `toml:"url"`
		Nickname string `toml:"nickname"`
	} `toml:"server"`
}

func defaultConfig() config {
	var c config
	c.StateDir = "/var/lib/siteclock"
	c.LogLevel = "info"
	c.Input.Driver = "terminal"
	c.Display.Driver = "terminal"
	c.Camera.Driver = "sim"
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
	case "terminal", "stdin":
	default:
		return bad("input.driver", c.Input.Driver, "terminal, stdin")
	}
	switch c.Display.Driver {
	case "terminal", "text":
	default:
		return bad("display.driver", c.Display.Driver, "terminal, text")
	}
	switch c.Camera.Driver {
	case "sim", "none":
	default:
		return bad("camera.driver", c.Camera.Driver, "sim, none (V4L2 cameras come with the hardware drivers)")
	}
	switch c.Camera.SimFault {
	case "", "none", "permission", "unplugged":
	default:
		return bad("camera.sim_fault", c.Camera.SimFault, `"", none, permission, unplugged`)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("config %s: %v", path, err)
	}
	if c.StateDir == "" {
		return fmt.Errorf("config %s: state_dir is empty; name the folder for the punch queue", path)
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
