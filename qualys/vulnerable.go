package qualys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/qualysbridge/qualysbridge/internal/safehttp"
	"iter"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualysbridge/qualysbridge/internal/retry"
)

// VulnerableHostsQuery is the ThreatQ operation's search: hosts vulnerable
// to some CVEs, narrowed by the operation's four filters.
type VulnerableHostsQuery struct {
	// CVEs are the CVE ids to search for (CVE-YYYY-NNNN); at least one.
	CVEs []string
	// IPs keeps only hosts with these addresses: IPv4 addresses, ranges
	// and CIDR blocks, and IPv6 addresses (see SplitIPFilters). Given
	// both families, the hosts matching either are listed (two listings of
	// the same search list), each host once.
	IPs []string
	// FoundAfter keeps only detections last found after this time. The
	// API is asked for detections updated since then (a superset: a
	// detection found again is updated) and each detection's
	// LAST_FOUND_DATETIME is then checked; hosts left with no detection
	// are not yielded.
	FoundAfter time.Time
	// MinSeverity keeps detections of this severity or higher (1-5; 0
	// means all).
	MinSeverity int
	// AssetGroupIDs and AssetGroupTitles keep hosts in these asset groups.
	AssetGroupIDs    []int64
	AssetGroupTitles []string
	// Title is the search list's title prefix (default "qualysbridge").
	Title string
	// TruncationLimit is hosts per response (see DetectionQuery).
	TruncationLimit int
	// Statuses, when set, are the detection statuses listed (Qualys'
	// default is New, Active and Re-Opened); a sweep that follows
	// remediation adds StatusFixed.
	Statuses []DetectionStatus
	// ShowQDS asks for each detection's Qualys Detection Score
	// (show_qds=1).
	ShowQDS bool
	// OnQIDs, if set, is called once, before any host is yielded, with
	// the QIDs kept and, for each, the query's CVEs its KnowledgeBase
	// entry names exactly: how a caller searching several CVEs in one
	// list tells which detection belongs to which CVE. It is not called
	// when no QID matches.
	OnQIDs func(qidCVEs map[int64][]string)
	// OnCleanupError, if set, is called when the search list could not be
	// deleted after the caller stopped the loop early (there is then no
	// iteration left to report the error through). In every other case
	// the error is yielded, and it names the list id to delete by hand.
	OnCleanupError func(listID int64, err error)
}

// cleanupTimeout bounds the detached context used to delete a search list
// after the caller's context was cancelled.
const cleanupTimeout = 30 * time.Second

// VulnerableHosts runs the ThreatQ operation's flow: it creates a dynamic
// search list for the CVEs, keeps the list's QIDs whose KnowledgeBase entry
// names one of the CVEs exactly (the list's own match may be wider), lists
// the detections of those QIDs restricted to the list with the query's
// filters (tags included), and deletes the list when the
// loop ends for any reason: success, an error, the caller's break or a
// cancelled context (the delete then runs with a short detached context).
// No list is left behind when no host is vulnerable. If the delete fails,
// the error says which list to delete by hand.
func (c *Client) VulnerableHosts(ctx context.Context, q *VulnerableHostsQuery) iter.Seq2[*DetectionHost, error] {
	var qc VulnerableHostsQuery
	if q != nil {
		qc = *q
	}
	return func(yield func(*DetectionHost, error) bool) {
		yield = scrubbed(c, yield)
		familyForms, err := qc.forms() // validated before anything is created
		if err != nil {
			yield(nil, err)
			return
		}
		id, err := c.createCVEList(ctx, qc.listTitle(), qc.CVEs)
		if err != nil {
			yield(nil, err)
			return
		}
		deleteList := func() error {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if err := c.SearchLists.Delete(dctx, id); err != nil {
				return &SearchListDeleteError{ListID: id, Err: err}
			}
			c.cfg.Logger.Debug("qualys: deleted dynamic search list", "id", id)
			return nil
		}

		// A search list's CVE criterion may match more than the exact id
		// (CVE-2019-1705 selecting CVE-2019-17053): keep only the QIDs
		// whose KnowledgeBase entry names one of the CVEs exactly.
		exact, qidCVEs, err := c.exactQIDs(ctx, id, qc.CVEs)
		if err != nil {
			yield(nil, errors.Join(err, deleteList()))
			return
		}
		if len(exact) > 0 && qc.OnQIDs != nil {
			qc.OnQIDs(qidCVEs)
		}
		if len(exact) == 0 {
			if err := deleteList(); err != nil {
				yield(nil, err)
			}
			return
		}
		var listErr error
		stopped := false
		seen := map[int64]bool{} // hosts yielded, across the family listings
		for _, form := range familyForms {
			if listErr != nil || stopped {
				break
			}
			form.Set("include_search_list_ids", formatInt(id))
			form.Set("qids", joinInts(exact))
			c.listDetections(ctx, form, func(h *DetectionHost, err error) bool {
				if err != nil {
					listErr = err
					return false
				}
				if seen[h.ID] || !keepVulnerable(h, exact, qc.FoundAfter) {
					return true
				}
				seen[h.ID] = true
				stopped = !yield(h, nil)
				return !stopped
			})
		}
		delErr := deleteList()
		switch {
		case stopped:
			if delErr != nil {
				c.cfg.Logger.Warn("qualys: search list left behind", "id", id, "error", delErr)
				if qc.OnCleanupError != nil {
					qc.OnCleanupError(id, delErr)
				}
			}
		case listErr != nil:
			yield(nil, errors.Join(listErr, delErr))
		case delErr != nil:
			yield(nil, delErr)
		}
	}
}

