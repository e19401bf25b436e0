// Command siteclockd is the siteclock kiosk daemon: it reads the keypad,
// takes FaceFront photos, shows the kiosk screens and commits every punch
// durably to the local queue.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "siteclockd:", err)
		os.Exit(1)
	}
}
