// Command siteclock-server is the siteclock back office: it keeps the
// company's employees, roles and device settings, enrolls kiosks with the
// company setup code, and receives their punches and photos over the device
// API (docs/protocol.md). Data lives in one folder: office.db, photos/ and
// photo-key, the key kiosks seal their photos to.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "siteclock-server:", err)
		os.Exit(1)
	}
}
