//go:build !linux

package device

// keepStdin: the periph bug it works around is in Linux code only.
func keepStdin() (restore func()) { return func() {} }
