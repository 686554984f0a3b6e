package qualys

import (
	"context"
	"io"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KnowledgeBaseService lists vulnerabilities from the Qualys KnowledgeBase
// (/api/4.0/fo/knowledge_base/vuln/ by default; see EndpointKnowledgeBase).
type KnowledgeBaseService struct{ c *Client }

// DefaultKBChunk is the number of QIDs asked for in one KnowledgeBase call.
const DefaultKBChunk = 500

// KBDetails is how much of each KnowledgeBase entry is returned (the
// details parameter). The API's own default is Basic; this client's is
// All, because the connector maps the texts.
type KBDetails string

// The KnowledgeBase detail levels.
const (
	// DetailsBasic returns each entry's basic elements (title, type,
	// severity, category, dates, CVE and vendor references, software,
	// CVSS scores, threat intelligence) without the texts: Diagnosis,
	// Consequence and Solution are empty.
	DetailsBasic KBDetails = "Basic"
	// DetailsAll returns everything Basic does plus the texts.
	DetailsAll KBDetails = "All"
	// DetailsNone returns the QIDs alone, every other field empty: the
	// cheapest way to learn which QIDs exist or changed since a date.
	DetailsNone KBDetails = "None"
)

// KnowledgeBaseQuery selects KnowledgeBase entries.
type KnowledgeBaseQuery struct {
	// QIDs to fetch. They are sorted, deduplicated and split into chunks
	// of ChunkSize, every chunk fetched in turn with the ids in a POST body.
	// Empty means the whole KnowledgeBase (filtered by the other fields).
	QIDs []int64
	// ChunkSize is the number of QIDs per call (default DefaultKBChunk).
	ChunkSize int
	// Details is DetailsBasic, DetailsAll or DetailsNone (default All).
	Details KBDetails
	// LastModifiedAfter keeps entries modified by the service since then.
	LastModifiedAfter time.Time
	// PublishedAfter keeps entries published since then.
	PublishedAfter time.Time
	// IsPatchable keeps only patchable (or only unpatchable) entries.
	IsPatchable *bool
	// ShowDisabledFlag adds IS_DISABLED to each entry.
	ShowDisabledFlag *bool
}

// Vulnerability is one KnowledgeBase entry (VULN).
type Vulnerability struct {
	QID                 int64     `json:"qid,omitzero"`
	VulnType            string    `json:"vuln_type,omitzero"` // Vulnerability, Potential Vulnerability, Information Gathered, ...
	Severity            int       `json:"severity,omitzero"`  // SEVERITY_LEVEL, 1-5
	Title               string    `json:"title,omitzero"`
	Category            string    `json:"category,omitzero"`
	Published           time.Time `json:"published,omitzero"`
	LastServiceModified time.Time `json:"last_service_modified,omitzero"`
	// PatchPublished is PATCH_PUBLISHED_DATE (KnowledgeBase 3.0 and
	// later): when the vendor published a fix, zero when none is known.
	PatchPublished time.Time    `json:"patch_published,omitzero"`
	Patchable      bool         `json:"patchable,omitzero"`
	Disabled       bool         `json:"disabled,omitzero"`
	PCIFlag        bool         `json:"pci_flag,omitzero"`
	CVEs           []Reference  `json:"cves,omitzero"`
	VendorRefs     []Reference  `json:"vendor_refs,omitzero"`
	Software       []KBSoftware `json:"software,omitzero"`
	Diagnosis      string       `json:"diagnosis,omitzero"`
	Consequence    string       `json:"consequence,omitzero"`
	Solution       string       `json:"solution,omitzero"`
	CVSS           CVSS         `json:"cvss,omitzero"`
	CVSSV3         CVSS         `json:"cvss_v3,omitzero"`
	// ThreatIntel names the threat-intelligence categories (Easy Exploit,
	// Active Attacks, ...); ThreatIntelIDs are their ids, in the same
	// order ("" where the answer gave none).
	ThreatIntel    []string `json:"threat_intel,omitzero"`
	ThreatIntelIDs []string `json:"threat_intel_ids,omitzero"`
	// Bugtraq lists the Bugtraq ids (BUGTRAQ_LIST).
	Bugtraq []Reference `json:"bugtraq,omitzero"`
	// Discovery says how the vulnerability is found (DISCOVERY).
	Discovery Discovery `json:"discovery,omitzero"`
	// Exploits and Malware are the CORRELATION: public exploits and
	// malware associated with the vulnerability, by source.
	Exploits []Exploit `json:"exploits,omitzero"`
	Malware  []Malware `json:"malware,omitzero"`
}

// Discovery is how a vulnerability is detected: remotely (without
// credentials), and with which authentication types.
type Discovery struct {
	Remote         bool     `json:"remote,omitzero"`
	AuthTypes      []string `json:"auth_types,omitzero"` // Windows, Unix, Oracle, ...
	AdditionalInfo string   `json:"additional_info,omitzero"`
}

// Exploit is one public exploit of a vulnerability (CORRELATION/EXPLOITS).
type Exploit struct {
	Source      string `json:"source,omitzero"` // SRC_NAME: The Exploit-DB, Metasploit, ...
	Ref         string `json:"ref,omitzero"`    // a CVE id or the source's reference
	Description string `json:"description,omitzero"`
	Link        string `json:"link,omitzero"`
}

// Malware is one malware associated with a vulnerability
// (CORRELATION/MALWARE).
type Malware struct {
	Source   string `json:"source,omitzero"` // SRC_NAME: Trend Micro, ...
	ID       string `json:"id,omitzero"`
	Type     string `json:"type,omitzero"`
	Platform string `json:"platform,omitzero"`
	Alias    string `json:"alias,omitzero"`
	Rating   string `json:"rating,omitzero"`
	Link     string `json:"link,omitzero"`
}

// Reference is a CVE or vendor reference: its id and URL.
type Reference struct {
	ID  string `json:"id,omitzero"`
	URL string `json:"url,omitzero"`
}

// KBSoftware is a product a vulnerability affects.
type KBSoftware struct {
	Product string `json:"product,omitzero"`
	Vendor  string `json:"vendor,omitzero"`
}

// CVSS holds CVSS scores; zero when absent.
type CVSS struct {
	Base     float64 `json:"base,omitzero"`
	Temporal float64 `json:"temporal,omitzero"`
	Vector   string  `json:"vector,omitzero"`
}

// MaxCVSSBase returns the highest known CVSS base score (v3 or v2) and
// whether there is one.
func (v *Vulnerability) MaxCVSSBase() (float64, bool) {
	m := max(v.CVSS.Base, v.CVSSV3.Base)
	return m, m > 0
}

// List streams the KnowledgeBase entries for q. Every chunk of QIDs is
// fetched (a peer connector only ever enriched the first); entries are
// decoded one at a time.
func (s *KnowledgeBaseService) List(ctx context.Context, q *KnowledgeBaseQuery) iter.Seq2[*Vulnerability, error] {
	var qc KnowledgeBaseQuery
	if q != nil {
		qc = *q
		qc.QIDs = slices.Clone(q.QIDs)
	}
	return func(yield func(*Vulnerability, error) bool) {
		yield = scrubbed(s.c, yield)
		base := url.Values{"action": {"list"}}
		details := qc.Details
		if details == "" {
			details = "All"
		}
		switch details {
		case "Basic", "All", "None":
		default:
			yield(nil, &ConfigError{Option: "KnowledgeBaseQuery.Details", Reason: "want Basic, All or None"})
			return
		}
		base.Set("details", string(details))
		if !qc.LastModifiedAfter.IsZero() {
			base.Set("last_modified_by_service_after", qualysTime(qc.LastModifiedAfter))
		}
		if !qc.PublishedAfter.IsZero() {
			base.Set("published_after", qualysTime(qc.PublishedAfter))
		}
		if qc.IsPatchable != nil {
			base.Set("is_patchable", boolInt(*qc.IsPatchable))
		}
		if qc.ShowDisabledFlag != nil {
			base.Set("show_disabled_flag", boolInt(*qc.ShowDisabledFlag))
		}
		chunk := qc.ChunkSize
		if chunk <= 0 {
			chunk = DefaultKBChunk
		}
		qids := slices.Compact(slices.Sorted(slices.Values(qc.QIDs)))
		var chunks [][]int64
		for len(qids) > 0 {
			n := min(chunk, len(qids))
			chunks = append(chunks, qids[:n])
			qids = qids[n:]
		}
		if len(chunks) == 0 {
			chunks = [][]int64{nil}
		}
		path := s.c.EndpointPath(EndpointKnowledgeBase)
		for _, ids := range chunks {
			form := url.Values{}
			for k, v := range base {
				form[k] = v
			}
			if ids != nil {
				form.Set("ids", compressIDs(ids))
			}
			if !s.fetch(ctx, path, form, yield) {
				return
			}
		}
	}
}

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// compressIDs writes sorted ids as the API's list syntax, with ranges for
// consecutive runs ("1-5,9").
func compressIDs(ids []int64) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(ids[i], 10))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.FormatInt(ids[j], 10))
		}
		i = j + 1
	}
	return b.String()
}

