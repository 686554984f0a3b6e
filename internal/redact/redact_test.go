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

// A secret echoed in any mix of encodings is found: XML and HTML entities,
// numeric entities, JSON escapes (\/, \u003c, surrogate pairs), percent
// escapes.
func TestReplaceEncoded(t *testing.T) {
	const sec = "tq/pa<ss>Q&1"
	cases := map[string]string{
		"raw":               "x " + sec + " y",
		"json slash":        `{"error":"bad password tq\/pa<ss>Q&1"}`,
		"json u escapes":    `"tq/pa\u003css\u003eQ\u00261"`,
		"html named":        "<p>tq/pa&lt;ss&gt;Q&amp;1</p>",
		"numeric decimal":   "tq/pa&#60;ss&#62;&#81;&#38;1",
		"numeric hex":       "&#x74;&#x71;/pa&#x3c;ss&#x3E;Q&#x26;1",
		"all numeric":       "&#116;&#113;&#47;&#112;&#97;&#60;&#115;&#115;&#62;&#81;&#38;&#49;",
		"percent":           "tq%2Fpa%3Css%3EQ%261",
		"mixed":             `tq\u002fpa&lt;ss%3E&#81;\u00261`,
		"js hex":            `tq/pa\x3css\x3eQ\x261`,
		"twice in one line": "a tq/pa&lt;ss&gt;Q&amp;1 b tq\\/pa<ss>Q&1 c",
	}
	for name, in := range cases {
		got := ReplaceEncoded(in, sec, "[X]")
		if !strings.Contains(got, "[X]") || strings.Contains(got, "pa<ss") || strings.Contains(got, "pa&lt;ss") || strings.Contains(got, "ss%3E") {
			t.Errorf("%s: ReplaceEncoded(%q) = %q", name, in, got)
		}
		if name == "twice in one line" && strings.Count(got, "[X]") != 2 {
			t.Errorf("%s: %q", name, got)
		}
		if got := Scrub(in, sec); strings.Contains(got, "ss>") || !strings.Contains(got, "[REDACTED]") {
			t.Errorf("%s: Scrub(%q) = %q", name, in, got)
		}
	}
	astral := "pw\U0001F511key"
	if got := ReplaceEncoded(`"pw\ud83d\udd11key"`, astral, "[X]"); got != `"[X]"` {
		t.Errorf("surrogate pair: %q", got)
	}
	for _, s := range []string{"nothing &amp; here", `plain \u0041 text`, "100% sure", ""} {
		if got := ReplaceEncoded(s, sec, "[X]"); got != s {
			t.Errorf("ReplaceEncoded(%q) changed it to %q", s, got)
		}
	}
}

func BenchmarkReplaceEncoded(b *testing.B) {
	body := strings.Repeat(`<DETECTION><QID>38170</QID><RESULTS>a &amp; b \u0041 %20 results text</RESULTS></DETECTION>`, 10000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		ReplaceEncoded(body, "Mk-secret pass/+=&1", "[REDACTED]")
	}
}

func TestClean(t *testing.T) {
	cases := map[string]string{
		"plain":                  "plain",
		"line\nforged=1":         `line\nforged=1`,
		"\x1b[31mred\x1b[0m":     `\x1b[31mred\x1b[0m`,
		"tab\there":              `tab\there`,
		"bidi \u202etxt.exe":     `bidi \u202etxt.exe`,
		"sep\u2028x":             `sep\u2028x`,
		"bad \xff utf8":          `bad \xff utf8`,
		"café ✓":                 "café ✓",
		"c1 \u009b31m":           `c1 \u009b31m`,
		strings.Repeat("a", 600): strings.Repeat("a", MaxQuoted) + "…",
	}
	for in, want := range cases {
		if got := Clean(in, 0); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
	for in := range cases {
		if got := Clean(in, 0); strings.ContainsAny(got, "\n\r\x1b\u202e\u2028\u009b") {
			t.Errorf("Clean(%q) = %q still holds a control character", in, got)
		}
	}
}
