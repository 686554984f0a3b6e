package cli

import (
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	cases := map[string]string{
		"set another version with WithEndpointVersion(qualys.EndpointKnowledgeBase, ...), for example": "-qualys_versions knowledge_base=VERSION",
		"the /rest/2.0/search/am/asset API is on the gateway; use WithGateway (see Platform)":          "set -qualys_gateway (or -platform)",
		"none given; use WithCredentials": "set -username and QUALYS_PASSWORD",
	}
	for in, want := range cases {
		got := Explain(in)
		if !strings.Contains(got, want) || strings.Contains(got, "With") {
			t.Errorf("Explain(%q) = %q, want it to say %q", in, got, want)
		}
	}
}

func TestVersionOptions(t *testing.T) {
	if opts, err := VersionOptions("detections=5.0, search_lists=3.0"); err != nil || len(opts) != 2 {
		t.Errorf("%d options, %v", len(opts), err)
	}
	for _, bad := range []string{"hld=5.0", "detections", "=5.0"} {
		if _, err := VersionOptions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSecrets(t *testing.T) {
	env := map[string]string{"B_ENV": "b-env", "C_OLD": "c-old"}
	s := &Secrets{Getenv: func(k string) string { return env[k] }}
	a := s.Get("a-flag", "-a", "A_ENV")
	b := s.Get("", "-b", "B_ENV")
	c := s.Get("", "-c", "C_ENV", "C_OLD")
	if a != "a-flag" || b != "b-env" || c != "c-old" {
		t.Fatalf("got %q %q %q", a, b, c)
	}
	var logs strings.Builder
	s.Warn(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, want := range []string{"visible to other users", "use A_ENV, B_ENV or C_ENV instead", "flags=-a"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("warning %q lacks %q", logs.String(), want)
		}
	}
	quiet := &Secrets{Getenv: func(string) string { return "" }}
	quiet.Get("", "-a", "A_ENV")
	logs.Reset()
	quiet.Warn(slog.New(slog.NewTextHandler(&logs, nil)))
	if logs.Len() != 0 {
		t.Errorf("warned with no secret on the command line: %s", logs.String())
	}
}

// TestHTTPClientHonoursProxyEnvironment: the README documents HTTPS_PROXY;
// every client the programs build, -ca_file and -verify_ssl=false
// included, keeps the environment's proxy.
func TestHTTPClientHonoursProxyEnvironment(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, verify := range []bool{true, false} {
		hc, err := HTTPClient("", verify, logger)
		if err != nil {
			t.Fatal(err)
		}
		tr := hc.Transport.(*http.Transport)
		if tr.Proxy == nil || reflect.ValueOf(tr.Proxy).Pointer() != reflect.ValueOf(http.ProxyFromEnvironment).Pointer() {
			t.Errorf("verify=%v: the transport does not read HTTPS_PROXY", verify)
		}
	}
}