// fetch streams one chunk. When the answer is cut, the QIDs of the chunk
// not yet delivered are asked for again, within the retry budget.
// Get looks up KnowledgeBase entries by QID and returns them keyed by
// QID, with all details. A QID the KnowledgeBase does not know is absent
// from the map, not an error; duplicates and order in qids do not
// matter; no QIDs is an empty map without a call. The entries are fetched DefaultKBChunk QIDs per call; use List
// for other detail levels, filters, or to stream a large set without
// holding it.
func (s *KnowledgeBaseService) Get(ctx context.Context, qids []int64) (map[int64]*Vulnerability, error) {
	out := make(map[int64]*Vulnerability, len(qids))
	if len(qids) == 0 {
		return out, nil
	}
	for v, err := range s.List(ctx, &KnowledgeBaseQuery{QIDs: qids, Details: DetailsAll}) {
		if err != nil {
			return nil, err
		}
		out[v.QID] = v
	}
	return out, nil
}

func (s *KnowledgeBaseService) fetch(ctx context.Context, path string, form url.Values, yield func(*Vulnerability, error) bool) bool {
	ids := form.Get("ids")
	delivered := map[int64]bool{}
	for resumes := 0; ; {
		resp, err := s.c.postFO(ctx, EndpointKnowledgeBase, "list", form, true)
		if err != nil {
			yield(nil, err)
			return false
		}
		d := &xdec{s: newScanner(resp.Body), endpoint: path}
		var failed error
		ok := streamRecords(ctx, rooted(d, d.nextVuln, kbRoot), func(v *Vulnerability, err error) bool {
			if err != nil {
				failed = err
				return false
			}
			delivered[v.QID] = true
			return yield(v, nil)
		})
		resp.Body.Close()
		if ok {
			return true
		}
		if failed == nil {
			return false // the consumer stopped
		}
		// Without ids the listing cannot say what is left to ask for.
		if ids == "" {
			yield(nil, failed)
			return false
		}
		rest := remainingIDs(ids, delivered)
		if rest == "" && resumable(failed) {
			return true
		}
		resume, err := s.c.resumeCut(ctx, failed, &resumes, "KnowledgeBase answer")
		if !resume {
			yield(nil, err)
			return false
		}
		form = withParam(form, "ids", rest)
	}
}

