package uplink

import (
	"time"

	"github.com/siteclock/siteclock/queue"
)

// recordAnchor keeps the server's time from a check-in's answer against
// this boot's clock, in the queue: the kiosk's punches of this boot are
// then flagged as anchored (the back office, which keeps its own side of
// the pairing, can place them by the boot clock), and a wall mark that a
// clock running ahead left in the future comes down (queue.RecordAnchor).
// A failure only costs the flag, so it is logged and the round goes on.
func (c *Client) recordAnchor(server time.Time) {
	if server.IsZero() {
		return // an answer without the server's time anchors nothing
	}
	a := queue.Anchor{BootID: c.bootID(), ServerTime: server, BootTime: c.bootTime(), DeviceTime: c.now()}
	if err := c.q.RecordAnchor(a); err != nil {
		c.log.Warn("recording the server's time against the boot clock failed; punches of this boot are not flagged as anchored", "err", err)
	}
}