// forms validates the query and returns the detection listing forms to
// run: one per IP family when IPs are given, since Qualys ANDs its
// filters (an ips and an ipv6 filter in one call would keep only hosts
// matching both).
func (qc *VulnerableHostsQuery) forms() ([]url.Values, error) {
	if len(qc.CVEs) == 0 {
		return nil, &ConfigError{Option: "VulnerableHostsQuery.CVEs", Reason: "at least one CVE id is required"}
	}
	for _, cve := range qc.CVEs {
		if !ValidCVE(cve) {
			return nil, &ConfigError{Option: "VulnerableHostsQuery.CVEs", Reason: "invalid CVE id " + quoteShort(cve) + " (want CVE-YYYY-NNNN)"}
		}
	}
	if qc.MinSeverity < 0 || qc.MinSeverity > 5 {
		return nil, &ConfigError{Option: "VulnerableHostsQuery.MinSeverity", Reason: "want 0 (all) or 1-5"}
	}
	ipv4, ipv6, err := SplitIPFilters(qc.IPs)
	if err != nil {
		return nil, err
	}
	dq := DetectionQuery{
		AssetGroupIDs:         qc.AssetGroupIDs,
		AssetGroupTitles:      qc.AssetGroupTitles,
		ShowTags:              Bool(true),
		TruncationLimit:       qc.TruncationLimit,
		DetectionUpdatedSince: qc.FoundAfter,
		Status:                qc.Statuses,
	}
	if qc.ShowQDS {
		dq.ShowQDS = Bool(true)
	}
	if qc.MinSeverity > 1 {
		for s := qc.MinSeverity; s <= 5; s++ {
			dq.Severities = append(dq.Severities, s)
		}
	}
	form, err := dq.values()
	if err != nil {
		return nil, err
	}
	var forms []url.Values
	if len(ipv4) > 0 {
		forms = append(forms, withParam(form, "ips", strings.Join(ipv4, ",")))
	}
	if len(ipv6) > 0 {
		forms = append(forms, withParam(form, "ipv6", strings.Join(ipv6, ",")))
	}
	if len(forms) == 0 {
		forms = []url.Values{form}
	}
	return forms, nil
}

// listTitle is a unique title for the run's search list (the prefix, the
// CVEs, the time and a random tail), at most 256 characters.
func (qc *VulnerableHostsQuery) listTitle() string {
	title := cmp.Or(qc.Title, "qualysbridge")
	title += " " + strings.Join(qc.CVEs, ",") + " " + time.Now().UTC().Format("20060102T150405Z") + " " + strconv.FormatUint(rand.Uint64()&0xffffff, 16)
	if len(title) > 256 {
		title = title[len(title)-256:] // keep the unique tail
	}
	return title
}

// createCVEList creates the dynamic search list. The create may have
// happened although its answer was lost (a cut connection, a garbled
// body, the caller's cancel while it was in flight): the list is then
// found by its unique title and deleted, with a detached context, so that
// none is left behind, and the error says so.
func (c *Client) createCVEList(ctx context.Context, title string, cves []string) (int64, error) {
	id, err := c.SearchLists.CreateDynamic(ctx, &DynamicSearchList{Title: title, CVEIDs: cves, Global: Bool(false)})
	if err == nil {
		c.cfg.Logger.Debug("qualys: created dynamic search list", "id", id)
		return id, nil
	}
	if ambiguous(err) {
		deleted, cerr := c.deleteByTitle(ctx, title)
		switch {
		case cerr != nil:
			err = errors.Join(err, cerr)
		case deleted != 0:
			err = fmt.Errorf("%w (the search list created meanwhile, id %d, was found by its title and deleted)", err, deleted)
		default:
			err = fmt.Errorf("%w (no search list was left behind)", err)
		}
	}
	return 0, err
}

