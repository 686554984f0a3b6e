package qualys

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

const docHead = `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>2</QID><RESULTS>`
const docTail = `</RESULTS></DETECTION></DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`

// repeatReader yields n bytes of b repeated, without holding them.
type repeatReader struct {
	b []byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.n > 0 {
		c := copy(p[k:], r.b)
		if int64(c) > r.n {
			c = int(r.n)
		}
		k += c
		r.n -= int64(c)
	}
	return k, nil
}

func TestHostileHugeResultsIsBounded(t *testing.T) {
	r := io.MultiReader(strings.NewReader(docHead+"<![CDATA["), &repeatReader{b: []byte("xxxxxxxxxxxxxxxx"), n: 100 << 20}, strings.NewReader("]]>"+docTail))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var err error
	for _, e := range DecodeDetections(r) {
		err = e
	}
	runtime.ReadMemStats(&after)
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("err = %v, want a DecodeError about the size", err)
	}
	if grown := int64(after.TotalAlloc - before.TotalAlloc); grown > 80<<20 {
		t.Errorf("allocated %d MB for a 100 MB value; want it bounded by the 16 MB limit", grown>>20)
	}
}

// TestHostileAttributeBomb: <HOST> tags carrying millions of empty
// attributes (14 MB, within the text bound) once cost half a gigabyte of
// bookkeeping; the decoder now refuses the tag at the first attribute past
// the scanner's bounds (a repeated name, or the 257th), with what it
// allocates bounded by the tag itself.
func TestHostileAttributeBomb(t *testing.T) {
	for _, c := range []struct{ name, attr, want string }{
		{"repeated", ` a=""`, "repeated attribute"},
		{"distinct", "", "more than 256 attributes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tag bytes.Buffer
			tag.WriteString("<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST")
			for i := 0; tag.Len() < 14<<20; i++ {
				if c.attr != "" {
					tag.WriteString(c.attr)
				} else {
					fmt.Fprintf(&tag, " a%d=\"\"", i)
				}
			}
			tag.WriteString("><ID>1</ID></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>")
			doc := tag.Bytes()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var err error
			for _, e := range DecodeDetections(bytes.NewReader(doc)) {
				err = e
			}
			runtime.ReadMemStats(&after)
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a DecodeError with %q", err, c.want)
			}
			if grown := int64(after.TotalAlloc - before.TotalAlloc); grown > 64<<20 {
				t.Errorf("allocated %d MB decoding a 14 MB tag; want it bounded by the tag", grown>>20)
			}
		})
	}
}

func TestHostileDocuments(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, doc, want string }{
		{"billion laughs", `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` +
			docHead + `&c;` + docTail, "undefined entity"},
		{"deep nesting", `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID>` + strings.Repeat("<X>", 100000), "nested deeper"},
		{"external entity", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + docHead + `&e;` + docTail, "undefined entity"},
		{"truncated", docHead + "abc", "unexpected end"},
		{"garbage", "\x00\x01\x02 not xml at all", "end of input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			for _, e := range DecodeDetections(strings.NewReader(c.doc)) {
				err = e
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want a DecodeError mentioning %q", err, c.want)
			}
		})
	}
}

func TestHostileInvalidUTF8IsReplaced(t *testing.T) {
	t.Parallel()
	var got string
	for h, err := range DecodeDetections(strings.NewReader(docHead + "caf\xe9 \xff\xfe ok" + docTail)) {
		if err != nil {
			t.Fatal(err)
		}
		got = h.Detections[0].Results
	}
	if got != "caf\uFFFD \uFFFD\uFFFD ok" {
		t.Errorf("results %q", got)
	}
}

