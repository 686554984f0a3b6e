package qualys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-querystring/query"
	"github.com/qualysbridge/qualysbridge/internal/xmlstream"
)

// DetectionService lists VM detections (the Host List Detection API,
// /api/5.0/fo/asset/host/vm/detection/ by default; see EndpointDetections).
type DetectionService struct{ c *Client }

// DetectionQuery holds the Host List Detection filters. Zero values are not
// sent; flags Qualys expects as 0/1 are *bool so that an explicit false is
// sent (use Bool). Times are sent in UTC as YYYY-MM-DDTHH:MM:SSZ.
type DetectionQuery struct {
	// Host filters.
	IDs               []int64  `url:"ids,comma,omitempty"`
	IDMin             int64    `url:"id_min,omitempty"`
	IDMax             int64    `url:"id_max,omitempty"`
	IPs               []string `url:"ips,comma,omitempty"` // addresses or ranges "10.0.0.1-10.0.0.9"
	IPv6              []string `url:"ipv6,comma,omitempty"`
	AssetGroupIDs     []int64  `url:"ag_ids,comma,omitempty"`
	AssetGroupTitles  []string `url:"ag_titles,comma,omitempty"`
	NetworkIDs        []int64  `url:"network_ids,comma,omitempty"`
	OSPattern         string   `url:"os_pattern,omitempty"`
	ComplianceEnabled *bool    `url:"compliance_enabled,int,omitempty"`
	// VMScanSince keeps hosts scanned since then (vm_scan_since).
	VMScanSince time.Time `url:"-"`
	// NoVMScanSince keeps hosts not scanned since then.
	NoVMScanSince      time.Time `url:"-"`
	MaxDaysSinceVMScan int       `url:"max_days_since_last_vm_scan,omitempty"`
	// VMProcessedAfter and VMProcessedBefore bound when the host's last
	// scan was processed.
	VMProcessedAfter  time.Time `url:"-"`
	VMProcessedBefore time.Time `url:"-"`
	// VMScanDateBefore/After and VMAuthScanDateBefore/After bound the
	// host's last (authenticated) scan date.
	VMScanDateBefore     time.Time `url:"-"`
	VMScanDateAfter      time.Time `url:"-"`
	VMAuthScanDateBefore time.Time `url:"-"`
	VMAuthScanDateAfter  time.Time `url:"-"`
	NetworkName          string    `url:"network_name,omitempty"`

	// Detection filters.
	QIDs []int64 `url:"qids,comma,omitempty"`
	// Severities keeps detections of these severities (1-5).
	Severities []int `url:"severities,comma,omitempty"`
	// MinSeverity keeps detections of this severity or higher (1-5; 0
	// keeps all), as VulnerableHostsQuery.MinSeverity does: it is sent as
	// the severities from it to 5. Give it or Severities, not both.
	MinSeverity int `url:"-"`
	// Status keeps detections of these statuses: New, Active, Fixed,
	// Re-Opened. The API's default leaves Fixed out.
	Status []DetectionStatus `url:"status,comma,omitempty"`
	// IncludeVulnType keeps only confirmed (IncludeConfirmed) or only
	// potential (IncludePotential) detections; empty keeps both.
	IncludeVulnType              VulnTypeFilter `url:"include_vuln_type,omitempty"`
	IncludeIgnored               *bool          `url:"include_ignored,int,omitempty"`
	IncludeDisabled              *bool          `url:"include_disabled,int,omitempty"`
	DetectionUpdatedSince        time.Time      `url:"-"`
	DetectionUpdatedBefore       time.Time      `url:"-"`
	DetectionProcessedAfter      time.Time      `url:"-"`
	DetectionProcessedBefore     time.Time      `url:"-"`
	MaxDaysSinceDetectionUpdated int            `url:"max_days_since_detection_updated,omitempty"`
	// DetectionLastTestedSince/Before bound when the detection was last
	// tested; the *Days forms count days back from now.
	DetectionLastTestedSince      time.Time `url:"-"`
	DetectionLastTestedBefore     time.Time `url:"-"`
	DetectionLastTestedSinceDays  int       `url:"detection_last_tested_since_days,omitempty"`
	DetectionLastTestedBeforeDays int       `url:"detection_last_tested_before_days,omitempty"`
	FilterSupersededQIDs          *bool     `url:"filter_superseded_qids,int,omitempty"`
	IncludeSearchListIDs          []int64   `url:"include_search_list_ids,comma,omitempty"`
	ExcludeSearchListIDs          []int64   `url:"exclude_search_list_ids,comma,omitempty"`
	IncludeSearchListTitles       []string  `url:"include_search_list_titles,comma,omitempty"`
	ExcludeSearchListTitles       []string  `url:"exclude_search_list_titles,comma,omitempty"`
	// QDSMin and QDSMax keep detections whose Qualys Detection Score is
	// in range (1-100).
	QDSMin int `url:"qds_min,omitempty"`
	QDSMax int `url:"qds_max,omitempty"`
	// ARF filters (Qualys' values 0-4 for the three filters, 0-3 for
	// active_kernels_only); 0 is not sent.
	ARFKernelFilter   int   `url:"arf_kernel_filter,omitempty"`
	ARFServiceFilter  int   `url:"arf_service_filter,omitempty"`
	ARFConfigFilter   int   `url:"arf_config_filter,omitempty"`
	ActiveKernelsOnly int   `url:"active_kernels_only,omitempty"`
	UseTags           *bool `url:"use_tags,int,omitempty"`
	// TagSetBy is how TagSetInclude/Exclude name tags: TagSetByID or
	// TagSetByName.
	TagSetBy TagSetBy `url:"tag_set_by,omitempty"`
	// TagIncludeSel and TagExcludeSel are TagSelectAny or TagSelectAll.
	TagIncludeSel TagSelector `url:"tag_include_selector,omitempty"`
	TagExcludeSel TagSelector `url:"tag_exclude_selector,omitempty"`
	TagSetInclude []string    `url:"tag_set_include,comma,omitempty"`
	TagSetExclude []string    `url:"tag_set_exclude,comma,omitempty"`

	// Output options.
	ShowResults    *bool `url:"show_results,int,omitempty"`
	ShowIGs        *bool `url:"show_igs,int,omitempty"`
	ShowTags       *bool `url:"show_tags,int,omitempty"`
	ShowQDS        *bool `url:"show_qds,int,omitempty"`
	ShowQDSFactors *bool `url:"show_qds_factors,int,omitempty"`
	ShowAssetID    *bool `url:"show_asset_id,int,omitempty"`
	EchoRequest    *bool `url:"echo_request,int,omitempty"`
	// VulnDetectionSource adds each detection's detection sources
	// (vuln_detection_source=1, HLD 5.0).
	VulnDetectionSource *bool `url:"vuln_detection_source,int,omitempty"`
	// HostMetadata adds cloud instance metadata of one provider
	// (MetadataEC2, MetadataAzure, MetadataGoogle, MetadataAliCloud) or
	// of all (MetadataAll); HostMetadataFields narrows it to some
	// attribute names.
	HostMetadata       MetadataProvider `url:"host_metadata,omitempty"`
	HostMetadataFields []string         `url:"host_metadata_fields,comma,omitempty"`
	// ShowCloudTags adds the cloud provider's tags; CloudTagFields
	// narrows them to some tag names.
	ShowCloudTags  *bool    `url:"show_cloud_tags,int,omitempty"`
	CloudTagFields []string `url:"cloud_tag_fields,comma,omitempty"`
	// TruncationLimit is the number of hosts per response (the API's
	// default is 1000). Negative asks for no truncation (sent as 0).
	TruncationLimit int `url:"-"`

	// Extra holds parameters this struct does not name; they are sent as
	// given and override nothing above.
	Extra url.Values `url:"-"`
}

