package redact

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxQuoted is how many runes of one piece of server text an error quotes.
const MaxQuoted = 512

// Clean makes text that came from a server safe to print in one log or
// error line: control characters (newlines, ESC and the other C0 and C1
// controls, DEL), Unicode line and paragraph separators and bidirectional
// overrides are written as Go escapes (\n, \x1b, \u202e), invalid UTF-8
// as \xNN, and the text is cut at max runes (MaxQuoted when max <= 0),
// marked with "…". A server cannot forge a log line or drive the terminal
// through an error message.
func Clean(s string, max int) string {
	if max <= 0 {
		max = MaxQuoted
	}
	if cleanAlready(s, max) {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if n >= max {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i]), 16))
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
		n++
	}
	return b.String()
}

// unsafeRune reports a rune that must not reach a terminal or a log line
// as it is.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r == '\u2028' || r == '\u2029':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true // bidirectional controls
	}
	return !unicode.IsPrint(r) && !unicode.IsSpace(r) && r != utf8.RuneError
}

// cleanAlready is the fast path: short printable ASCII needs no work.
func cleanAlready(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
