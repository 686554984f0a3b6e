// Package xmlstream is a streaming, pull-style XML scanner for the subset of
// XML that Qualys emits: elements, attributes, character data, CDATA
// sections, the five predefined entities and character references,
// comments, processing instructions and a DOCTYPE (skipped, never fetched,
// its internal subset never expanded).
//
// It exists because encoding/xml allocates a token per piece of text and
// cannot say whether text came from a CDATA section, which Qualys' indented
// responses need ("\n  <![CDATA[value]]>\n" is the value "value"). The
// scanner works in place over a reusable buffer, so memory is bounded by the
// largest single token (SetMaxText, DefaultMaxText), never by the document.
//
// It is strict where strictness protects callers (mismatched or unclosed
// tags, undefined entities, bad names and attributes are errors) and
// lenient where real tenants are sloppy: characters that XML 1.0 forbids
// and invalid UTF-8 inside text are replaced with U+FFFD and counted.
package xmlstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Kind is the kind of a structural token.
type Kind int

const (
	// StartElement is an opening tag (or a self-closing one, which is
	// followed by its EndElement).
	StartElement Kind = iota + 1
	// EndElement is a closing tag.
	EndElement
)

// Default limits. They bound memory on hostile input.
const (
	DefaultMaxText  = 64 << 20 // one text value or tag
	DefaultMaxDepth = 256
	// MaxAttrs is the most attributes one element may carry, and
	// MaxAttrBytes the most bytes of their names and values together:
	// Qualys' elements carry at most a handful, and without a bound a
	// tag of many empty attributes (x="" x="" ...) costs tens of bytes
	// of bookkeeping per attribute, hundreds of megabytes for one tag
	// within the text bound.
	MaxAttrs     = 256
	MaxAttrBytes = 1 << 20
	minBuffer    = 64 << 10
)

// SyntaxError reports malformed input at a byte offset.
type SyntaxError struct {
	Offset int64
	Msg    string
	// Err is ErrUnexpectedEOF when the input ended too early.
	Err error
}

// Unwrap returns ErrUnexpectedEOF for truncated input.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Error describes the malformed input.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("xml syntax error at byte %d: %s", e.Offset, e.Msg)
}

// ErrUnexpectedEOF is wrapped by the error returned when the input ends
// inside an element.
var ErrUnexpectedEOF = errors.New("unexpected end of input")

type attr struct {
	name, value []byte
}

// attrSpan locates one attribute's name and value in attrBuf while it
// grows.
type attrSpan struct{ ns, ne, vs, ve int }

type segment struct {
	start, end int
	cdata      bool
}

// Scanner reads structural tokens with Next and leaf text with Text.
type Scanner struct {
	rd      io.Reader
	buf     []byte
	r, w    int
	base    int64 // offset of buf[0] in the input
	rerr    error
	maxText int

	stack    []byte // the open elements' names, concatenated
	stackLen []int  // stackLen[i]: offset in stack where open element i's name starts
	depth    int
	maxDepth int

	name        []byte // current start or end element name (a copy)
	attrs       []attr
	attrBuf     []byte
	spans       []attrSpan // parseAttrs' scratch, reused
	selfClosing bool
	pendingEnd  bool
	rootDone    bool
	started     bool

	text     []byte
	segs     []segment
	segBreak bool // the next text starts a new piece

	// Replaced counts characters replaced with U+FFFD because XML 1.0
	// forbids them or they were not valid UTF-8.
	Replaced int
}

// New returns a scanner reading from r.
func New(r io.Reader) *Scanner {
	return &Scanner{rd: r, buf: make([]byte, minBuffer), maxText: DefaultMaxText, maxDepth: DefaultMaxDepth}
}

// SetMaxText sets the largest text value or tag accepted (default 64 MiB).
func (s *Scanner) SetMaxText(n int) {
	if n > 0 {
		s.maxText = n
	}
}