// VulnTypeFilter is DetectionQuery.IncludeVulnType (include_vuln_type).
// Its values are lower case, unlike DetectionType's (Confirmed, ...),
// which name a detection's type in an answer.
type VulnTypeFilter string

// The include_vuln_type values.
const (
	IncludeConfirmed VulnTypeFilter = "confirmed"
	IncludePotential VulnTypeFilter = "potential"
)

// TagSetBy is how a DetectionQuery names tags (tag_set_by).
type TagSetBy string

// The tag_set_by values.
const (
	TagSetByID   TagSetBy = "id"
	TagSetByName TagSetBy = "name"
)

// TagSelector is whether any or all of the tags must match
// (tag_include_selector, tag_exclude_selector).
type TagSelector string

// The tag selector values.
const (
	TagSelectAny TagSelector = "any"
	TagSelectAll TagSelector = "all"
)

// MetadataProvider is the cloud provider whose instance metadata a
// DetectionQuery adds (host_metadata).
type MetadataProvider string

// The host_metadata values.
const (
	MetadataAll      MetadataProvider = "all"
	MetadataEC2      MetadataProvider = "ec2"
	MetadataAzure    MetadataProvider = "azure"
	MetadataGoogle   MetadataProvider = "google"
	MetadataAliCloud MetadataProvider = "alicloud"
)

