package mapping

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPlainText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text, no markup", "plain text, no markup"},
		{"A &amp; B &lt;tag&gt; &quot;q&quot; &#39;s&#39; &nbsp;x", "A & B <tag> \"q\" 's' x"},
		{"<p>First paragraph.</p><p>Second   paragraph\n with a break.</p>", "First paragraph.\n\nSecond paragraph with a break."},
		{"line one<br>line two<BR/>line three", "line one\nline two\nline three"},
		{`Patch: <a href="https://vendor.example/adv/1">Vendor advisory</a> now.`, "Patch: Vendor advisory (https://vendor.example/adv/1) now."},
		{`See <a href="https://x.example/">https://x.example/</a>`, "See https://x.example/"},
		{`<a href="https://only.example/"></a>`, "https://only.example/"},
		{"<ul><li>one</li><li>two <b>bold</b></li></ul>after", "- one\n- two bold\n\nafter"},
		{"<script>alert(1)</script><style>p{}</style>kept", "kept"},
		{"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"},
		{"unclosed <b>bold <i>and italic", "unclosed bold and italic"},
		{"", ""},
	}
	for _, c := range cases {
		if got := PlainText(c.in); got != c.want {
			t.Errorf("PlainText(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func FuzzPlainText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", `<a href="u">t</a>`, "<ul><li>x", "&amp;&#x41;&bogus;", "<script>", "<<<>>>", "<a href='#'>x</a>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := PlainText(s)
		if strings.ContainsAny(out, "<>") && !strings.ContainsAny(s, "<>&") {
			t.Errorf("markup appeared: %q -> %q", s, out)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Errorf("invalid UTF-8 from valid input: %q -> %q", s, out)
		}
		if out != strings.TrimSpace(out) {
			t.Errorf("untrimmed output %q", out)
		}
		if len(out) > 2*len(s)+16 {
			t.Errorf("output grew: %d -> %d bytes", len(s), len(out))
		}
	})
}