// Offset returns the offset in the input of the next unread byte.
func (s *Scanner) Offset() int64 { return s.base + int64(s.r) }

// Depth returns the number of open elements.
func (s *Scanner) Depth() int { return s.depth }

// Name returns the name of the element of the last token. It is valid until
// the next call to Next or Text.
func (s *Scanner) Name() []byte { return s.name }

// Attr returns the value of an attribute of the last start element.
func (s *Scanner) Attr(name string) (string, bool) {
	for _, a := range s.attrs {
		if string(a.name) == name {
			return string(a.value), true
		}
	}
	return "", false
}

// AttrBytes is Attr without a copy: the value is valid until the next
// call to Next.
func (s *Scanner) AttrBytes(name string) ([]byte, bool) {
	for _, a := range s.attrs {
		if string(a.name) == name {
			return a.value, true
		}
	}
	return nil, false
}

func (s *Scanner) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: s.Offset(), Msg: fmt.Sprintf(format, args...)}
}

// fill reads more input, keeping buf[r:w]. It returns false at end of
// input or on a read error (kept in rerr).
func (s *Scanner) fill() bool {
	if s.rerr != nil {
		return false
	}
	if s.r > 0 {
		n := copy(s.buf, s.buf[s.r:s.w])
		s.base += int64(s.r)
		s.w = n
		s.r = 0
	}
	if s.w == len(s.buf) {
		if len(s.buf) >= s.maxText+minBuffer {
			s.rerr = s.errorf("token longer than %d bytes", s.maxText)
			return false
		}
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.rd.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// need makes at least n bytes available at r; false if the input ends first.
func (s *Scanner) need(n int) bool {
	for s.w-s.r < n {
		if !s.fill() {
			return s.w-s.r >= n
		}
	}
	return true
}

// find returns the index (relative to r) of sep, reading more as needed.
func (s *Scanner) find(sep []byte, from int) int {
	for {
		if i := bytes.Index(s.buf[s.r+from:s.w], sep); i >= 0 {
			return from + i
		}
		if n := s.w - s.r - len(sep) + 1; n > from {
			from = n
		}
		if !s.fill() {
			return -1
		}
	}
}

func (s *Scanner) eofError(what string) error {
	if s.rerr != nil && s.rerr != io.EOF {
		return s.rerr
	}
	where := "document"
	if s.depth > 0 {
		where = "element <" + string(s.top()) + ">"
	}
	return &SyntaxError{Offset: s.Offset(), Msg: fmt.Sprintf("%v in %s (%s)", ErrUnexpectedEOF, where, what), Err: ErrUnexpectedEOF}
}

func (s *Scanner) top() []byte {
	if s.depth == 0 {
		return nil
	}
	end := len(s.stack)
	start := s.stackLen[s.depth-1]
	return s.stack[start:end]
}

func (s *Scanner) push(name []byte) error {
	if s.depth >= s.maxDepth {
		return s.errorf("elements nested deeper than %d", s.maxDepth)
	}
	s.stackLen = append(s.stackLen[:s.depth], len(s.stack))
	s.stack = append(s.stack, name...)
	s.depth++
	return nil
}

func (s *Scanner) pop() {
	s.depth--
	s.stack = s.stack[:s.stackLen[s.depth]]
	if s.depth == 0 {
		s.rootDone = true
	}
}

// Next returns the next start or end element, skipping text between
// elements, comments, processing instructions and the DOCTYPE. It returns
// io.EOF after the root element has closed and the input has ended.
func (s *Scanner) Next() (Kind, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return EndElement, nil
	}
	for {
		if s.r >= s.w && !s.fill() {
			if s.depth > 0 || !s.started {
				return 0, s.eofError("no more input")
			}
			if s.rerr != nil && s.rerr != io.EOF {
				return 0, s.rerr
			}
			return 0, io.EOF
		}
		c := s.buf[s.r]
		if c != '<' {
			// Text between structural elements: skip it.
			i := bytes.IndexByte(s.buf[s.r:s.w], '<')
			if i < 0 {
				s.r = s.w
				continue
			}
			s.r += i
			continue
		}
		if !s.need(2) {
			return 0, s.eofError("after <")
		}
		switch s.buf[s.r+1] {
		case '/':
			return s.endTag()
		case '!':
			if err := s.skipBang(); err != nil {
				return 0, err
			}
		case '?':
			if err := s.skipPI(); err != nil {
				return 0, err
			}
		default:
			return s.startTag()
		}
	}
}

func (s *Scanner) skipBang() error {
	if !s.need(4) {
		return s.eofError("in markup declaration")
	}
	rest := s.buf[s.r : s.r+4]
	switch {
	case string(rest) == "<!--":
		i := s.find([]byte("-->"), 4)
		if i < 0 {
			return s.eofError("in comment")
		}
		s.r += i + 3
		return nil
	case rest[2] == '[':
		// A CDATA section; anything else in brackets is not XML content.
		// need may move the buffer, so rest is not used after it.
		if !s.need(9) {
			return s.eofError("in markup declaration")
		}
		if string(s.buf[s.r:s.r+9]) != "<![CDATA[" {
			return s.errorf("unsupported markup declaration %q", s.buf[s.r:s.r+4])
		}
		i := s.find([]byte("]]>"), 9)
		if i < 0 {
			return s.eofError("in CDATA section")
		}
		s.r += i + 3
		return nil
	}
	return s.skipDirective()
}

// skipDirective skips a <!DOCTYPE ...> or other <!...> declaration,
// including an internal subset, without interpreting it: no entity it
// declares is ever expanded and no external DTD is fetched. Nesting follows
// encoding/xml: angle brackets outside quotes nest, comments are skipped.
func (s *Scanner) skipDirective() error {
	depth := 0
	var quote byte
	at := func(i int) (byte, bool) {
		if s.r+i >= s.w && !s.need(i+1) {
			return 0, false
		}
		return s.buf[s.r+i], true
	}
	// Like encoding/xml, the byte after "<!" is taken as part of the
	// keyword and not interpreted.
	for i := 3; ; i++ {
		if i > s.maxText {
			return s.errorf("declaration longer than %d bytes", s.maxText)
		}
		c, ok := at(i)
		if !ok {
			return s.eofError("in declaration")
		}
		switch {
		case quote == 0 && c == '>' && depth == 0:
			s.r += i + 1
			return nil
		case c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			depth--
		case c == '<':
			if s.need(i+4) && string(s.buf[s.r+i:s.r+i+4]) == "<!--" {
				j := s.find([]byte("-->"), i+4)
				if j < 0 {
					return s.eofError("in comment")
				}
				i = j + 2
				continue
			}
			depth++
		}
	}
}

func (s *Scanner) skipPI() error {
	i := s.find([]byte("?>"), 2)
	if i < 0 {
		return s.eofError("in processing instruction")
	}
	s.r += i + 2
	return nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':' || c >= 0x80
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || c >= 0x80
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// tagEnd finds the '>' closing the tag at r, honouring quoted attribute
// values.
func (s *Scanner) tagEnd() (int, error) {
	var quote byte
	for i := 1; ; i++ {
		if s.r+i >= s.w {
			if i > s.maxText {
				return 0, s.errorf("tag longer than %d bytes", s.maxText)
			}
			if !s.need(i + 1) {
				return 0, s.eofError("in tag")
			}
		}
		c := s.buf[s.r+i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i, nil
		case c == '<':
			return 0, s.errorf("unexpected < in tag")
		}
	}
}

func (s *Scanner) startTag() (Kind, error) {
	if s.rootDone && s.depth == 0 {
		// A second root: allowed so that callers can recognise an error
		// document appended after the response (Qualys does this when a
		// long response fails midway).
		s.rootDone = false
	}
	end, err := s.tagEnd()
	if err != nil {
		return 0, err
	}
	tag := s.buf[s.r+1 : s.r+end]
	s.selfClosing = len(tag) > 0 && tag[len(tag)-1] == '/'
	if s.selfClosing {
		tag = tag[:len(tag)-1]
	}
	if len(tag) == 0 || !isNameStart(tag[0]) {
		return 0, s.errorf("invalid element name")
	}
	n := 1
	for n < len(tag) && isNameByte(tag[n]) {
		n++
	}
	s.name = append(s.name[:0], tag[:n]...)
	if err := s.parseAttrs(tag[n:]); err != nil {
		return 0, err
	}
	s.r += end + 1
	if err := s.push(s.name); err != nil {
		return 0, err
	}
	s.started = true
	if s.selfClosing {
		s.pendingEnd = true
	}
	return StartElement, nil
}

// parseAttrs reads the attributes of a start tag. An element with more
// than MaxAttrs attributes, or more than MaxAttrBytes of them, is refused,
// and so is a repeated attribute name (XML 1.0, well-formedness constraint
// "Unique Att Spec").
func (s *Scanner) parseAttrs(b []byte) error {
	s.attrs = s.attrs[:0]
	s.attrBuf = s.attrBuf[:0]
	s.spans = s.spans[:0]
	for {
		i := 0
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			break
		}
		b = b[i:]
		if len(s.spans) == MaxAttrs {
			return s.errorf("more than %d attributes in one element", MaxAttrs)
		}
		if !isNameStart(b[0]) {
			return s.errorf("invalid attribute name")
		}
		n := 1
		for n < len(b) && isNameByte(b[n]) {
			n++
		}
		for _, sp := range s.spans {
			if bytes.Equal(s.attrBuf[sp.ns:sp.ne], b[:n]) {
				return s.errorf("repeated attribute %s", b[:n])
			}
		}
		ns := len(s.attrBuf)
		s.attrBuf = append(s.attrBuf, b[:n]...)
		ne := len(s.attrBuf)
		b = b[n:]
		for len(b) > 0 && isSpace(b[0]) {
			b = b[1:]
		}
		if len(b) == 0 || b[0] != '=' {
			return s.errorf("attribute without value")
		}
		b = b[1:]
		for len(b) > 0 && isSpace(b[0]) {
			b = b[1:]
		}
		if len(b) == 0 || (b[0] != '"' && b[0] != '\'') {
			return s.errorf("unquoted attribute value")
		}
		q := b[0]
		j := bytes.IndexByte(b[1:], q)
		if j < 0 {
			return s.errorf("unterminated attribute value")
		}
		raw := b[1 : 1+j]
		if bytes.IndexByte(raw, '<') >= 0 {
			return s.errorf("< in attribute value")
		}
		if len(s.attrBuf)+len(raw) > MaxAttrBytes {
			return s.errorf("attributes of one element longer than %d bytes", MaxAttrBytes)
		}
		vs := len(s.attrBuf)
		var err error
		if s.attrBuf, err = s.appendText(s.attrBuf, raw); err != nil {
			return err
		}
		s.spans = append(s.spans, attrSpan{ns, ne, vs, len(s.attrBuf)})
		b = b[2+j:]
	}
	for _, sp := range s.spans {
		s.attrs = append(s.attrs, attr{name: s.attrBuf[sp.ns:sp.ne], value: s.attrBuf[sp.vs:sp.ve]})
	}
	return nil
}

func (s *Scanner) endTag() (Kind, error) {
	end, err := s.tagEnd()
	if err != nil {
		return 0, err
	}
	tag := s.buf[s.r+2 : s.r+end]
	for len(tag) > 0 && isSpace(tag[len(tag)-1]) {
		tag = tag[:len(tag)-1]
	}
	if s.depth == 0 {
		return 0, s.errorf("unexpected end element </%s>", tag)
	}
	if !bytes.Equal(tag, s.top()) {
		return 0, s.errorf("element <%s> closed by </%s>", s.top(), tag)
	}
	s.name = append(s.name[:0], tag...)
	s.r += end + 1
	s.pop()
	return EndElement, nil
}

// Skip consumes the rest of the element whose start was just returned,
// including its children.
func (s *Scanner) Skip() error {
	target := s.depth - 1
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return nil
	}
	for s.depth > target {
		if _, err := s.Next(); err != nil {
			return err
		}
	}
	return nil
}

