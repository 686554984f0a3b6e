package qualys

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-querystring/query"
	"github.com/qualysbridge/qualysbridge/internal/xmlstream"
)

// SearchListService manages QID search lists
// (/api/3.0/fo/qid/search_list/dynamic/ by default; see EndpointSearchLists).
type SearchListService struct{ c *Client }

// DynamicSearchList is the definition of a dynamic QID search list: a title
// and criteria that Qualys re-evaluates as the KnowledgeBase changes.
type DynamicSearchList struct {
	// Title is required (at most 256 ASCII characters).
	Title string `url:"title"`
	// Global makes the list visible to all users.
	Global   *bool  `url:"global,int,omitempty"`
	Comments string `url:"comments,omitempty"`
	// CVEIDs selects the QIDs that reference these CVEs.
	CVEIDs              []string `url:"cve_ids,comma,omitempty"`
	NotCVEIDs           *bool    `url:"not_cve_ids,int,omitempty"`
	VulnTitle           string   `url:"vuln_title,omitempty"`
	Categories          []string `url:"categories,comma,omitempty"`
	ConfirmedSeverities []int    `url:"confirmed_severities,comma,omitempty"`
	PotentialSeverities []int    `url:"potential_severities,comma,omitempty"`
	IGSeverities        []int    `url:"ig_severities,comma,omitempty"`
	Products            []string `url:"products,comma,omitempty"`
	VendorRefs          []string `url:"vendor_refs,comma,omitempty"`
	BugtraqIDs          []string `url:"bugtraq_id,comma,omitempty"`
	DiscoveryMethods    string   `url:"discovery_methods,omitempty"` // Remote, Authenticated, Remote_Authenticated
	PatchAvailable      string   `url:"patch_available,omitempty"`   // "0", "1" or "0,1"
	CVSSBase            string   `url:"cvss_base,omitempty"`
	CVSSBaseOperand     string   `url:"cvss_base_operand,omitempty"`
	CVSS3Base           string   `url:"cvss3_base,omitempty"`
	CVSS3BaseOperand    string   `url:"cvss3_base_operand,omitempty"`
	// Extra holds criteria this struct does not name (see the API's
	// documentation); they are sent as given.
	Extra url.Values `url:"-"`
}

var cvePattern = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// ValidCVE reports whether s is a CVE id of the form CVE-YYYY-NNNN (four or
// more digits).
func ValidCVE(s string) bool { return cvePattern.MatchString(s) }

// CreateDynamic creates a dynamic search list and returns its id. Creating
// is not safe to repeat, so the call is retried only when Qualys proves it
// refused it before doing anything (a 409 rate or concurrency block).
func (s *SearchListService) CreateDynamic(ctx context.Context, l *DynamicSearchList) (int64, error) {
	if l == nil || strings.TrimSpace(l.Title) == "" {
		return 0, &ConfigError{Option: "DynamicSearchList.Title", Reason: "a title is required"}
	}
	if len(l.Title) > 256 {
		return 0, &ConfigError{Option: "DynamicSearchList.Title", Reason: "longer than 256 characters"}
	}
	for _, c := range l.CVEIDs {
		if !ValidCVE(c) {
			return 0, &ConfigError{Option: "DynamicSearchList.CVEIDs", Reason: "invalid CVE id " + quoteShort(c) + " (want CVE-YYYY-NNNN)"}
		}
	}
	v, err := query.Values(l)
	if err != nil {
		return 0, &ConfigError{Option: "DynamicSearchList", Reason: err.Error()}
	}
	for k, vals := range l.Extra {
		if _, ok := v[k]; !ok {
			v[k] = vals
		}
	}
	v.Set("action", "create")
	path := s.c.EndpointPath(EndpointSearchLists)
	resp, err := s.c.postFO(ctx, EndpointSearchLists, "create", v, false)
	if err != nil {
		return 0, s.c.sanitize(err)
	}
	resp.Body.Close()
	if resp.simple == nil {
		return 0, &Error{StatusCode: resp.StatusCode, Endpoint: path, Action: "create", Message: "expected a SIMPLE_RETURN with the new list's ID"}
	}
	idText, ok := resp.simple.item("ID")
	id, perr := strconv.ParseInt(idText, 10, 64)
	if !ok || perr != nil || id <= 0 {
		return 0, &Error{StatusCode: resp.StatusCode, Endpoint: path, Action: "create", Message: "search list created but no valid ID returned: " + resp.simple.Text}
	}
	return id, nil
}

// Delete deletes a dynamic search list.
func (s *SearchListService) Delete(ctx context.Context, id int64) error {
	if id <= 0 {
		return &ConfigError{Option: "search list id", Reason: "must be positive"}
	}
	v := url.Values{"action": {"delete"}, "id": {strconv.FormatInt(id, 10)}}
	resp, err := s.c.postFO(ctx, EndpointSearchLists, "delete", v, true)
	if err != nil {
		return s.c.sanitize(err)
	}
	resp.Body.Close()
	return nil
}