// Bool returns a pointer to b, for the *bool query flags.
func Bool(b bool) *bool { return &b }

// qualysTime formats a time as the API expects it, always in UTC.
func qualysTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func (q *DetectionQuery) values() (url.Values, error) {
	v, err := query.Values(q)
	if err != nil {
		return nil, &ConfigError{Option: "DetectionQuery", Reason: err.Error()}
	}
	for _, tf := range []struct {
		key string
		t   time.Time
	}{
		{"vm_scan_since", q.VMScanSince}, {"no_vm_scan_since", q.NoVMScanSince},
		{"vm_processed_after", q.VMProcessedAfter}, {"vm_processed_before", q.VMProcessedBefore},
		{"detection_updated_since", q.DetectionUpdatedSince}, {"detection_updated_before", q.DetectionUpdatedBefore},
		{"detection_processed_after", q.DetectionProcessedAfter}, {"detection_processed_before", q.DetectionProcessedBefore},
		{"vm_scan_date_before", q.VMScanDateBefore}, {"vm_scan_date_after", q.VMScanDateAfter},
		{"vm_auth_scan_date_before", q.VMAuthScanDateBefore}, {"vm_auth_scan_date_after", q.VMAuthScanDateAfter},
		{"detection_last_tested_since", q.DetectionLastTestedSince}, {"detection_last_tested_before", q.DetectionLastTestedBefore},
	} {
		if !tf.t.IsZero() {
			v.Set(tf.key, qualysTime(tf.t))
		}
	}
	if q.MinSeverity > 1 && q.MinSeverity <= 5 && len(q.Severities) == 0 {
		var sev []string
		for s := q.MinSeverity; s <= 5; s++ {
			sev = append(sev, strconv.Itoa(s))
		}
		v.Set("severities", strings.Join(sev, ","))
	}
	switch {
	case q.TruncationLimit > 0:
		v.Set("truncation_limit", strconv.Itoa(q.TruncationLimit))
	case q.TruncationLimit < 0:
		v.Set("truncation_limit", "0")
	}
	for _, lists := range []struct {
		name string
		ids  []int64
	}{{"IDs", q.IDs}, {"QIDs", q.QIDs}, {"AssetGroupIDs", q.AssetGroupIDs}, {"IncludeSearchListIDs", q.IncludeSearchListIDs}, {"ExcludeSearchListIDs", q.ExcludeSearchListIDs}} {
		for _, id := range lists.ids {
			if id <= 0 {
				return nil, &ConfigError{Option: "DetectionQuery." + lists.name, Reason: fmt.Sprintf("id %d is not positive", id)}
			}
		}
	}
	if err := q.validate(); err != nil {
		return nil, err
	}
	for k, vals := range q.Extra {
		if _, ok := v[k]; !ok {
			v[k] = append([]string(nil), vals...)
		}
	}
	v.Set("action", "list")
	return v, nil
}