// Text reads the content of the element whose start was just returned, up to
// and including its end tag, and returns its text: character data with
// entities resolved and CDATA sections verbatim, line ends normalised to LF.
// When the text comes in several pieces (separated by CDATA sections,
// comments, processing instructions or skipped child elements), pieces that
// are only white space are indentation and are dropped, so that an indented
// "\n    <![CDATA[value]]>\n  " is "value" while CDATA content is kept
// exactly. Child elements are skipped. The result is valid until the next
// call to Next or Text.
func (s *Scanner) Text() ([]byte, error) {
	s.text = s.text[:0]
	s.segs = s.segs[:0]
	if s.pendingEnd {
		s.pendingEnd = false
		s.pop()
		return s.text, nil
	}
	s.segBreak = false
	target := s.depth - 1
	for {
		if s.r >= s.w && !s.fill() {
			return nil, s.eofError("in text")
		}
		if s.buf[s.r] != '<' {
			if err := s.charData(); err != nil {
				return nil, err
			}
			continue
		}
		if !s.need(2) {
			return nil, s.eofError("after <")
		}
		switch s.buf[s.r+1] {
		case '/':
			if _, err := s.endTag(); err != nil {
				return nil, err
			}
			if s.depth == target {
				if len(s.segs) > 1 {
					s.dropIndentation()
				}
				return s.text, nil
			}
		case '!':
			if s.need(9) && string(s.buf[s.r:s.r+9]) == "<![CDATA[" {
				if err := s.cdataSection(); err != nil {
					return nil, err
				}
				continue
			}
			if err := s.skipBang(); err != nil {
				return nil, err
			}
			s.segBreak = true
		case '?':
			if err := s.skipPI(); err != nil {
				return nil, err
			}
			s.segBreak = true
		default:
			s.segBreak = true
			if _, err := s.startTag(); err != nil {
				return nil, err
			}
			if err := s.Skip(); err != nil {
				return nil, err
			}
		}
	}
}

