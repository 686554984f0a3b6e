package xmlstream

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// event is one thing a walker sees: a start (with its attributes), an end,
// or the text of a leaf element.
type event struct {
	Kind  string
	Name  string
	Attrs string
	Text  string
}

// refNode is the reference tree built with encoding/xml.
type refNode struct {
	name     string
	attrs    string
	children []*refNode
	pieces   []string
}

func localName(n xml.Name) string { return n.Local }

func attrString(as []xml.Attr) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(a.Name.Local + "=" + a.Value + ";")
	}
	return b.String()
}

// reference parses doc with encoding/xml and returns the events our walker
// must produce, applying the documented rule for text in several pieces.
func reference(doc []byte) ([]event, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var roots []*refNode
	var stack []*refNode
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &refNode{name: localName(t.Name), attrs: attrString(t.Attr)}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
				p.pieces = append(p.pieces, "\x00") // a child breaks the text
			} else {
				roots = append(roots, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.pieces = append(p.pieces, string(t))
			}
		case xml.Comment, xml.ProcInst:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.pieces = append(p.pieces, "\x00")
			}
		}
	}
	var out []event
	var walk func(n *refNode)
	walk = func(n *refNode) {
		out = append(out, event{Kind: "start", Name: n.name, Attrs: n.attrs})
		if len(n.children) == 0 {
			var pieces []string
			cur, open := "", false
			for _, p := range n.pieces {
				if p == "\x00" {
					if open {
						pieces = append(pieces, cur)
					}
					cur, open = "", false
					continue
				}
				// encoding/xml returns a CDATA section as its own CharData.
				if open {
					pieces = append(pieces, cur)
				}
				cur, open = p, true
			}
			if open {
				pieces = append(pieces, cur)
			}
			text := strings.Join(pieces, "")
			if len(pieces) > 1 {
				text = ""
				for _, p := range pieces {
					if strings.Trim(p, " \t\n") != "" {
						text += p
					}
				}
			}
			out = append(out, event{Kind: "text", Name: n.name, Text: text})
		}
		for _, c := range n.children {
			walk(c)
		}
		out = append(out, event{Kind: "end", Name: n.name})
	}
	for _, r := range roots {
		walk(r)
	}
	return out, nil
}

// walk scans doc with the Scanner, reading text for the elements the
// reference says are leaves.
func walk(r io.Reader, leaf func(name string) bool) ([]event, error) {
	s := New(r)
	var out []event
	for {
		k, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		name := string(s.Name())
		if k == EndElement {
			out = append(out, event{Kind: "end", Name: localAfterColon(name)})
			continue
		}
		var attrs strings.Builder
		for _, a := range s.attrs {
			attrs.WriteString(localAfterColon(string(a.name)) + "=" + string(a.value) + ";")
		}
		out = append(out, event{Kind: "start", Name: localAfterColon(name), Attrs: attrs.String()})
		if leaf(name) {
			txt, err := s.Text()
			if err != nil {
				return out, err
			}
			out = append(out, event{Kind: "text", Name: localAfterColon(name), Text: string(txt)})
			out = append(out, event{Kind: "end", Name: localAfterColon(name)})
		}
	}
}

// localAfterColon mirrors how encoding/xml splits a prefixed name.
func localAfterColon(n string) string {
	if strings.Count(n, ":") > 1 {
		return n
	}
	space, local, ok := strings.Cut(n, ":")
	if !ok || space == "" || local == "" {
		return n
	}
	return local
}

// leavesOf returns a leaf predicate following the reference's order of
// elements (names may repeat with different shapes, so it is positional).
func leavesOf(ref []event) func(string) bool {
	var starts []bool
	for i, e := range ref {
		if e.Kind == "start" {
			starts = append(starts, i+1 < len(ref) && ref[i+1].Kind == "text")
		}
	}
	i := 0
	return func(string) bool {
		if i >= len(starts) {
			return false
		}
		i++
		return starts[i-1]
	}
}