// validate checks the values Qualys enumerates, so that a typo fails
// before a call is spent on it.
func (q *DetectionQuery) validate() error {
	bad := func(field, reason string) error {
		return &ConfigError{Option: "DetectionQuery." + field, Reason: reason}
	}
	for _, s := range q.Severities {
		if s < 1 || s > 5 {
			return bad("Severities", fmt.Sprintf("severity %d out of range 1-5", s))
		}
	}
	if q.MinSeverity != 0 && (q.MinSeverity < 1 || q.MinSeverity > 5) {
		return bad("MinSeverity", fmt.Sprintf("%d out of range 1-5 (0 keeps all)", q.MinSeverity))
	}
	if q.MinSeverity != 0 && len(q.Severities) > 0 {
		return bad("MinSeverity", "give MinSeverity or Severities, not both")
	}
	for _, st := range q.Status {
		if !slices.Contains([]DetectionStatus{StatusNew, StatusActive, StatusFixed, StatusReOpened}, st) {
			return bad("Status", "want New, Active, Fixed or Re-Opened, got "+quoteShort(string(st)))
		}
	}
	enums := []struct {
		field, value string
		allowed      []string
	}{
		{"IncludeVulnType", string(q.IncludeVulnType), []string{"confirmed", "potential"}},
		{"TagSetBy", string(q.TagSetBy), []string{"id", "name"}},
		{"TagIncludeSel", string(q.TagIncludeSel), []string{"any", "all"}},
		{"TagExcludeSel", string(q.TagExcludeSel), []string{"any", "all"}},
		{"HostMetadata", string(q.HostMetadata), []string{"all", "ec2", "azure", "google", "alicloud"}},
	}
	for _, e := range enums {
		if e.value != "" && !slices.Contains(e.allowed, e.value) {
			return bad(e.field, "want one of "+strings.Join(e.allowed, ", ")+", got "+quoteShort(e.value))
		}
	}
	ranges := []struct {
		field     string
		v, lo, hi int
	}{
		{"QDSMin", q.QDSMin, 1, 100}, {"QDSMax", q.QDSMax, 1, 100},
		{"ARFKernelFilter", q.ARFKernelFilter, 1, 4}, {"ARFServiceFilter", q.ARFServiceFilter, 1, 4},
		{"ARFConfigFilter", q.ARFConfigFilter, 1, 4}, {"ActiveKernelsOnly", q.ActiveKernelsOnly, 1, 3},
		{"MaxDaysSinceVMScan", q.MaxDaysSinceVMScan, 1, 1 << 30}, {"MaxDaysSinceDetectionUpdated", q.MaxDaysSinceDetectionUpdated, 1, 1 << 30},
		{"DetectionLastTestedSinceDays", q.DetectionLastTestedSinceDays, 1, 1 << 30},
		{"DetectionLastTestedBeforeDays", q.DetectionLastTestedBeforeDays, 1, 1 << 30},
	}
	for _, r := range ranges {
		if r.v != 0 && (r.v < r.lo || r.v > r.hi) {
			return bad(r.field, fmt.Sprintf("%d out of range %d-%d (0 leaves it out)", r.v, r.lo, r.hi))
		}
	}
	if q.QDSMin > 0 && q.QDSMax > 0 && q.QDSMin > q.QDSMax {
		return bad("QDSMin", fmt.Sprintf("%d is above QDSMax %d", q.QDSMin, q.QDSMax))
	}
	if (len(q.HostMetadataFields) > 0 && q.HostMetadata == "") || (len(q.CloudTagFields) > 0 && (q.ShowCloudTags == nil || !*q.ShowCloudTags)) {
		return bad("HostMetadataFields", "HostMetadataFields needs HostMetadata and CloudTagFields needs ShowCloudTags")
	}
	return nil
}

