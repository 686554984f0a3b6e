package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestSnippet(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"<html>\n  <title>Maintenance</title>\x00</html>", 100, "<html> <title>Maintenance</title> </html>"},
		{"abcdef", 3, "abc…"},
		{"\xff\xfeok", 10, "??ok"},
		{"", 10, ""},
	}
	for _, c := range cases {
		if got := Snippet([]byte(c.in), c.max); got != c.want {
			t.Errorf("Snippet(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestScrub(t *testing.T) {
	got := Scrub("user=alice pass=hunter22 again hunter22", "hunter22", "")
	if got != "user=alice pass=[REDACTED] again [REDACTED]" {
		t.Fatalf("Scrub = %q", got)
	}
}

func TestScrubForms(t *testing.T) {
	const pass = "p@ss w/rd+1"
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	cases := []string{
		"Authorization: Basic " + Basic("alice", pass),
		"echo " + Basic("alice", pass),
		`{"password": "` + pass + `"}`,
		"password=" + url.QueryEscape(pass) + "&user=alice",
		"Authorization: Bearer opaque-token-123",
		`{"Authorization":"car-token abcdef0123"}`,
		"token " + jwt + " expired",
		`{"access_token":"tok-1","refresh_token":"ref-2","expires_in":3600}`,
		`Post "https://tq.example/api/token?grant_type=refresh_token&refresh_token=ref-2": dial tcp: refused`,
		"client_secret=s3cr3t-value",
		base64.StdEncoding.EncodeToString([]byte(pass)),
	}
	leaks := []string{pass, url.QueryEscape(pass), Basic("alice", pass), "opaque-token-123", "abcdef0123", jwt, "tok-1", "ref-2", "s3cr3t-value",
		base64.StdEncoding.EncodeToString([]byte(pass))}
	for _, c := range cases {
		got := Scrub(c, pass)
		for _, l := range leaks {
			if strings.Contains(got, l) {
				t.Errorf("Scrub(%q) = %q: still holds %q", c, got, l)
			}
		}
		if !strings.Contains(got, "[REDACTED]") {
			t.Errorf("Scrub(%q) = %q: nothing redacted", c, got)
		}
	}
	// Text without secrets is left alone.
	for _, s := range []string{"Basic auth failed", "token endpoint answered 500", "no secrets here"} {
		if got := Scrub(s); got != s {
			t.Errorf("Scrub(%q) = %q", s, got)
		}
	}
}
