// Package sms sends a company's kiosk setup code to a technician's phone as
// a text message: the message itself, US phone number checks, and two
// Senders — a JSON webhook for a real SMS gateway and a logger for the demo,
// which has none.
package sms

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Sender sends one text message. to is an E.164 number, as NormalizeUS
// returns it.
type Sender interface {
	Send(ctx context.Context, to, body string) error
}

// SetupCodeMessage is the text sent: "siteclock setup code for COMPANY:
// 12345678 (valid until Mon Jan 2). Type it on the new kiosk's Enter setup
// code screen." The date is until's date in until's location, so pass it in
// the company's time zone.
func SetupCodeMessage(company, code string, until time.Time) string {
	return fmt.Sprintf("siteclock setup code for %s: %s (valid until %s). Type it on the new kiosk's Enter setup code screen.",
		company, code, until.Format("Mon Jan 2"))
}

// Log "sends" by writing the message to a logger (the demo has no SMS
// gateway); the number is logged with all but the last 4 digits masked.
//
// The body, and so the setup code, is logged in full: reading it from the
// log is how the demo's technician gets it. Do not use Log where a real
// gateway is configured.
type Log struct{ Logger *slog.Logger } // nil Logger: slog.Default()

// Send logs the message and never fails.
func (l Log) Send(ctx context.Context, to, body string) error {
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "sms: no SMS gateway configured; logging the text message instead of sending it",
		"to", Mask(to), "body", body)
	return nil
}

// Mask replaces every digit of number but the last 4 with '*', keeping the
// rest as it is: "+15551234567" becomes "+*******4567". Use it wherever a
// phone number is logged or put in an error.
func Mask(number string) string {
	b := []byte(number)
	keep := 4
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < '0' || b[i] > '9' {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		b[i] = '*'
	}
	return string(b)
}
