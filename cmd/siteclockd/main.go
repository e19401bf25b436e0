// Command siteclockd is the siteclock kiosk daemon: it reads the keypad,
// takes FaceFront photos, shows the kiosk screens and commits every punch
// durably to the local queue.
package main

import (
	"errors"
	"fmt"
	"os"
)

// brokenBuild is set, at link time and only by the update tests, to make
// a release that fails its health check: "exit" stops before it reports
// ready, "hang" reports ready and then stops its watchdog pings, as a
// hung main loop would. Empty in every real build.
var brokenBuild string

func main() {
	err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	var code exitStatus
	if errors.As(err, &code) {
		os.Exit(int(code))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "siteclockd:", err)
		os.Exit(1)
	}
}
