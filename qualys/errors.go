package qualys

import (
	"errors"
	"fmt"
	"github.com/qualysbridge/qualysbridge/internal/redact"
	"strings"
	"time"
)

// Sentinel errors that callers branch on. Every *Error matches at most one of
// them with errors.Is.
var (
	// ErrRateLimited matches a call refused by a Qualys rate or concurrency
	// limit (HTTP 409 with codes 1920/1960/1965, HTTP 429) after the
	// client's retries were used up or when the server asked for a wait
	// longer than the configured maximum. The *Error's RetryAfter says how
	// long the server asked to wait, when it said.
	ErrRateLimited = errors.New("qualys: rate limited")
	// ErrUnauthorized matches bad or expired credentials and missing
	// permissions (HTTP 401/403, codes 2000/2001/2003/2011, QPS
	// INVALID_CREDENTIALS/UNAUTHORIZED).
	ErrUnauthorized = errors.New("qualys: unauthorized")
	// ErrNotFound matches an object that does not exist (HTTP 404, QPS
	// NOT_FOUND/OBJECT_NOT_FOUND).
	ErrNotFound = errors.New("qualys: not found")
	// ErrUnexpectedBody matches an answer of the wrong kind: an HTML page
	// (a proxy or a maintenance page) where XML or JSON was expected, an
	// empty or unreadable body. (A body of the right kind that does not
	// decode is a *DecodeError.)
	ErrUnexpectedBody = errors.New("qualys: unexpected response body")
	// ErrUnreachable matches a call that got no answer: the server could
	// not be reached, the connection or TLS handshake failed, or nothing
	// came back within the idle timeout.
	ErrUnreachable = errors.New("qualys: server unreachable")
)

// Error is returned for every failure reported by a Qualys API: a non-2xx
// status, a SIMPLE_RETURN error body (even under HTTP 200), a QPS or gateway
// responseCode other than SUCCESS, or a body of the wrong kind (an HTML
// maintenance page where XML was expected). It never carries credentials.
type Error struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the API's own error code: a SIMPLE_RETURN CODE such as
	// "1965", or a QPS/gateway responseCode such as "INVALID_REQUEST".
	// It is empty when the API gave none.
	Code string
	// Message is the API's message (SIMPLE_RETURN TEXT, QPS errorMessage
	// with its resolution, gateway message), or a description of the
	// unexpected body.
	Message string
	// Method is the HTTP method of the call, when the error comes from
	// one (empty for a saved document decoded with a Decode function).
	Method string
	// Endpoint is the path of the API called, without query or host.
	Endpoint string
	// Action is the FO API action ("list", "create", ...) or the QPS
	// operation, when there is one.
	Action string
	// RetryAfter is how long the server asked the caller to wait, when it
	// said (X-RateLimit-ToWait-Sec, SECONDS_TO_WAIT, Retry-After).
	RetryAfter time.Duration
	// Err is the underlying cause of a transport failure, when there is one.
	Err error

	kind errKind

	// Snippet quotes a short, sanitised prefix of a body that was not in
	// the expected format. It is empty otherwise.
	Snippet string
	// raw is the start of that body until the client has scrubbed it
	// (whole, so that a secret cut by the snippet's end is still found)
	// and made Snippet from it.
	raw []byte
}

// maxSnippetSource is how much of a body a snippet is made from.
const maxSnippetSource = 4 << 10

// setSnippet keeps the start of a body for the snippet.
func (e *Error) setSnippet(b []byte) {
	e.raw = append([]byte(nil), b[:min(len(b), maxSnippetSource)]...)
	e.Snippet = ""
}

// finishSnippet makes Snippet from the body kept, scrubbed first.
func (e *Error) finishSnippet(scrub func(string) string) {
	if e.raw != nil {
		e.Snippet = redact.Snippet([]byte(scrub(string(e.raw))), 120)
		e.raw = nil
	}
	e.Snippet = scrub(e.Snippet)
}