// remainingIDs expands an ids list ("1-3,7") and returns, compressed, the
// ids not delivered yet.
func remainingIDs(list string, delivered map[int64]bool) string {
	var rest []int64
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseInt(lo, 10, 64)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseInt(hi, 10, 64)
		}
		if err1 != nil || err2 != nil {
			continue
		}
		for q := a; q <= b; q++ {
			if !delivered[q] {
				rest = append(rest, q)
			}
		}
	}
	return compressIDs(rest)
}

// DecodeKnowledgeBase decodes a saved KnowledgeBase XML document one VULN
// at a time.
func DecodeKnowledgeBase(r io.Reader) iter.Seq2[*Vulnerability, error] {
	return func(yield func(*Vulnerability, error) bool) {
		d := &xdec{s: newScanner(r)}
		streamRecords(context.Background(), rooted(d, d.nextVuln, kbRoot), yield)
	}
}

// kbRoot is the root element of a KnowledgeBase answer.
const kbRoot = "KNOWLEDGE_BASE_VULN_LIST_OUTPUT"

func (d *xdec) nextVuln() (*Vulnerability, error) {
	ok, err := d.nextRecord("VULN", "RESPONSE", "VULN_LIST")
	if !ok || err != nil {
		return nil, err
	}
	d.beginRecord()
	v, err := d.decodeVuln()
	d.endRecord()
	if err != nil {
		return nil, err
	}
	d.lastID = v.QID
	return v, nil
}