// charData appends the character data at the read position, up to the next
// '<' or what the buffer holds of it, to the text. When the buffer ends
// inside the text, an entity, a UTF-8 sequence or a CR cut by the buffer
// end is kept for the next round (after the buffer has grown).
func (s *Scanner) charData() error {
	i := bytes.IndexByte(s.buf[s.r:s.w], '<')
	chunk := s.buf[s.r:s.w]
	if i >= 0 {
		chunk = s.buf[s.r : s.r+i]
	} else if chunk = holdBack(chunk); len(chunk) == 0 {
		if !s.need(s.w - s.r + 1) {
			return s.eofError("in text")
		}
		return nil
	}
	start := len(s.text)
	var err error
	if s.text, err = s.appendText(s.text, chunk); err != nil {
		return err
	}
	s.addSeg(start, false)
	s.r += len(chunk)
	if len(s.text) > s.maxText {
		return s.errorf("text of <%s> longer than %d bytes", s.top(), s.maxText)
	}
	return nil
}

// cdataSection appends the CDATA section at the read position, verbatim
// (checked for characters XML forbids), to the text.
func (s *Scanner) cdataSection() error {
	i := s.find([]byte("]]>"), 9)
	if i < 0 {
		return s.eofError("in CDATA section")
	}
	start := len(s.text)
	s.text = s.appendChecked(s.text, s.buf[s.r+9:s.r+i])
	s.addSeg(start, true)
	s.r += i + 3
	if len(s.text) > s.maxText {
		return s.errorf("text of <%s> longer than %d bytes", s.top(), s.maxText)
	}
	return nil
}