// keepVulnerable narrows a host's detections to the exact QIDs (sorted)
// and, when foundAfter is set, to those last found after it; it reports
// whether any is left.
func keepVulnerable(h *DetectionHost, exact []int64, foundAfter time.Time) bool {
	h.Detections = slices.DeleteFunc(h.Detections, func(d Detection) bool {
		_, found := slices.BinarySearch(exact, d.QID)
		return !found || (!foundAfter.IsZero() && !d.LastFound.After(foundAfter))
	})
	return len(h.Detections) > 0
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

func joinInts(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = formatInt(id)
	}
	return strings.Join(parts, ",")
}

// exactQIDs reads the QIDs a search list resolved to and returns, sorted,
// those whose KnowledgeBase CVE list holds one of cves exactly, and for
// each the CVEs it names.
func (c *Client) exactQIDs(ctx context.Context, listID int64, cves []string) ([]int64, map[int64][]string, error) {
	var listed []int64
	for l, err := range c.SearchLists.List(ctx, &SearchListQuery{IDs: []int64{listID}, ShowQIDs: Bool(true)}) {
		if err != nil {
			return nil, nil, err
		}
		if l.ID == listID {
			listed = append(listed, l.QIDs...)
		}
	}
	if len(listed) == 0 {
		return nil, nil, nil
	}
	var exact []int64
	qidCVEs := map[int64][]string{}
	for v, err := range c.KnowledgeBase.List(ctx, &KnowledgeBaseQuery{QIDs: listed, Details: "Basic"}) {
		if err != nil {
			return nil, nil, err
		}
		var named []string
		for _, r := range v.CVEs {
			if slices.Contains(cves, r.ID) && !slices.Contains(named, r.ID) {
				named = append(named, r.ID)
			}
		}
		if len(named) > 0 {
			exact = append(exact, v.QID)
			qidCVEs[v.QID] = named
		} else {
			c.cfg.Logger.Debug("qualys: search list QID dropped: no exact CVE match", "qid", v.QID)
		}
	}
	slices.Sort(exact)
	return slices.Compact(exact), qidCVEs, nil
}

// ambiguous reports whether a failed call may still have been carried out
// by the server: no answer, or an answer that could not be read. A clear
// refusal (a Qualys error code, a 4xx) means it was not.
func ambiguous(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial") || safehttp.CertificateError(err) || safehttp.Unreachable(err) {
		return false // the request never reached the server (no connection, or the TLS handshake failed)
	}
	var qe *Error
	if !errors.As(err, &qe) {
		// No answer at all: the caller's context ended while the request
		// may already have been received.
		return true
	}
	if qe.Code != "" || (qe.StatusCode >= 400 && qe.StatusCode < 500) {
		// A refusal: a Qualys code, or a 4xx (a login refused, even with
		// a proxy's HTML page for a body) means nothing was created.
		return false
	}
	return qe.kind == kindTransport || qe.kind == kindBadBody || qe.StatusCode >= 500
}

// deleteByTitle deletes the dynamic search list with this exact title, if
// one exists (with a short detached context), and returns its id (0 when
// there was none). Listing is retried when its answer is cut, within the
// retry budget.
func (c *Client) deleteByTitle(ctx context.Context, title string) (int64, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var lastErr error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		id, err := c.findListByTitle(dctx, title)
		if err == nil {
			if id == 0 {
				return 0, nil
			}
			if err := c.SearchLists.Delete(dctx, id); err != nil {
				return 0, &SearchListDeleteError{ListID: id, Err: err}
			}
			c.cfg.Logger.Debug("qualys: deleted a search list whose creation answer was lost", "id", id)
			return id, nil
		}
		lastErr = err
		if !resumable(err) && !ambiguous(err) {
			break
		}
		if err := retry.Sleep(dctx, c.cfg.Backoff(attempt)); err != nil {
			break
		}
	}
	return 0, &prefixedError{msg: fmt.Sprintf("a search list titled %q may have been created; delete it by hand if it exists", title), err: lastErr}
}

func (c *Client) findListByTitle(ctx context.Context, title string) (int64, error) {
	for l, err := range c.SearchLists.List(ctx, &SearchListQuery{ShowQIDs: Bool(false)}) {
		if err != nil {
			return 0, err
		}
		if l.Title == title {
			return l.ID, nil
		}
	}
	return 0, nil
}

// prefixedError adds context to an error of this package without
// repeating its "qualys: " prefix.
type prefixedError struct {
	msg string
	err error
}

func (e *prefixedError) Error() string {
	if e.err == nil {
		return "qualys: " + e.msg
	}
	return "qualys: " + e.msg + ": " + strings.TrimPrefix(e.err.Error(), "qualys: ")
}

func (e *prefixedError) Unwrap() error { return e.err }