func (d *xdec) refs(parent, item string, out *[]Reference) error {
	return d.fields(parent, func(n []byte) error {
		if string(n) != item {
			return d.s.Skip()
		}
		var r Reference
		e := d.fields(item, func(n []byte) error {
			var e error
			switch string(n) {
			case "ID":
				r.ID, e = d.trimmedString()
			case "URL":
				r.URL, e = d.trimmedString()
			default:
				e = d.s.Skip()
			}
			return e
		})
		if r.ID != "" || r.URL != "" { // an empty <CVE><ID><![CDATA[]]></ID></CVE> adds nothing
			*out = append(*out, r)
		}
		if e == nil {
			e = d.item()
		}
		return e
	})
}

// correlation reads CORRELATION: EXPLOITS/EXPLT_SRC(SRC_NAME, EXPLT_LIST/
// EXPLT(REF, DESC, LINK)) and MALWARE/MW_SRC(SRC_NAME, MW_LIST/MW_INFO(...)).
func (d *xdec) correlation(v *Vulnerability) error {
	return d.fields("CORRELATION", func(n []byte) error {
		switch string(n) {
		case "EXPLOITS":
			return d.sources("EXPLOITS", "EXPLT_SRC", "EXPLT_LIST", func(src string) error {
				return listOf(d, "EXPLT_LIST", "EXPLT", &v.Exploits, func(x *Exploit, n []byte) (e error) {
					x.Source = src
					switch string(n) {
					case "REF":
						x.Ref, e = d.trimmedString()
					case "DESC":
						x.Description, e = d.text()
					case "LINK":
						x.Link, e = d.trimmedString()
					default:
						e = d.s.Skip()
					}
					return e
				})
			})
		case "MALWARE":
			return d.sources("MALWARE", "MW_SRC", "MW_LIST", func(src string) error {
				return listOf(d, "MW_LIST", "MW_INFO", &v.Malware, func(x *Malware, n []byte) (e error) {
					x.Source = src
					switch string(n) {
					case "MW_ID":
						x.ID, e = d.trimmedString()
					case "MW_TYPE":
						x.Type, e = d.trimmedString()
					case "MW_PLATFORM":
						x.Platform, e = d.trimmedString()
					case "MW_ALIAS":
						x.Alias, e = d.trimmedString()
					case "MW_RATING":
						x.Rating, e = d.trimmedString()
					case "MW_LINK":
						x.Link, e = d.trimmedString()
					default:
						e = d.s.Skip()
					}
					return e
				})
			})
		}
		return d.s.Skip()
	})
}

// sources reads parent's source elements (EXPLT_SRC, MW_SRC): SRC_NAME,
// then the list, read by list with the source's name (the DTD puts
// SRC_NAME first).
func (d *xdec) sources(parent, source, listName string, list func(src string) error) error {
	return d.fields(parent, func(n []byte) error {
		if string(n) != source {
			return d.s.Skip()
		}
		name := ""
		return d.fields(source, func(n []byte) (e error) {
			switch string(n) {
			case "SRC_NAME":
				name, e = d.trimmedString()
			case listName:
				e = list(name)
			default:
				e = d.s.Skip()
			}
			return e
		})
	})
}

