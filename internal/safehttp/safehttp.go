// Package safehttp holds the HTTP rules the three clients share so that
// credentials never leave the configured origin: redirects are not
// followed, and what a refused redirect or a transport error says is
// scrubbed.
package safehttp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/qualysbridge/qualysbridge/internal/redact"
)

// NoRedirects returns a copy of hc that never follows a redirect: the 3xx
// response is returned to the caller as it came. None of the Qualys, CAR
// and ThreatQ APIs the clients call is documented to redirect, and
// following one would resend Basic credentials, tokens or a login body
// (307/308 keep the body) to wherever the server points, on another host,
// another port or plain http. The caller's client is not modified.
func NoRedirects(hc *http.Client) *http.Client {
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// IsRedirect reports whether status is a redirect the client refused.
func IsRedirect(status int) bool {
	return status >= 300 && status <= 399 && status != http.StatusNotModified
}

// RedirectMessage describes a refused redirect: where it pointed (scheme,
// host and path only, never a query or user information) and whether that
// is another origin than the request's.
func RedirectMessage(status int, h http.Header, from *url.URL) string {
	loc := strings.TrimSpace(h.Get("Location"))
	target := "no Location"
	other := ""
	if u, err := url.Parse(loc); err == nil && loc != "" {
		if from != nil {
			u = from.ResolveReference(u)
		}
		target = u.Scheme + "://" + u.Host + u.EscapedPath()
		if from != nil && (u.Scheme != from.Scheme || u.Host != from.Host) {
			other = " (another origin)"
		}
	} else if loc != "" {
		target = "an unparsable Location"
	}
	return "the server answered HTTP " + http.StatusText(status) + " redirecting to " + redact.Scrub(target) + other +
		"; redirects are never followed, so that credentials stay with the configured server: check the configured URL"
}

// ScrubError returns err's message with secrets removed; a *url.Error's
// URL (which may carry a token in its query) is reduced to scheme, host
// and path.
func ScrubError(err error, secrets ...string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := *ue
		if u, perr := url.Parse(ue.URL); perr == nil {
			cp.URL = u.Scheme + "://" + u.Host + u.EscapedPath()
		} else {
			cp.URL = "[URL]"
		}
		return redact.Scrub(cp.Error(), secrets...)
	}
	return redact.Scrub(err.Error(), secrets...)
}

// URLError returns err with any *url.Error it is reduced as ScrubError
// does, so that the error kept for errors.As/%+v carries no token either.
// Other errors are returned as they are.
func URLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	cp := *ue
	if u, perr := url.Parse(ue.URL); perr == nil {
		cp.URL = u.Scheme + "://" + u.Host + u.EscapedPath()
	} else {
		cp.URL = "[URL]"
	}
	return &cp
}

// CertificateError reports whether err is a TLS certificate verification
// failure: an unknown authority, a wrong host name, an expired or invalid
// certificate. Such a failure is not retried: it will not heal by itself.
func CertificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// Unreachable reports whether err says that no request reached the
// server: its name does not resolve, or nothing listens at its address.
// Retrying such a failure at once only delays the error an operator has to
// act on.
func Unreachable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// Final reports whether a transport error is not worth retrying: a
// certificate failure, a host name that does not resolve, or an error that
// says it is permanent (a Permanent() bool method returning true, as a
// fixture replayer's "no recording" does). A refused connection is not
// final: a server or proxy restarting refuses for a moment.
func Final(err error) bool {
	var p interface{ Permanent() bool }
	var dnsErr *net.DNSError
	return CertificateError(err) || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) || (errors.As(err, &p) && p.Permanent())
}