func differential(t *testing.T, doc []byte, readers ...func(io.Reader) io.Reader) {
	t.Helper()
	ref, refErr := reference(doc)
	if refErr != nil || len(ref) == 0 {
		// Where encoding/xml refuses, or finds no element at all (which
		// the scanner reports as an error: a response must have a root),
		// there is nothing to compare.
		return
	}
	for _, wrap := range append([]func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }}, readers...) {
		got, err := walk(wrap(bytes.NewReader(doc)), leavesOf(ref))
		if err != nil {
			// Ours may refuse what encoding/xml accepts only for the
			// documented reasons: characters it would have to replace.
			var se *SyntaxError
			if errors.As(err, &se) && (strings.Contains(se.Msg, "repeated attribute") || strings.Contains(se.Msg, "attributes")) {
				return // XML forbids it (encoding/xml does not check), or past the attribute bounds
			}
			if errors.As(err, &se) {
				t.Fatalf("scanner rejected a document encoding/xml accepts: %v\n%q", err, doc)
			}
			t.Fatalf("scanner: %v", err)
		}
		if d := cmp.Diff(ref, got); d != "" {
			t.Fatalf("scanner disagrees with encoding/xml (-ref +got):\n%s\ndoc: %q", d, doc)
		}
	}
}

var docs = []string{
	`<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "https://example.test/output.dtd">
<HOST_LIST_VM_DETECTION_OUTPUT>
  <RESPONSE>
    <DATETIME>2022-01-17T14:08:11Z</DATETIME>
    <HOST_LIST>
      <HOST>
        <ID>7774720</ID>
        <OS>
          <![CDATA[Ubuntu Linux 20.04.3]]>
        </OS>
        <DNS_DATA><HOSTNAME><![CDATA[ip-1]]></HOSTNAME><DOMAIN /><FQDN/></DNS_DATA>
        <DETECTION_LIST>
          <DETECTION>
            <QID>115068</QID>
            <QDS severity="HIGH">80</QDS>
            <RESULTS><![CDATA[a &amp; b
  line two ]]]]><![CDATA[> end]]></RESULTS>
          </DETECTION>
        </DETECTION_LIST>
      </HOST>
    </HOST_LIST>
  </RESPONSE>
</HOST_LIST_VM_DETECTION_OUTPUT>
<!-- CONFIDENTIAL AND PROPRIETARY INFORMATION. //-->
`,
	`<a x='1' y="&lt;&#65;&#x42;"><b>t&amp;t &#233; é</b><c>  spaced  </c><d> <!-- c --> x <?pi?> y</d></a>`,
	`<a>` + "\r\n" + `<b>line1` + "\r\n" + `line2` + "\r" + `end</b></a>`,
	`<!DOCTYPE a [<!ENTITY e "x"> <!ELEMENT a ANY>]><a><b></b><c/></a>`,
	`<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT> This API cannot be run again. </TEXT></RESPONSE></SIMPLE_RETURN>`,
}

func TestDifferentialAgainstEncodingXML(t *testing.T) {
	for _, d := range docs {
		differential(t, []byte(d), iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader)
	}
}

func TestBigTokensAcrossBufferBoundaries(t *testing.T) {
	long := strings.Repeat("é&amp;x\r\n", 40000) // crosses 64 KiB several times
	doc := "<a><b><![CDATA[" + strings.Repeat("z", 200000) + "]]></b><c>" + long + "</c><d k=\"" + strings.Repeat("v", 70000) + "\"/></a>"
	differential(t, []byte(doc), iotest.HalfReader)
}

func TestErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`<a><b></a>`, "closed by"},
		{`<a><b>&bogus;</b></a>`, "undefined entity"},
		{`<a><b>text`, "unexpected end of input"},
		{`<a x=1></a>`, "unquoted"},
		{``, "unexpected end of input"},
		{`<a></a></b>`, "unexpected end element"},
		{`<a><!-- never closed`, "unexpected end of input"},
		// A body cut inside a CDATA opener is cut, not malformed, so that
		// a caller can resume it.
		{`<a><b><![C`, "unexpected end of input"},
		{`<a><![CD`, "unexpected end of input"},
		{`<a><![`, "unexpected end of input"},
		{`<a><![INCLUDE[ x ]]></a>`, "unsupported markup declaration"},
	}
	for _, c := range cases {
		_, err := walk(strings.NewReader(c.doc), func(string) bool { return false })
		if err == nil {
			// Leaf reading finds some errors the structural walk skips.
			_, err = walk(strings.NewReader(c.doc), func(n string) bool { return n != "a" })
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want SyntaxError with %q", c.doc, err, c.want)
		}
	}
}

func TestInvalidCharactersReplacedAndCounted(t *testing.T) {
	s := New(strings.NewReader("<a><b>ok\x01bad\xffutf8&#1;</b></a>"))
	s.Next()
	s.Next()
	txt, err := s.Text()
	if err != nil {
		t.Fatal(err)
	}
	if string(txt) != "ok\uFFFDbad\uFFFDutf8\uFFFD" || s.Replaced != 3 {
		t.Errorf("text %q replaced %d; want 3 replacements", txt, s.Replaced)
	}
}

func TestLimits(t *testing.T) {
	s := New(strings.NewReader("<a><b>" + strings.Repeat("x", 300000) + "</b></a>"))
	s.SetMaxText(100000)
	s.Next()
	s.Next()
	if _, err := s.Text(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("oversized text: err = %v", err)
	}
	deep := strings.Repeat("<a>", 1000) + strings.Repeat("</a>", 1000)
	_, err := walk(strings.NewReader(deep), func(string) bool { return false })
	if err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep nesting: err = %v", err)
	}
	laughs := `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><a>&lol2;</a>`
	_, err = walk(strings.NewReader(laughs), func(n string) bool { return n == "a" })
	if err == nil || !strings.Contains(err.Error(), "undefined entity") {
		t.Errorf("entity expansion: err = %v, want the entity refused", err)
	}
}

// TestAttributeBounds: a repeated attribute name is malformed XML, and an
// element may carry at most MaxAttrs attributes of at most MaxAttrBytes in
// all; within the bounds, attributes are read as before. The bomb (millions
// of empty attributes in one tag) is refused at the first attribute past
// the bound, with the scanner's memory bounded by the tag itself.
func TestAttributeBounds(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`<a x="1" x="2"></a>`, "repeated attribute x"},
		{`<a><HOST` + strings.Repeat(` a=""`, MaxAttrs+1) + `/></a>`, "repeated attribute a"},
		{`<a><HOST` + attrsN(MaxAttrs+1) + `/></a>`, "more than 256 attributes"},
		{`<a v="` + strings.Repeat("x", MaxAttrBytes) + `"></a>`, "longer than"},
	}
	for _, c := range cases {
		_, err := walk(strings.NewReader(c.doc), func(string) bool { return false })
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60q: err = %v, want SyntaxError with %q", c.doc, err, c.want)
		}
	}
	ok := `<a><HOST` + attrsN(MaxAttrs) + `/></a>`
	got, err := walk(strings.NewReader(ok), func(string) bool { return false })
	if err != nil || len(got) != 4 {
		t.Fatalf("%d attributes: %v (%d events)", MaxAttrs, err, len(got))
	}
	s := New(strings.NewReader(ok))
	s.Next()
	s.Next()
	if v, _ := s.Attr("a255"); v != "255" {
		t.Errorf("a255 = %q", v)
	}
}

func attrsN(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` a%d="%d"`, i, i)
	}
	return b.String()
}

func FuzzDifferential(f *testing.F) {
	for _, d := range docs {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		differential(t, doc)
		// Whatever the input, the scanner ends: no panic, no hang.
		walk(bytes.NewReader(doc), func(string) bool { return true })
	})
}