// SearchList is a dynamic search list as listed by the API.
type SearchList struct {
	ID       int64
	Title    string
	Global   bool
	Owner    string
	Created  string // as sent; the API's format varies
	Modified string
	QIDs     []int64
	// Criteria maps each CRITERIA child element (CVE_ID, ...) to its text.
	Criteria map[string]string
}

// SearchListQuery filters SearchLists.List.
type SearchListQuery struct {
	IDs []int64 `url:"ids,comma,omitempty"`
	// ShowQIDs asks for the QIDs each list resolves to (the API's default
	// is yes).
	ShowQIDs *bool `url:"show_qids,int,omitempty"`
}

// List streams dynamic search lists.
func (s *SearchListService) List(ctx context.Context, q *SearchListQuery) iter.Seq2[*SearchList, error] {
	var qc SearchListQuery
	if q != nil {
		qc = *q
	}
	return func(yield func(*SearchList, error) bool) {
		yield = scrubbed(s.c, yield)
		v, err := query.Values(&qc)
		if err != nil {
			yield(nil, &ConfigError{Option: "SearchListQuery", Reason: err.Error()})
			return
		}
		v.Set("action", "list")
		path := s.c.EndpointPath(EndpointSearchLists)
		resp, err := s.c.postFO(ctx, EndpointSearchLists, "list", v, true)
		if err != nil {
			yield(nil, err)
			return
		}
		defer resp.Body.Close()
		d := &xdec{s: newScanner(resp.Body), endpoint: path}
		// Qualys documents two roots: DYNAMIC_SEARCH_LIST_OUTPUT (the
		// DTD) and SEARCH_LIST_OUTPUT (the documentation's sample).
		streamRecords(ctx, rooted(d, d.nextSearchList, "DYNAMIC_SEARCH_LIST_OUTPUT", "SEARCH_LIST_OUTPUT"), yield)
	}
}

// rooted checks the document's root element before the first record, so
// that a document of another kind is a *DecodeError rather than no records.
func rooted[T any](d *xdec, next func() (*T, error), roots ...string) func() (*T, error) {
	checked := false
	return func() (*T, error) {
		if !checked {
			if err := d.root(roots...); err != nil {
				return nil, err
			}
			checked = true
		}
		return next()
	}
}

// root reads the document's root element and checks its name. An error
// document (SIMPLE_RETURN, GENERIC_RETURN) gives its *Error.
func (d *xdec) root(want ...string) error {
	for {
		k, err := d.s.Next()
		if err == io.EOF {
			err = xmlstream.ErrUnexpectedEOF
		}
		if err != nil {
			return d.fail("", err)
		}
		if k != xmlstream.StartElement {
			continue
		}
		name := string(d.s.Name())
		switch {
		case slices.Contains(want, name):
			return nil
		case name == "SIMPLE_RETURN" || name == "GENERIC_RETURN":
			return d.decodeErrorDoc(name)
		}
		return d.fail(name, fmt.Errorf("unexpected root element <%s>, want <%s>", name, strings.Join(want, "> or <")))
	}
}

func (d *xdec) nextSearchList() (*SearchList, error) {
	ok, err := d.nextRecord("DYNAMIC_LIST", "RESPONSE", "DYNAMIC_LISTS")
	if !ok || err != nil {
		return nil, err
	}
	l := &SearchList{Criteria: map[string]string{}}
	d.beginRecord()
	defer d.endRecord()
	err = d.fields("DYNAMIC_LIST", func(n []byte) error {
		var e error
		switch string(n) {
		case "ID":
			l.ID, e = d.int64()
		case "TITLE":
			l.Title, e = d.text()
		case "GLOBAL":
			l.Global, e = d.flag()
		case "OWNER":
			l.Owner, e = d.trimmedString()
		case "CREATED":
			l.Created, e = d.trimmedString()
		case "MODIFIED":
			l.Modified, e = d.trimmedString()
		case "QIDS":
			e = d.fields("QIDS", func(n []byte) error {
				b, e := d.trimmed()
				if e != nil || string(n) != "QID" {
					return e
				}
				q, e := parseInt(b)
				l.QIDs = append(l.QIDs, q)
				if e == nil {
					e = d.item()
				}
				return e
			})
		case "CRITERIA":
			e = d.fields("CRITERIA", func(n []byte) error {
				name := string(n)
				t, e := d.trimmedString()
				l.Criteria[name] = t
				return e
			})
		default:
			e = d.s.Skip()
		}
		return e
	})
	if err != nil {
		return nil, err
	}
	d.lastID = l.ID
	return l, nil
}

// SearchListDeleteError reports a search list that could not be deleted:
// errors.As gives the list id, so that a caller (or an operator) can
// delete it by hand.
type SearchListDeleteError struct {
	ListID int64
	Err    error
}

func (e *SearchListDeleteError) Error() string {
	return fmt.Sprintf("qualys: could not delete dynamic search list %d; delete it by hand (QID search lists, id %d): %v", e.ListID, e.ListID, e.Err)
}

// Unwrap returns the deletion's error.
func (e *SearchListDeleteError) Unwrap() error { return e.Err }
