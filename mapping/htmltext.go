package mapping

import (
	"strings"

	"golang.org/x/net/html"
)

// maxTextInput bounds the KnowledgeBase HTML converted for one field.
const maxTextInput = 1 << 20

// PlainText turns KnowledgeBase HTML (DIAGNOSIS, CONSEQUENCE, SOLUTION)
// into readable plain text: tags are gone, entities decoded, paragraphs
// (p, div, li, headings, tables' rows) separated by a blank line or a line
// break, <br> a line break, list items marked "- ", a link rendered as its
// text followed by its URL in parentheses (once, when the text is not the
// URL itself). Scripts and styles are dropped. Runs of white space within
// text collapse to one space. Input beyond 1 MiB is cut.
func PlainText(s string) string {
	if len(s) > maxTextInput {
		s = s[:maxTextInput]
	}
	if !strings.ContainsAny(s, "<&") {
		return strings.TrimSpace(collapseSpace(s))
	}
	var b textBuilder
	z := html.NewTokenizer(strings.NewReader(s))
	var links []string // href of each open <a>, "" when none
	skip := 0          // depth inside script/style
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == 0 {
				b.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			switch tag {
			case "script", "style":
				if tt == html.StartTagToken {
					skip++
				}
			case "br":
				b.lineBreak()
			case "p", "div", "table", "ul", "ol", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6":
				b.paragraph()
			case "tr":
				b.lineBreak()
			case "td", "th":
				b.text(" ")
			case "li":
				b.lineBreak()
				b.raw("- ")
			case "a":
				href := ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						href = strings.TrimSpace(string(v))
					}
				}
				if tt == html.StartTagToken {
					links = append(links, href)
					b.markLink()
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch tag := string(name); tag {
			case "script", "style":
				if skip > 0 {
					skip--
				}
			case "p", "div", "table", "ul", "ol", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6":
				b.paragraph()
			case "a":
				if n := len(links); n > 0 {
					href := links[n-1]
					links = links[:n-1]
					b.endLink(href)
				}
			}
		}
	}
}

// textBuilder assembles plain text with normalised white space.
type textBuilder struct {
	sb        strings.Builder
	pendingNL int  // line breaks owed before the next text (1 or 2)
	space     bool // a space owed before the next text
	linkStart int  // where the current link's text starts
}

func (b *textBuilder) text(s string) {
	if s == "" {
		return
	}
	lead := len(s) > 0 && isSpace(s[0])
	trail := len(s) > 0 && isSpace(s[len(s)-1])
	s = collapseSpace(s)
	s = strings.TrimSpace(s)
	if s == "" {
		if lead || trail {
			b.space = true
		}
		return
	}
	if lead {
		b.space = true
	}
	b.flush()
	b.sb.WriteString(s)
	b.space = trail
}

// raw writes s at the start of a line without collapsing it.
func (b *textBuilder) raw(s string) {
	b.flush()
	b.sb.WriteString(s)
	b.space = false
}

func (b *textBuilder) flush() {
	if b.sb.Len() == 0 {
		b.pendingNL, b.space = 0, false
		return
	}
	if b.pendingNL > 0 {
		b.sb.WriteString(strings.Repeat("\n", b.pendingNL))
		b.pendingNL, b.space = 0, false
		return
	}
	if b.space {
		b.sb.WriteByte(' ')
		b.space = false
	}
}

func (b *textBuilder) lineBreak() { b.pendingNL = max(b.pendingNL, 1) }
func (b *textBuilder) paragraph() { b.pendingNL = 2 }

func (b *textBuilder) markLink() {
	b.flush()
	b.linkStart = b.sb.Len()
}

func (b *textBuilder) endLink(href string) {
	if href == "" || strings.HasPrefix(strings.ToLower(href), "javascript:") || strings.HasPrefix(href, "#") {
		return
	}
	text := ""
	if b.linkStart <= b.sb.Len() {
		text = strings.TrimSpace(b.sb.String()[b.linkStart:])
	}
	if text == href || strings.TrimSuffix(text, "/") == strings.TrimSuffix(href, "/") {
		return
	}
	if text == "" {
		b.text(href)
		return
	}
	b.sb.WriteString(" (" + href + ")")
	b.space = false
}

func (b *textBuilder) String() string { return strings.TrimSpace(b.sb.String()) }

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' }

// collapseSpace turns every run of white space into one space.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