func (d *xdec) cvss(parent string, c *CVSS) error {
	return d.fields(parent, func(n []byte) error {
		var e error
		var b []byte
		switch string(n) {
		case "BASE":
			if b, e = d.trimmed(); e == nil && len(b) > 0 {
				c.Base, e = strconv.ParseFloat(string(b), 64)
			}
		case "TEMPORAL":
			if b, e = d.trimmed(); e == nil && len(b) > 0 {
				c.Temporal, e = strconv.ParseFloat(string(b), 64)
			}
		case "VECTOR_STRING":
			c.Vector, e = d.trimmedString()
		default:
			e = d.s.Skip()
		}
		return e
	})
}

func (d *xdec) decodeVuln() (*Vulnerability, error) {
	v := &Vulnerability{}
	err := d.fields("VULN", func(n []byte) error {
		var e error
		switch string(n) {
		case "QID":
			v.QID, e = d.int64()
		case "VULN_TYPE":
			v.VulnType, e = d.trimmedString()
		case "SEVERITY_LEVEL":
			v.Severity, e = d.smallInt()
		case "TITLE":
			v.Title, e = d.text()
		case "CATEGORY":
			v.Category, e = d.text()
		case "PUBLISHED_DATETIME":
			v.Published, e = d.time()
		case "LAST_SERVICE_MODIFICATION_DATETIME":
			v.LastServiceModified, e = d.time()
		case "PATCH_PUBLISHED_DATE":
			v.PatchPublished, e = d.time()
		case "PATCHABLE":
			v.Patchable, e = d.flag()
		case "IS_DISABLED":
			v.Disabled, e = d.flag()
		case "PCI_FLAG":
			v.PCIFlag, e = d.flag()
		case "CVE_LIST":
			e = d.refs("CVE_LIST", "CVE", &v.CVEs)
		case "VENDOR_REFERENCE_LIST":
			e = d.refs("VENDOR_REFERENCE_LIST", "VENDOR_REFERENCE", &v.VendorRefs)
		case "SOFTWARE_LIST":
			e = listOf(d, "SOFTWARE_LIST", "SOFTWARE", &v.Software, func(sw *KBSoftware, n []byte) (e error) {
				switch string(n) {
				case "PRODUCT":
					sw.Product, e = d.trimmedString()
				case "VENDOR":
					sw.Vendor, e = d.trimmedString()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "DIAGNOSIS":
			v.Diagnosis, e = d.text()
		case "CONSEQUENCE":
			v.Consequence, e = d.text()
		case "SOLUTION":
			v.Solution, e = d.text()
		case "CVSS":
			e = d.cvss("CVSS", &v.CVSS)
		case "CVSS_V3":
			e = d.cvss("CVSS_V3", &v.CVSSV3)
		case "THREAT_INTELLIGENCE":
			e = d.fields("THREAT_INTELLIGENCE", func(n []byte) error {
				id, _ := d.s.Attr("id") // read before the text moves the scanner on
				t, e := d.trimmedString()
				if string(n) == "THREAT_INTEL" && (t != "" || id != "") {
					v.ThreatIntel = append(v.ThreatIntel, t)
					v.ThreatIntelIDs = append(v.ThreatIntelIDs, strings.TrimSpace(id))
					if e == nil {
						e = d.item()
					}
				}
				return e
			})
		case "BUGTRAQ_LIST":
			e = d.refs("BUGTRAQ_LIST", "BUGTRAQ", &v.Bugtraq)
		case "DISCOVERY":
			e = d.fields("DISCOVERY", func(n []byte) (e error) {
				switch string(n) {
				case "REMOTE":
					v.Discovery.Remote, e = d.flag()
				case "AUTH_TYPE_LIST":
					e = d.fields("AUTH_TYPE_LIST", func(n []byte) error {
						t, e := d.trimmedString()
						if string(n) == "AUTH_TYPE" && t != "" {
							v.Discovery.AuthTypes = append(v.Discovery.AuthTypes, t)
							if e == nil {
								e = d.item()
							}
						}
						return e
					})
				case "ADDITIONAL_INFO":
					v.Discovery.AdditionalInfo, e = d.text()
				default:
					e = d.s.Skip()
				}
				return e
			})
		case "CORRELATION":
			e = d.correlation(v)
		default:
			e = d.s.Skip()
		}
		return e
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}