func TestHostileSlowDripStopsWithTheContext(t *testing.T) {
	t.Parallel()
	// A body that never ends: a keep-alive comment every 20 ms forever.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE>`)
		for {
			if _, err := io.WriteString(w, "<!-- keep-alive -->\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	c, _ := NewClient(srv.URL, WithCredentials("u", "p"), WithInsecureLoopback())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The body never ends: only the context ends the listing.
	var err error
	for _, e := range c.Detections.List(ctx, nil) {
		err = e
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func TestHostileGiganticJSONNumber(t *testing.T) {
	t.Parallel()
	doc := `{"ServiceResponse":{"responseCode":"SUCCESS","data":[{"HostAsset":{"id":` + strings.Repeat("9", 100000) + `}}]}}`
	var err error
	for _, e := range DecodeHostAssets(strings.NewReader(doc)) {
		err = e
	}
	var de *DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("err = %v", err)
	}
}

// refHost decodes a HOST with encoding/xml, the reference the project's
// decoder must agree with on valid input.
type refHost struct {
	ID         int64  `xml:"ID"`
	IP         string `xml:"IP"`
	OS         string `xml:"OS"`
	DNS        string `xml:"DNS"`
	Detections []struct {
		QID      int64  `xml:"QID"`
		Severity int    `xml:"SEVERITY"`
		Port     int    `xml:"PORT"`
		Status   string `xml:"STATUS"`
		Results  string `xml:"RESULTS"`
	} `xml:"DETECTION_LIST>DETECTION"`
}

func refDecode(doc []byte) ([]refHost, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var out []refHost
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "HOST" {
			var h refHost
			if err := d.DecodeElement(&h, &se); err != nil {
				return nil, err
			}
			out = append(out, h)
		}
	}
}

func FuzzDecodeDetections(f *testing.F) {
	for _, name := range []string{"detections_indented.xml", "detections_error_after_hosts.xml", "detections_empty.xml"} {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(docHead + "x &amp; y" + docTail))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var ours []*DetectionHost
		var oerr error
		for h, err := range DecodeDetections(bytes.NewReader(doc)) {
			if err != nil {
				oerr = err
				var de *DecodeError
				var qe *Error
				if !errors.As(err, &de) && !errors.As(err, &qe) {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				break
			}
			ours = append(ours, h)
		}
		ref, rerr := refDecode(doc)
		if oerr != nil || rerr != nil {
			return // compare only where both accept
		}
		if len(ref) != len(ours) {
			// encoding/xml also decodes HOST elements outside HOST_LIST
			// or a document with another root; ours does not.
			return
		}
		for i := range ref {
			r, o := ref[i], ours[i]
			if r.ID != o.ID || strings.TrimSpace(r.IP) != o.IP || strings.TrimSpace(r.OS) != strings.TrimSpace(o.OS) || len(r.Detections) != len(o.Detections) {
				t.Fatalf("host %d disagrees: ref %+v ours %+v", i, r, o)
			}
			for k := range r.Detections {
				rd, od := r.Detections[k], o.Detections[k]
				if rd.QID != od.QID || rd.Severity != od.Severity || rd.Port != od.Port || strings.TrimSpace(rd.Status) != string(od.Status) ||
					strings.TrimSpace(rd.Results) != strings.TrimSpace(od.Results) {
					t.Fatalf("detection %d/%d disagrees: ref %+v ours %+v", i, k, rd, od)
				}
			}
		}
	})
}

func FuzzDecodeHostAssets(f *testing.F) {
	f.Add(fixture(f, "hostassets_page.json"))
	f.Add([]byte(`{"ServiceResponse":{"responseCode":"INVALID_CREDENTIALS"}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for a, err := range DecodeHostAssets(bytes.NewReader(doc)) {
			if err != nil {
				var de *DecodeError
				var qe *Error
				if !errors.As(err, &de) && !errors.As(err, &qe) {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				return
			}
			if a.ID <= 0 {
				t.Fatalf("asset without an id accepted: %+v", a)
			}
		}
	})
}

func FuzzDecodeAssets(f *testing.F) {
	f.Add(fixture(f, "gateway_assets.json"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for a, err := range DecodeAssets(bytes.NewReader(doc)) {
			if err != nil {
				var de *DecodeError
				var qe *Error
				if !errors.As(err, &de) && !errors.As(err, &qe) {
					t.Fatalf("untyped error %T: %v", err, err)
				}
				return
			}
			if a.AssetID <= 0 {
				t.Fatalf("asset without an id accepted: %+v", a)
			}
		}
	})
}

// FuzzClassify feeds arbitrary bodies to the code that classifies error and
// SIMPLE_RETURN responses: it must never panic, and never quote more than
// a short snippet.
func FuzzClassify(f *testing.F) {
	f.Add([]byte(simpleErr("1965", "This API cannot be run again for another 23 hours.")), 409)
	f.Add([]byte(simpleOK), 200)
	f.Add([]byte(`<html><title>Maintenance</title></html>`), 503)
	f.Add([]byte(`{"ServiceResponse":{"responseCode":"INVALID_REQUEST","responseErrorDetails":{"errorMessage":"x"}}}`), 200)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		e := &Error{StatusCode: status}
		fillError(e, "", body)
		if len(e.Snippet) > 400 {
			t.Fatalf("snippet of %d bytes", len(e.Snippet))
		}
		rootElement(body)
		parseSimpleReturn(body)
		_ = e.Error()
		_ = errors.Is(e, ErrRateLimited)
	})
}

// manyCVEs is a detection whose CVE text lists n ids, then the first
// 1,000 of them again.
func manyCVEs(n int) string {
	var b strings.Builder
	b.WriteString(`<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>2</QID><CVE>`)
	for i := range n {
		fmt.Fprintf(&b, "CVE-2024-%d,", 10000+i)
	}
	for i := range min(n, 1000) {
		fmt.Fprintf(&b, "CVE-2024-%d ", 10000+i)
	}
	b.WriteString(`</CVE></DETECTION></DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`)
	return b.String()
}

// One detection listing 100,000 CVE ids (1,000 of them twice) decodes to
// 100,000 ids, in order, with allocations linear in the input: a few bytes per
// byte read (the duplicate check once took 20 s of CPU on this input; its
// cost is BenchmarkDecodeManyCVEs's).
func TestManyCVEsLinear(t *testing.T) {
	doc := manyCVEs(100_000)
	var det *Detection
	allocs := testing.AllocsPerRun(1, func() {
		for h, err := range DecodeDetections(strings.NewReader(doc)) {
			if err != nil {
				t.Fatal(err)
			}
			det = &h.Detections[0]
		}
	})
	if len(det.CVEs) != 100_000 || det.CVEs[0] != "CVE-2024-10000" || det.CVEs[99_999] != "CVE-2024-109999" {
		t.Fatalf("%d CVEs (%v ... )", len(det.CVEs), det.CVEs[:min(3, len(det.CVEs))])
	}
	// Each id is one string (the set used to drop duplicates is a handful
	// of allocations): 101,000 ids read, well under 3 allocations each.
	if allocs > 303_000 {
		t.Errorf("%.0f allocations for 101,000 ids", allocs)
	}
	// The ids count against MaxRecordItems.
	old := recordItemsLimit
	recordItemsLimit = 1000
	defer func() { recordItemsLimit = old }()
	var err error
	for _, e := range DecodeDetections(strings.NewReader(doc)) {
		err = e
	}
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("err = %v, want ErrRecordTooLarge past MaxRecordItems", err)
	}
}

func BenchmarkDecodeManyCVEs(b *testing.B) {
	doc := manyCVEs(100_000)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		for _, err := range DecodeDetections(strings.NewReader(doc)) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// An empty list item adds nothing: a KnowledgeBase CVE whose ID is empty
// CDATA, an empty tag, an empty detection CVE list item.
func TestEmptyListItems(t *testing.T) {
	kb := `<KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><VULN_LIST><VULN><QID>1</QID><CVE_LIST>` +
		`<CVE><ID><![CDATA[]]></ID><URL><![CDATA[]]></URL></CVE><CVE><ID><![CDATA[CVE-2024-1]]></ID></CVE><CVE></CVE>` +
		`</CVE_LIST></VULN></VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>`
	for v, err := range DecodeKnowledgeBase(strings.NewReader(kb)) {
		if err != nil {
			t.Fatal(err)
		}
		if len(v.CVEs) != 1 || v.CVEs[0].ID != "CVE-2024-1" {
			t.Errorf("CVEs %+v, want only CVE-2024-1", v.CVEs)
		}
	}
	det := `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><TAGS><TAG></TAG><TAG><NAME>a</NAME></TAG></TAGS>` +
		`<DETECTION_LIST><DETECTION><QID>2</QID><CVE_LIST><CVE><ID><![CDATA[]]></ID></CVE><CVE><ID>CVE-2024-2</ID></CVE></CVE_LIST></DETECTION></DETECTION_LIST>` +
		`</HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`
	for h, err := range DecodeDetections(strings.NewReader(det)) {
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Tags) != 1 || h.Tags[0].Name != "a" {
			t.Errorf("tags %+v, want only a", h.Tags)
		}
		if c := h.Detections[0].CVEs; len(c) != 1 || c[0] != "CVE-2024-2" {
			t.Errorf("detection CVEs %q", c)
		}
	}
}
