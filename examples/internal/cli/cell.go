package cli

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Cell makes a value safe for one cell of a table on a terminal: tabs,
// newlines and every other control character (ESC included), Unicode
// line separators and bidirectional overrides are written as Go escapes,
// so that text a server sent cannot forge rows or columns or drive the
// terminal; it is cut at 200 runes.
func Cell(s string) string {
	clean := true
	for _, r := range s {
		if unsafeForTerminal(r) {
			clean = false
			break
		}
	}
	if clean && utf8.RuneCountInString(s) <= 200 {
		return s
	}
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == 200 {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == utf8.RuneError && len(s[i:]) > 0 && !utf8.FullRuneInString(s[i:]):
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case unsafeForTerminal(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeForTerminal(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r == '\u2028' || r == '\u2029' || r == '\u200e' || r == '\u200f' || r == '\u061c':
		return true
	case (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069'):
		return true
	}
	return !unicode.IsPrint(r) && r != ' '
}