// Error describes the failure, without credentials.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("qualys: ")
	b.WriteString(e.Endpoint)
	if e.Action != "" {
		b.WriteString(" action=")
		b.WriteString(e.Action)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		b.WriteString(" code ")
		b.WriteString(redact.Clean(e.Code, 32))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(redact.Clean(e.Message, 0)) // server text: no control character reaches a terminal
	}
	switch {
	case e.RetryAfter > 0 && e.kind == kindPaced:
		fmt.Fprintf(&b, " (the next call is possible in %s)", e.RetryAfter.Round(time.Second))
	case e.RetryAfter > 0:
		fmt.Fprintf(&b, " (server asks to wait %s)", e.RetryAfter.Round(time.Second))
	}
	snippet := e.Snippet
	if snippet == "" && e.raw != nil {
		snippet = redact.ScrubbedSnippet(e.raw, 120) // not through a client: shapes still go
	}
	if snippet != "" {
		fmt.Fprintf(&b, "; body starts %q", snippet)
	}
	return b.String()
}

// Is reports whether the error belongs to one of the sentinel classes.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.rateLimited()
	case ErrUnauthorized:
		switch e.Code {
		case "2000", "2001", "2003", "2011", "2012", "INVALID_CREDENTIALS", "UNAUTHORIZED":
			return true
		}
		return e.StatusCode == 401 || e.StatusCode == 403
	case ErrNotFound:
		switch e.Code {
		case "NOT_FOUND", "OBJECT_NOT_FOUND":
			return true
		}
		return e.StatusCode == 404
	case ErrUnexpectedBody:
		return e.kind == kindBadBody
	case ErrUnreachable:
		return e.kind == kindTransport
	}
	return false
}

func (e *Error) rateLimited() bool {
	if e.kind == kindPaced {
		return true
	}
	return limitCode(e.Code) || e.StatusCode == 429
}

// limitCode reports whether a Qualys code is a limit refusal (1920: an
// overlapping call, 1960: the concurrency limit, 1965: the rate limit).
// Such a code proves that the server refused the call before doing
// anything, so even a call that is not safe to repeat may be sent again.
func limitCode(code string) bool {
	switch code {
	case "1920", "1960", "1965":
		return true
	}
	return false
}

// DecodeError reports a response body that could not be decoded: malformed
// XML or JSON, a truncated stream, or a value of the wrong type. It names
// where decoding stopped so a caller can resume.
type DecodeError struct {
	// Endpoint is the API path, or "" for DecodeDetections on a file.
	Endpoint string
	// Element is the element or field being decoded when it failed.
	Element string
	// LastID is the id of the last complete record (host, asset, QID)
	// decoded before the failure, or 0 when none was.
	LastID int64
	// Offset is the byte offset in the body where the failure was seen.
	Offset int64
	// Err is the underlying cause.
	Err error

	resumeParam string // the query parameter that resumes after LastID, if any
}

// Error describes where decoding stopped.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("qualys: decoding ")
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint)
		b.WriteString(" ")
	}
	b.WriteString("response")
	if e.Element != "" {
		b.WriteString(" at ")
		b.WriteString(redact.Clean(e.Element, 128))
	}
	fmt.Fprintf(&b, " (byte %d)", e.Offset)
	if e.LastID != 0 {
		fmt.Fprintf(&b, " after record id %d", e.LastID)
		if e.resumeParam != "" {
			fmt.Fprintf(&b, " (resume with %s=%d)", e.resumeParam, e.LastID+1)
		}
	}
	b.WriteString(": ")
	b.WriteString(redact.Clean(e.Err.Error(), 0))
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// ConfigError reports an invalid option or argument: a nil HTTP client, a
// negative count, a base URL that is not HTTPS.
type ConfigError struct {
	// Option names the option or field at fault.
	Option string
	// Reason says what is wrong and how to fix it.
	Reason string
}

// Error describes the invalid option.
func (e *ConfigError) Error() string {
	return "qualys: invalid " + e.Option + ": " + e.Reason
}

// Unwrap returns the underlying transport error, if any.
func (e *Error) Unwrap() error { return e.Err }
