package kiosk

// Key is one key or button press. Its value is the character that stands for
// it in headless mode, so a script of keys reads as a string: "1234#i".
type Key byte

const (
	KeyEnter    Key = '#'
	KeyClear    Key = '*' // clear a digit, or go back
	KeyIn       Key = 'i'
	KeyOut      Key = 'o'
	KeyClockFor Key = 'f'
	KeyLang     Key = 'l'
)

// ParseKey maps a character to a key: digits, '#', '*', and i, o, f, l in
// either case. ok is false for anything else.
func ParseKey(c rune) (k Key, ok bool) {
	switch {
	case c >= '0' && c <= '9':
		return Key(c), true
	case c >= 'A' && c <= 'Z':
		c += 'a' - 'A'
	}
	switch Key(c) {
	case KeyEnter, KeyClear, KeyIn, KeyOut, KeyClockFor, KeyLang:
		return Key(c), true
	}
	return 0, false
}

// IsDigit reports whether k is a digit key.
func (k Key) IsDigit() bool { return k >= '0' && k <= '9' }

func (k Key) String() string { return string(rune(k)) }
