package cli

import (
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
