package qualys

import (
	"sort"
	"strings"
)

type platformURLs struct{ api, gateway string }

// platforms maps the documented Qualys platform names to their API and
// gateway servers (Qualys "Identify your Qualys platform" table).
var platforms = map[string]platformURLs{
	"US1":  {"https://qualysapi.qualys.com", "https://gateway.qg1.apps.qualys.com"},
	"US2":  {"https://qualysapi.qg2.apps.qualys.com", "https://gateway.qg2.apps.qualys.com"},
	"US3":  {"https://qualysapi.qg3.apps.qualys.com", "https://gateway.qg3.apps.qualys.com"},
	"US4":  {"https://qualysapi.qg4.apps.qualys.com", "https://gateway.qg4.apps.qualys.com"},
	"EU1":  {"https://qualysapi.qualys.eu", "https://gateway.qg1.apps.qualys.eu"},
	"EU2":  {"https://qualysapi.qg2.apps.qualys.eu", "https://gateway.qg2.apps.qualys.eu"},
	"EU3":  {"https://qualysapi.qg3.apps.qualys.it", "https://gateway.qg3.apps.qualys.it"},
	"IN1":  {"https://qualysapi.qg1.apps.qualys.in", "https://gateway.qg1.apps.qualys.in"},
	"CA1":  {"https://qualysapi.qg1.apps.qualys.ca", "https://gateway.qg1.apps.qualys.ca"},
	"AE1":  {"https://qualysapi.qg1.apps.qualys.ae", "https://gateway.qg1.apps.qualys.ae"},
	"UK1":  {"https://qualysapi.qg1.apps.qualys.co.uk", "https://gateway.qg1.apps.qualys.co.uk"},
	"AU1":  {"https://qualysapi.qg1.apps.qualys.com.au", "https://gateway.qg1.apps.qualys.com.au"},
	"KSA1": {"https://qualysapi.qg1.apps.qualysksa.com", "https://gateway.qg1.apps.qualysksa.com"},
}

// Platform resolves a Qualys platform name (US1-US4, EU1-EU3, IN1, CA1, AE1,
// UK1, AU1, KSA1; case-insensitive) to its API server URL, for NewClient,
// and its gateway URL, for WithGateway.
func Platform(name string) (apiURL, gatewayURL string, err error) {
	p, ok := platforms[strings.ToUpper(strings.TrimSpace(name))]
	if !ok {
		return "", "", &ConfigError{Option: "platform", Reason: "unknown platform " + quoteShort(name) + "; known: " + strings.Join(PlatformNames(), ", ")}
	}
	return p.api, p.gateway, nil
}

// PlatformNames lists the platform names Platform knows, sorted.
func PlatformNames() []string {
	names := make([]string, 0, len(platforms))
	for n := range platforms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return "\"" + s + "\""
}
