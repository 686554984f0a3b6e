package redact

import (
	"bytes"
	"html"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ReplaceEncoded replaces every occurrence of secret in s with with,
// whatever mix of encodings its characters travel in: raw; HTML and XML
// entities (named, decimal &#N;, hexadecimal &#xN;); JSON and JavaScript
// escapes (\uXXXX, surrogate pairs included, \/, \", \\, \n ..., \xXX);
// URL percent-encoding (%XX). A proxy's error page that echoes a password
// HTML-escaped, or a JSON answer that escapes a token's slashes, is caught
// as the raw text would be. Secrets shorter than 3 bytes are left alone
// (they would match by chance).
func ReplaceEncoded(s, secret, with string) string {
	if len(secret) < 3 || s == "" {
		return s
	}
	sb := []byte(secret)
	if !strings.ContainsAny(s, "&\\%") {
		return strings.ReplaceAll(s, secret, with)
	}
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if c := s[i]; c != sb[0] && c != '&' && c != '\\' && c != '%' {
			i++
			continue
		}
		end, ok := matchEncoded(s, i, sb)
		if !ok {
			i++
			continue
		}
		if out.Len() == 0 {
			out.Grow(len(s))
		}
		out.WriteString(s[last:i])
		out.WriteString(with)
		i, last = end, end
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// matchEncoded reports whether s, decoded unit by unit from i, spells sb,
// and where the match ends.
func matchEncoded(s string, i int, sb []byte) (end int, ok bool) {
	var buf [utf8.UTFMax]byte
	k := 0
	for k < len(sb) {
		d, n := decodeUnit(s, i, buf[:0])
		if n == 0 || !bytes.HasPrefix(sb[k:], d) {
			return 0, false
		}
		k += len(d)
		i += n
	}
	return i, true
}

// decodeUnit decodes one character of s at i, in whatever encoding it
// is written, appending its bytes to dst; n is the length consumed (0 at
// the end of s).
func decodeUnit(s string, i int, dst []byte) (b []byte, n int) {
	if i >= len(s) {
		return dst, 0
	}
	switch s[i] {
	case '&':
		if j := strings.IndexByte(s[i:min(len(s), i+12)], ';'); j > 1 {
			ent := s[i : i+j+1]
			if r, ok := numericEntity(ent); ok {
				return utf8.AppendRune(dst, r), len(ent)
			}
			if u := html.UnescapeString(ent); u != ent {
				return append(dst, u...), len(ent)
			}
		}
	case '\\':
		if i+1 < len(s) {
			switch c := s[i+1]; c {
			case 'u':
				if r, n, ok := unicodeEscape(s, i); ok {
					return utf8.AppendRune(dst, r), n
				}
			case 'x':
				if i+3 < len(s) {
					if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
						return append(dst, byte(v)), 4
					}
				}
			case '/', '"', '\\', '\'':
				return append(dst, c), 2
			case 'n':
				return append(dst, '\n'), 2
			case 't':
				return append(dst, '\t'), 2
			case 'r':
				return append(dst, '\r'), 2
			}
		}
	case '%':
		if i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				return append(dst, byte(v)), 3
			}
		}
	}
	return append(dst, s[i]), 1
}

// numericEntity reads &#N; or &#xN;.
func numericEntity(ent string) (rune, bool) {
	if !strings.HasPrefix(ent, "&#") {
		return 0, false
	}
	num := ent[2 : len(ent)-1]
	base := 10
	if num != "" && (num[0] == 'x' || num[0] == 'X') {
		num, base = num[1:], 16
	}
	v, err := strconv.ParseUint(num, base, 32)
	if err != nil || v > utf8.MaxRune {
		return 0, false
	}
	return rune(v), true
}

// unicodeEscape reads \uXXXX at i, and the low half of a surrogate pair
// after it.
func unicodeEscape(s string, i int) (r rune, n int, ok bool) {
	hex4 := func(at int) (rune, bool) {
		if at+6 > len(s) || s[at] != '\\' || s[at+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(s[at+2:at+6], 16, 16)
		return rune(v), err == nil
	}
	r, ok = hex4(i)
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) {
		if lo, ok := hex4(i + 6); ok {
			if c := utf16.DecodeRune(r, lo); c != utf8.RuneError {
				return c, 12, true
			}
		}
	}
	return r, 6, true
}
