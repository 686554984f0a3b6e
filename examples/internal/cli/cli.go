// Package cli holds what the example programs share: the HTTP client with
// the TLS settings an operator chooses (-ca_file, -verify_ssl), and the
// advice a certificate failure deserves.
package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hashicorp/go-cleanhttp"
)

// CAFileEnv is the environment variable read when -ca_file is not given.
const CAFileEnv = "QUALYSBRIDGE_CA_FILE"

// HTTPClient returns the programs' HTTP client: cleanhttp's pooled client,
// trusting the system's certificate authorities plus those in caFile (PEM,
// for a private CA, as CP4S and ThreatQ appliances often use), or, with
// verify false, no certificate at all (with a loud warning).
func HTTPClient(caFile string, verify bool, logger *slog.Logger) (*http.Client, error) {
	hc := cleanhttp.DefaultPooledClient()
	tr := hc.Transport.(*http.Transport)
	if caFile != "" {
		pem, _, err := ReadConfigFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca_file %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if !verify {
		logger.Warn("TLS CERTIFICATE VERIFICATION IS OFF (-verify_ssl=false): anyone on the network path can read the credentials and data. For a private CA, give its certificate with -ca_file instead.")
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // #nosec G402 -- explicit opt-out, warned above
	}
	return hc, nil
}

// CAFile returns the -ca_file value, or the variable's when the flag is
// empty.
func CAFile(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	return strings.TrimSpace(getenv(CAFileEnv))
}

// CertificateAdvice returns a sentence telling the operator how to trust
// the server's certificate when err is a certificate verification failure,
// and "" otherwise.
func CertificateAdvice(err error) string {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &he):
		return "the server's certificate does not name the host in the URL: check the URL"
	case errors.As(err, &ua), errors.As(err, &cv):
		return "the server's certificate is not signed by a trusted authority: give the CA certificate (PEM) with -ca_file or " + CAFileEnv
	}
	return ""
}