func (s *Scanner) addSeg(start int, cdata bool) {
	if n := len(s.segs); n > 0 && !cdata && !s.segs[n-1].cdata && !s.segBreak {
		s.segs[n-1].end = len(s.text)
		return
	}
	s.segBreak = cdata
	s.segs = append(s.segs, segment{start, len(s.text), cdata})
}

func (s *Scanner) dropIndentation() {
	out := s.text[:0]
	for _, sg := range s.segs {
		part := s.text[sg.start:sg.end]
		if len(bytes.TrimLeft(part, " \t\n")) == 0 {
			continue
		}
		out = append(out, part...)
	}
	s.text = out
}

// appendText appends raw character data with entity and character
// references resolved, checking characters.
func (s *Scanner) appendText(dst, raw []byte) ([]byte, error) {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '&')
		if i < 0 {
			return s.appendChecked(dst, raw), nil
		}
		dst = s.appendChecked(dst, raw[:i])
		raw = raw[i:]
		j := bytes.IndexByte(raw, ';')
		if j < 0 || j > 12 {
			return dst, s.errorf("unterminated entity reference")
		}
		ent := raw[1:j]
		raw = raw[j+1:]
		switch string(ent) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "apos":
			dst = append(dst, '\'')
		case "quot":
			dst = append(dst, '"')
		default:
			r, ok := charRef(ent)
			if !ok {
				return dst, s.errorf("undefined entity &%s;", ent)
			}
			if !isXMLChar(r) {
				s.Replaced++
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst, nil
}

