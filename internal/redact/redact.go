// Package redact keeps secrets and untrusted bodies out of error messages
// and logs.
package redact

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
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

// Scrub removes secrets from text that came from outside (a server echoing
// a request back, a proxy error page, a transport error quoting a URL). It
// replaces with "[REDACTED]":
//
//   - each non-empty secret given (3 characters or more), also in the forms
//     it travels in: URL query escaping, path escaping, standard and URL
//     base64, and any mix of HTML/XML entities, JSON escapes and percent
//     escapes (ReplaceEncoded);
//   - the credential of an Authorization value: "Basic ...", "Bearer ...",
//     "car-token ..." (header syntax, or quoted in JSON or text);
//   - JWT-shaped strings (three base64url parts, the first starting eyJ);
//   - the values of fields and parameters named access_token,
//     refresh_token, id_token, password, passwd, client_secret, secret,
//     api_key and token, in JSON ("name": "value"), forms and URL queries
//     (name=value).
//
// It is a last line of defence: code should not put secrets in messages.
func Scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) < 3 {
			continue
		}
		for _, form := range forms(sec) {
			if strings.Contains(s, form) {
				s = strings.ReplaceAll(s, form, "[REDACTED]")
			}
		}
		s = ReplaceEncoded(s, sec, "[REDACTED]")
	}
	if !mayHoldSecret(s) {
		return s
	}
	s = authValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := authValue.FindStringSubmatch(m)
		if !credentialLike(sub[2]) {
			return m // "Basic authentication failed" quotes no credential
		}
		return sub[1] + "[REDACTED]"
	})
	s = jwtShape.ReplaceAllString(s, "[REDACTED]")
	s = jsonField.ReplaceAllString(s, "${1}[REDACTED]\"")
	s = formField.ReplaceAllString(s, "${1}[REDACTED]")
	return s
}

// Basic returns the base64 value of an HTTP Basic credential, to be passed
// to Scrub as a secret.
func Basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// forms returns a secret and its encodings.
func forms(sec string) []string {
	out := []string{sec}
	for _, f := range []string{url.QueryEscape(sec), url.PathEscape(sec), base64.StdEncoding.EncodeToString([]byte(sec)),
		base64.RawURLEncoding.EncodeToString([]byte(sec)), strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(sec)), "=")} {
		if len(f) >= 3 && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// credentialLike reports whether a word after "Basic", "Bearer" or
// "car-token" looks like a credential rather than prose: 8 characters or
// more with a digit, a symbol or mixed case.
func credentialLike(w string) bool {
	if len(w) < 8 {
		return false
	}
	upper, lower := false, false
	for _, r := range w {
		switch {
		case r >= '0' && r <= '9', strings.ContainsRune("._~+/=:-", r):
			return true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		}
	}
	return upper && lower
}

// mayHoldSecret is a cheap test that skips the regular expressions for
// text that holds none of their anchors.
func mayHoldSecret(s string) bool {
	l := strings.ToLower(s)
	for _, k := range []string{"basic", "bearer", "car-token", "eyj", "token", "passw", "secret", "api_key"} {
		if strings.Contains(l, k) {
			return true
		}
	}
	return false
}

var (
	authValue = regexp.MustCompile(`(?i)(\b(?:basic|bearer|car-token)[ \t]+)([A-Za-z0-9._~+/=:-]{3,})`)
	jwtShape  = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	secretKey = `(?:access_token|refresh_token|id_token|password|passwd|client_secret|secret|api_key|token)`
	jsonField = regexp.MustCompile(`(?i)("` + secretKey + `"\s*:\s*")(?:[^"\\]|\\.)*"`)
	formField = regexp.MustCompile(`(?i)(\b` + secretKey + `=)[^&\s"'<>]+`)
)

// ScrubbedSnippet is Snippet of b's start scrubbed first (its first 4 KiB,
// whole), so that a secret the snippet's end would cut in two is still
// found and removed.
func ScrubbedSnippet(b []byte, max int, secrets ...string) string {
	b = b[:min(len(b), 4<<10)]
	return Snippet([]byte(Scrub(string(b), secrets...)), max)
}
