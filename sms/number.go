package sms

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// howToType ends every NormalizeUS error: what to type instead.
const howToType = "type the 10-digit US number with its area code, like (555) 234-5678 (only US numbers are supported)"

// NormalizeUS accepts a US phone number as people type it — "(555) 234-5678",
// "555-234-5678", "555.234.5678", "5552345678", "+1 555 234 5678",
// "1-555-234-5678" — and returns E.164 "+15552345678". Anything else (other
// country codes, wrong length, letters, an area code or exchange starting
// with 0 or 1) gives an error whose message says what is wrong and what to
// type, and that only US numbers are supported. The message does not repeat
// the number, so it is safe to log.
//
// The exchange is the three digits after the area code. No US number has an
// exchange starting with 0 or 1, which rules out the fictional
// "555-123-4567" too.
func NormalizeUS(number string) (string, error) {
	s := strings.TrimSpace(number)
	if s == "" {
		return "", errors.New("sms: no phone number given; " + howToType)
	}
	plus := strings.HasPrefix(s, "+")
	if plus {
		s = s[1:]
	}
	digits := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case '0' <= r && r <= '9':
			digits = append(digits, byte(r))
		case r == '-' || r == '.' || r == '(' || r == ')' || unicode.IsSpace(r):
			// What people put between the groups.
		case unicode.IsLetter(r):
			return "", badNumber("it has letters in it; type digits only")
		default:
			return "", badNumber(fmt.Sprintf("%q does not belong in a phone number", r))
		}
	}
	switch {
	case plus && (len(digits) == 0 || digits[0] != '1'):
		return "", badNumber("its country code is not +1 (US)")
	case !plus && strings.HasPrefix(string(digits), "011"):
		return "", badNumber("it starts with 011, the prefix for calling abroad")
	case len(digits) == 11 && digits[0] == '1':
		digits = digits[1:]
	case plus:
		return "", badNumber(fmt.Sprintf("it has %d digits after +1; a US number has 10", len(digits)-1))
	}
	switch {
	case len(digits) != 10:
		return "", badNumber(fmt.Sprintf("it has %d digits; a US number has 10 (3 for the area code, 7 for the number)", len(digits)))
	case digits[0] == '0' || digits[0] == '1':
		return "", badNumber(fmt.Sprintf("its area code %s starts with %c; no US area code starts with 0 or 1", digits[:3], digits[0]))
	case digits[3] == '0' || digits[3] == '1':
		return "", badNumber(fmt.Sprintf("its exchange (the 3 digits after the area code) %s starts with %c; no US exchange starts with 0 or 1", digits[3:6], digits[3]))
	}
	return "+1" + string(digits), nil
}

func badNumber(what string) error {
	return fmt.Errorf("sms: not a US phone number: %s; %s", what, howToType)
}