// List streams the hosts matching q with their detections. Each response
// is decoded one <HOST> at a time; when Qualys truncates it (WARNING code
// 1980 with a URL), List continues with the caller's filters and that URL's
// id_min, sent to the configured server (never to the URL's host, so
// credentials cannot be sent elsewhere). It fails if id_min does not
// advance past every host id yielded or if a truncation warning has no
// URL; hosts may come in any order within an answer, and a host the server
// repeats is skipped, never yielded twice (see listDetections). The
// first error is yielded once and ends the iteration; breaking out of the
// loop stops fetching.
func (s *DetectionService) List(ctx context.Context, q *DetectionQuery) iter.Seq2[*DetectionHost, error] {
	var qc DetectionQuery
	if q != nil {
		qc = *q
	}
	return func(yield func(*DetectionHost, error) bool) {
		yield = scrubbed(s.c, yield)
		form, err := qc.values()
		if err != nil {
			yield(nil, err)
			return
		}
		s.c.listDetections(ctx, form, yield)
	}
}

// listDetections runs the truncation loop for a prepared form: the WARNING
// URL of a truncated answer gives the next page's id_min, and a body cut
// short (a dropped connection, an idle stream) is asked for again, within
// the retry budget (see idPager). No host is yielded twice.
//
// Host List Detection pages by id_min, but the hosts inside one answer are
// not always in ascending id order (a recorded answer has them out of
// order). Paging rests on what it needs instead: each next id_min must lie
// above every host id yielded so far (else the listing stops: it would
// loop or repeat), and a host id seen again (in the same answer, or below
// the id_min of the answer it comes in) is skipped, counted, and logged at
// DEBUG, never yielded twice. An answer cut short is resumed after its
// last host when its hosts came in order, and otherwise asked for again
// from its start, skipping the hosts already yielded.
func (c *Client) listDetections(ctx context.Context, form url.Values, yield func(*DetectionHost, error) bool) {
	listHosts(ctx, c, EndpointDetections, "detection", form, newDetectionDecoder,
		func(d *detectionDecoder) (*DetectionHost, int64, error) {
			h, err := d.next()
			if h == nil {
				return nil, 0, err
			}
			return h, h.ID, nil
		}, yield)
}

// listHosts is the truncation loop of the host-keyed FO listings (Host
// List Detection, Host List): see listDetections. open starts a decoder
// on an answer; next decodes its next host (nil at the end) and its id.
func listHosts[T any](ctx context.Context, c *Client, ep Endpoint, what string, form url.Values,
	open func(io.Reader, string) *detectionDecoder, next func(*detectionDecoder) (*T, int64, error), yield func(*T, error) bool) {
	path := c.EndpointPath(ep)
	var (
		covered int64               // every host id up to here came in earlier answers
		seen    map[int64]bool      // the hosts yielded from the current answer, kept across its resumes
		start   int64          = -1 // the cursor the current answer started after
		skipped int
	)
	p := &idPager{c: c, endpoint: path, action: "list", what: what + " page", cursorName: "truncation URL id_min", inclusive: true,
		fetch: func(ctx context.Context, after int64) (idPage, error) {
			if after != start {
				// A new answer (not a resume of the one cut short).
				start, seen = after, map[int64]bool{}
				covered = max(covered, after)
			}
			f := form
			if after > 0 {
				f = withParam(form, "id_min", strconv.FormatInt(after+1, 10))
			}
			resp, err := c.postFO(ctx, ep, "list", f, true)
			if err != nil {
				return idPage{}, err
			}
			defer resp.Body.Close()
			d := open(resp.Body, path)
			res, err := streamHosts(d, next, covered, seen, yield)
			skipped += res.skipped
			pg := idPage{maxID: res.maxID, stopped: res.stopped, restart: !res.ordered}
			if res.stopped || err != nil {
				return pg, err
			}
			// The answer is complete: its hosts are covered.
			covered = max(covered, res.maxID)
			seen = nil
			if skipped > 0 {
				c.cfg.Logger.Debug("qualys: hosts repeated by the server were skipped", "endpoint", path, "count", skipped)
			}
			w := d.warning
			if w != nil && w.Code == "1980" && w.URL == "" {
				return pg, &Error{Endpoint: path, Action: "list", Code: w.Code, Message: "truncated response (code 1980) without the URL of the next page; stopping rather than returning part of the hosts as if it were all"}
			}
			if w == nil || w.URL == "" {
				switch {
				case w != nil && eosText(w.Text):
					c.warnEndOfService(path, "WARNING "+w.Code+": "+w.Text)
				case w != nil && w.Code != "" && w.Code != "1980":
					c.cfg.Logger.Warn("qualys: "+what+" list warning", "code", w.Code, "text", w.Text)
				}
				return pg, nil
			}
			_, idMin, err := nextPageForm(form, w.URL)
			if err != nil {
				return pg, &Error{Endpoint: path, Action: "list", Code: w.Code, Message: "truncated response with an unusable URL: " + err.Error()}
			}
			// id_min is inclusive; the pager's cursor is the id the next
			// page starts after. id_min=1 gives 0, which the pager reads
			// as "after the last host", never as a restart.
			pg.next, pg.more = idMin-1, true
			return pg, nil
		}}
	if err := p.run(ctx, 0); err != nil {
		yield(nil, err)
	}
}

