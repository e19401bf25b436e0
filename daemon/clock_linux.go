package daemon

import "golang.org/x/sys/unix"

// ClockSynced reports whether the kernel considers the system clock
// synchronised: adjtimex(2) answers TIME_ERROR, with STA_UNSYNC set, until
// a time daemon (systemd-timesyncd, chrony, ntpd) has disciplined it. A
// Raspberry Pi that booted without network, or whose time was set by hand
// or by fake-hwclock, is not synchronised.
func ClockSynced() bool {
	var tx unix.Timex // Modes 0: read only
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
