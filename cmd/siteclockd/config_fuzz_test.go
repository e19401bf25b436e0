package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds loadConfig any file: it loads or is refused with an
// error naming the file, never panics, and what loads is a configuration
// validate accepts, whose keypad layout (for a matrix keypad) and log
// level can be worked out. Seed corpus: testdata/fuzz/FuzzLoadConfig.
func FuzzLoadConfig(f *testing.F) {
	if b, err := os.ReadFile("../../demo/siteclockd.toml"); err == nil {
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "siteclockd.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(path, true)
		if err != nil {
			if !strings.Contains(err.Error(), "config "+path) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.validate(path); err != nil {
			t.Errorf("a loaded configuration fails validation: %v", err)
		}
		if c.Input.Driver == "matrix" {
			if _, err := c.keypadLayout(); err != nil {
				t.Errorf("a loaded matrix keypad has no layout: %v", err)
			}
		}
		if _, err := parseLevel(c.LogLevel); err != nil {
			t.Errorf("a loaded log level does not parse: %v", err)
		}
	})
}
