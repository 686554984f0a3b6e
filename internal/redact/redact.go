// Package redact keeps secrets and untrusted bodies out of error messages
// and logs.
package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Snippet returns at most max runes of b as a single line of printable text,
// suitable for quoting an unexpected response body in an error message:
// control characters and runs of white space become one space, and the
// result is marked when it was cut.
func Snippet(b []byte, max int) string {
	var sb strings.Builder
	n := 0
	space := false
	for len(b) > 0 && n < max {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r == utf8.RuneError && size <= 1 {
			r = '?'
		}
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			if !space && sb.Len() > 0 {
				sb.WriteByte(' ')
				n++
			}
			space = true
			continue
		}
		space = false
		sb.WriteRune(r)
		n++
	}
	s := strings.TrimSpace(sb.String())
	if len(b) > 0 {
		s += "…"
	}
	return s
}

// Scrub replaces every occurrence of each non-empty secret in s with
// "[REDACTED]". It is a last line of defence for text that came from
// outside (a server echoing a request back, a proxy error page).
func Scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}
