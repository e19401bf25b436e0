// Package firmware is the software a kiosk runs: its version today, and the
// signed updates that replace it (a later step).
package firmware

// Version is the running build's version, stamped at link time:
//
//	go build -ldflags "-X github.com/siteclock/siteclock/firmware.Version=1.2.3"
var Version = "dev"
