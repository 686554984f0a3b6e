package redact

import "testing"

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