// hostsResult is what streaming one answer's hosts reported.
type hostsResult struct {
	maxID   int64 // the largest host id yielded from the answer (0: none new)
	ordered bool  // the answer's hosts came in ascending id order
	stopped bool  // the consumer stopped
	skipped int   // hosts not yielded because they were yielded already
}

// streamHosts yields the hosts of one answer: a host whose id is at most
// covered (an earlier answer's) or already in seen (this answer's, before
// a resume) is skipped; the others are yielded and added to seen.
func streamHosts[T any](d *detectionDecoder, next func(*detectionDecoder) (*T, int64, error), covered int64, seen map[int64]bool, yield func(*T, error) bool) (res hostsResult, err error) {
	res.ordered = true
	var last int64
	for {
		h, id, err := next(d)
		if err != nil {
			return res, err
		}
		if h == nil {
			return res, nil
		}
		if id <= last {
			res.ordered = false
		}
		last = id
		if id <= covered || seen[id] {
			res.skipped++
			continue
		}
		seen[id] = true
		res.maxID = max(res.maxID, id)
		if !yield(h, nil) {
			res.stopped = true
			return res, nil
		}
	}
}

func withParam(form url.Values, key, value string) url.Values {
	next := url.Values{}
	for k, v := range form {
		next[k] = v
	}
	next.Set(key, value)
	return next
}

// resumable reports whether a decoding failure came from the body being
// cut rather than from malformed content.
func resumable(err error) bool {
	var de *DecodeError
	if !errors.As(err, &de) {
		return false
	}
	return errors.Is(err, xmlstream.ErrUnexpectedEOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrIdleTimeout) ||
		errors.Is(err, syscall.ECONNRESET)
}

// nextPageForm builds the next request from the original form and the
// id_min of a WARNING URL. The request goes to the configured server, never
// to the URL's host, and carries the caller's filters unchanged.
func nextPageForm(form url.Values, raw string) (url.Values, int64, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, 0, fmt.Errorf("cannot parse it")
	}
	uq := u.Query()
	idMin, err := strconv.ParseInt(uq.Get("id_min"), 10, 64)
	if err != nil || idMin <= 0 {
		return nil, 0, fmt.Errorf("no id_min in it")
	}
	// Only the cursor is taken from the URL: its other parameters never
	// replace or add to the caller's filters.
	next := url.Values{}
	for k, v := range form {
		next[k] = append([]string(nil), v...)
	}
	next.Set("id_min", strconv.FormatInt(idMin, 10))
	next.Set("action", "list")
	return next, idMin, nil
}