// holdBack trims from the end of a text chunk that the buffer cut short an
// incomplete entity reference, UTF-8 sequence or CR (which may be the first
// half of a CRLF).
func holdBack(chunk []byte) []byte {
	if amp := bytes.LastIndexByte(chunk, '&'); amp >= 0 && bytes.IndexByte(chunk[amp:], ';') < 0 {
		chunk = chunk[:amp]
	}
	for k := 1; k <= 3 && k <= len(chunk); k++ {
		c := chunk[len(chunk)-k]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 { // start byte of the last sequence
			if !utf8.FullRune(chunk[len(chunk)-k:]) {
				chunk = chunk[:len(chunk)-k]
			}
			break
		}
	}
	if n := len(chunk); n > 0 && chunk[n-1] == '\r' {
		chunk = chunk[:n-1]
	}
	return chunk
}

func charRef(ent []byte) (rune, bool) {
	if len(ent) < 2 || ent[0] != '#' {
		return 0, false
	}
	base := 10
	d := ent[1:]
	if d[0] == 'x' {
		base = 16
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 8 {
		return 0, false
	}
	var r rune
	for _, c := range d {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case base == 16 && c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case base == 16 && c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*rune(base) + rune(v)
	}
	return r, r <= utf8.MaxRune
}

// isXMLChar reports whether r is a character XML 1.0 allows.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// appendChecked appends b, replacing characters XML 1.0 forbids and invalid
// UTF-8 with U+FFFD. The common case (printable ASCII) is copied in bulk.
func (s *Scanner) appendChecked(dst, b []byte) []byte {
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x20 && c < 0x80 || c == '\n' || c == '\t' {
			i++
			continue
		}
		if c == '\r' {
			// Line ends are normalised to LF, as XML requires.
			dst = append(dst, b[start:i]...)
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
				start = i
				continue
			}
			dst = append(dst, '\n')
			i++
			start = i
			continue
		}
		if c >= 0x80 {
			r, size := utf8.DecodeRune(b[i:])
			if (r != utf8.RuneError || size > 1) && isXMLChar(r) {
				i += size
				continue
			}
			dst = append(dst, b[start:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
			s.Replaced++
			i += size
			start = i
			continue
		}
		dst = append(dst, b[start:i]...)
		dst = utf8.AppendRune(dst, utf8.RuneError)
		s.Replaced++
		i++
		start = i
	}
	return append(dst, b[start:]...)
}
