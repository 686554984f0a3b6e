package qualys_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualysbridge/qualysbridge/qualys"
	"github.com/qualysbridge/qualysbridge/qualys/qualystest"
)

// TestEveryCallGoesToTheCurrentVersions runs every FO call type against
// the fake and checks the path of each request.
func TestEveryCallGoesToTheCurrentVersions(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 30)
	ctx := context.Background()
	for _, err := range c.Detections.List(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range c.KnowledgeBase.List(ctx, &qualys.KnowledgeBaseQuery{QIDs: []int64{38170}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range c.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{"CVE-2019-17053"}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range c.SearchLists.List(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		"/api/5.0/fo/asset/host/vm/detection/": "list",
		"/api/4.0/fo/knowledge_base/vuln/":     "list",
		"/api/3.0/fo/qid/search_list/dynamic/": "create list delete",
	}
	seen := map[string]map[string]bool{}
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		if _, ok := want[r.Path]; !ok {
			t.Errorf("%s action=%s went to an unexpected path", r.Path, r.Form.Get("action"))
			continue
		}
		if seen[r.Path] == nil {
			seen[r.Path] = map[string]bool{}
		}
		seen[r.Path][r.Form.Get("action")] = true
	}
	for path, actions := range want {
		for _, a := range strings.Fields(actions) {
			if !seen[path][a] {
				t.Errorf("no %s call to %s", a, path)
			}
		}
	}
	for _, e := range qualys.Endpoints() {
		if got, want := c.EndpointPath(e), "/api/"+qualys.DefaultVersion(e)+"/fo/"+string(e); got != want {
			t.Errorf("EndpointPath(%s) = %q, want %q", e, got, want)
		}
	}
}

// TestRetiredVersionIsLoud calls retired versions answered in each shape
// the fake offers: the error names the endpoint, the version and the
// option, matches ErrVersionUnsupported, and the call is not repeated.
func TestRetiredVersionIsLoud(t *testing.T) {
	t.Parallel()
	shapes := map[string]qualystest.RetiredAnswer{
		"404 html": qualystest.RetiredNotFoundHTML, "404 xml": qualystest.RetiredNotFoundXML,
		"simple return": qualystest.RetiredSimpleReturn, "410": qualystest.RetiredGone,
	}
	calls := map[qualys.Endpoint]func(*qualys.Client) error{
		qualys.EndpointDetections: func(c *qualys.Client) error {
			for _, err := range c.Detections.List(context.Background(), nil) {
				return err
			}
			return nil
		},
		qualys.EndpointKnowledgeBase: func(c *qualys.Client) error {
			for _, err := range c.KnowledgeBase.List(context.Background(), nil) {
				return err
			}
			return nil
		},
		qualys.EndpointSearchLists: func(c *qualys.Client) error {
			_, err := c.SearchLists.CreateDynamic(context.Background(), &qualys.DynamicSearchList{Title: "t", CVEIDs: []string{"CVE-2019-17053"}})
			return err
		},
	}
	retiredVersion := map[qualys.Endpoint]string{
		qualys.EndpointDetections: "2.0", qualys.EndpointKnowledgeBase: "3.0", qualys.EndpointSearchLists: "1.0",
	}
	for name, shape := range shapes {
		for ep, call := range calls {
			t.Run(name+"/"+string(ep), func(t *testing.T) {
				srv, _ := newFake(t, 5, qualystest.WithRetiredAnswer(shape))
				user, pass := srv.Credentials()
				old, err := qualys.NewClient(srv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(),
					qualys.WithEndpointVersion(ep, retiredVersion[ep]), qualys.WithBackoff(func(int) time.Duration { return time.Millisecond }))
				if err != nil {
					t.Fatal(err)
				}
				err = call(old)
				var ve *qualys.VersionError
				if !errors.Is(err, qualys.ErrVersionUnsupported) || !errors.As(err, &ve) {
					t.Fatalf("err = %v, want a *VersionError", err)
				}
				if ve.Endpoint != ep || ve.Version != retiredVersion[ep] {
					t.Errorf("VersionError = %+v", ve)
				}
				msg := err.Error()
				for _, want := range []string{string(ep), "version " + retiredVersion[ep], "WithEndpointVersion(qualys.", qualys.DefaultVersion(ep)} {
					if !strings.Contains(msg, want) {
						t.Errorf("message %q lacks %q", msg, want)
					}
				}
				var qe *qualys.Error
				if !errors.As(err, &qe) || qe.Endpoint != "/api/"+retiredVersion[ep]+"/fo/"+string(ep) {
					t.Errorf("the *Error underneath is %+v", qe)
				}
				if n := len(srv.Requests()); n != 1 {
					t.Errorf("%d requests, want 1 (a refused version is not retried)", n)
				}
			})
		}
	}
}

func TestEndOfServiceNoticeLoggedOncePerEndpoint(t *testing.T) {
	t.Parallel()
	srv, _ := newFake(t, 5)
	var logs bytes.Buffer
	user, pass := srv.Credentials()
	c, err := qualys.NewClient(srv.URL, qualys.WithCredentials(user, pass), qualys.WithInsecureLoopback(),
		qualys.WithEndpointVersion(qualys.EndpointSearchLists, "2.0"),
		qualys.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		id, err := c.SearchLists.CreateDynamic(ctx, &qualys.DynamicSearchList{Title: "eos " + string(rune('a'+i)), CVEIDs: []string{"CVE-2019-17053"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SearchLists.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range c.Detections.List(ctx, nil) { // a current version: no notice
		if err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "end of service"); n != 1 {
		t.Fatalf("%d end-of-service warnings, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "/api/2.0/fo/qid/search_list/dynamic/") || !strings.Contains(out, "Sunset") {
		t.Errorf("warning does not name the endpoint and notice:\n%s", out)
	}
}

// TestDetectionWarningEndOfService: a notice carried in the detection
// output's WARNING element (no URL) is logged once, not treated as a page.
func TestDetectionWarningEndOfService(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID></HOST></HOST_LIST>
<WARNING><CODE>1999</CODE><TEXT>This API version reaches End-of-Service on 2026-12-31.</TEXT></WARNING></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>`)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c, err := qualys.NewClient(srv.URL, qualys.WithCredentials("u", "p"), qualys.WithInsecureLoopback(),
		qualys.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		n := 0
		for _, err := range c.Detections.List(context.Background(), nil) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 1 {
			t.Fatalf("%d hosts", n)
		}
	}
	if got := strings.Count(logs.String(), "End-of-Service"); got != 1 {
		t.Errorf("notice logged %d times, want once:\n%s", got, logs.String())
	}
}

// TestVulnerableHostsExactCVE: the fake's search lists match CVE ids by
// substring, so a list for CVE-2019-1705 also holds the QID of
// CVE-2019-17053; only the exact CVE's hosts come back.
func TestVulnerableHostsExactCVE(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 40, qualystest.WithCVEMatch(qualystest.CVESubstring))
	const shortCVE, longCVE = "CVE-2019-1705", "CVE-2019-17053" // the tenant has longCVE on QID 38170
	srv.Load(&qualystest.Tenant{KB: []*qualys.Vulnerability{{QID: 38171, VulnType: "Vulnerability", Severity: 5, Title: "exact",
		CVEs: []qualys.Reference{{ID: shortCVE}}}}})
	ctx := context.Background()
	var withShort, withLong []int64
	for h, err := range c.Detections.List(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if h.ID%3 == 0 {
			h.Detections = append(h.Detections, qualys.Detection{QID: 38171, Type: "Confirmed", Severity: 5, Status: "Active"})
			srv.SetDetectionHost(h)
			withShort = append(withShort, h.ID)
		}
		for _, d := range h.Detections {
			if d.QID == 38170 {
				withLong = append(withLong, h.ID)
			}
		}
	}
	if len(withShort) == 0 || len(withLong) == 0 {
		t.Fatalf("tenant: %d hosts with %s, %d with %s", len(withShort), shortCVE, len(withLong), longCVE)
	}
	var got []int64
	for h, err := range c.VulnerableHosts(ctx, &qualys.VulnerableHostsQuery{CVEs: []string{shortCVE}}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range h.Detections {
			if d.QID != 38171 {
				t.Errorf("host %d: detection of QID %d, which is not %s", h.ID, d.QID, shortCVE)
			}
		}
		got = append(got, h.ID)
	}
	if diff := cmp.Diff(withShort, got); diff != "" {
		t.Errorf("hosts for %s (-want +got):\n%s", shortCVE, diff)
	}
	// The fake's list really was wider: its QIDs included 38170.
	var sawWide bool
	for _, r := range srv.Requests() {
		if r.API == qualystest.APIDetections && strings.Contains(r.Form.Get("qids"), "38170") {
			t.Errorf("QID 38170 sent in qids=%s", r.Form.Get("qids"))
		}
		if r.API == qualystest.APIKnowledgeBase && strings.Contains(r.Form.Get("ids"), "38170") {
			sawWide = true
		}
	}
	if !sawWide {
		t.Error("the search list did not hold the wider QID; the test proves nothing")
	}
	if len(srv.SearchLists()) != 0 {
		t.Errorf("lists left %v", srv.SearchLists())
	}
}

// TestSearchListRoots: both documented roots decode; any other root is a
// *DecodeError, never zero lists without an error.
func TestSearchListRoots(t *testing.T) {
	t.Parallel()
	body := func(root string) string {
		return `<?xml version="1.0" encoding="UTF-8" ?><` + root + `><RESPONSE><DATETIME>2026-11-30T00:00:00Z</DATETIME>
<DYNAMIC_LISTS><DYNAMIC_LIST><ID>17</ID><TITLE><![CDATA[t]]></TITLE><QIDS><QID>38170</QID></QIDS></DYNAMIC_LIST></DYNAMIC_LISTS>
</RESPONSE></` + root + `>`
	}
	for root, wantErr := range map[string]bool{"DYNAMIC_SEARCH_LIST_OUTPUT": false, "SEARCH_LIST_OUTPUT": false, "STATIC_SEARCH_LIST_OUTPUT": true, "HTML_ISH": true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body(root)) }))
		c, err := qualys.NewClient(srv.URL, qualys.WithCredentials("u", "p"), qualys.WithInsecureLoopback())
		if err != nil {
			t.Fatal(err)
		}
		var lists []*qualys.SearchList
		var listErr error
		for l, err := range c.SearchLists.List(context.Background(), nil) {
			if err != nil {
				listErr = err
				break
			}
			lists = append(lists, l)
		}
		srv.Close()
		var de *qualys.DecodeError
		switch {
		case wantErr && !errors.As(listErr, &de):
			t.Errorf("root %s: err = %v, want a *DecodeError", root, listErr)
		case wantErr && !strings.Contains(listErr.Error(), root):
			t.Errorf("root %s: error %q does not name the root", root, listErr)
		case !wantErr && (listErr != nil || len(lists) != 1 || lists[0].ID != 17 || len(lists[0].QIDs) != 1):
			t.Errorf("root %s: lists %+v, err %v", root, lists, listErr)
		}
	}
}

func TestKnowledgeBaseWrongRoot(t *testing.T) {
	t.Parallel()
	for v, err := range qualys.DecodeKnowledgeBase(strings.NewReader(`<VULN_LIST><VULN><QID>1</QID></VULN></VULN_LIST>`)) {
		var de *qualys.DecodeError
		if v != nil || !errors.As(err, &de) {
			t.Errorf("got %+v, %v; want a *DecodeError", v, err)
		}
	}
}

// TestHostAssetsFromXMLAnswers: a QPS API that answers XML although JSON
// was asked for gives the same assets, pages and resume behaviour.
func TestHostAssetsFromXMLAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	list := func(srv *qualystest.Server, c *qualys.Client) []*qualys.HostAsset {
		var out []*qualys.HostAsset
		for a, err := range c.HostAssets.List(ctx, &qualys.HostAssetQuery{PageSize: 7}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		return out
	}
	_, jc := newFake(t, 30)
	xsrv, xc := newFake(t, 30, qualystest.WithQPSXMLOnly())
	want := list(nil, jc)
	// The second page is cut mid-body: resumed after the last asset.
	xsrv.InjectFault(qualystest.Fault{API: qualystest.APIHostAssets, Call: 2, DropAfter: 3000})
	got := list(xsrv, xc)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assets from XML answers (-json +xml):\n%s", diff)
	}
	if len(want) < 20 {
		t.Fatalf("only %d assets", len(want))
	}
	if fired := xsrv.FaultsFired()["fault"]; fired != 1 {
		t.Errorf("cut fired %d times", fired)
	}
	for _, r := range xsrv.Requests() {
		if r.API == qualystest.APIHostAssets && r.Header.Get("Accept") != "application/json" {
			t.Errorf("request accepted %q", r.Header.Get("Accept"))
		}
	}
	n, err := xc.HostAssets.Count(ctx, nil)
	if err != nil || n != len(want) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(want))
	}
}

// TestAssetGroupsPagedAndResolved: the asset group list follows its
// truncation warning; titles resolve exactly, an unknown one is named.
func TestAssetGroupsPagedAndResolved(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, 10)
	ctx := context.Background()
	var titles []string
	for g, err := range c.AssetGroups.List(ctx, &qualys.AssetGroupQuery{TruncationLimit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		titles = append(titles, g.Title)
	}
	if len(titles) != 3 || srv.Calls(qualystest.APIAssetGroups) != 3 {
		t.Errorf("groups %v in %d calls", titles, srv.Calls(qualystest.APIAssetGroups))
	}
	ids, err := c.AssetGroups.ResolveTitles(ctx, []string{"Branch Offices", "Data Center"})
	if err != nil || len(ids) != 2 || ids[0] != 902 || ids[1] != 900 {
		t.Errorf("ids %v, err %v", ids, err)
	}
	if _, err := c.AssetGroups.ResolveTitles(ctx, []string{"data center"}); err == nil || !strings.Contains(err.Error(), `"data center"`) {
		t.Errorf("case-different title: %v", err)
	}
	for _, r := range srv.Requests() {
		if r.API == qualystest.APIAssetGroups && r.Path != "/api/2.0/fo/asset/group/" {
			t.Errorf("asset groups called at %s", r.Path)
		}
	}
}

// An asset group answer cut anywhere is asked for again after the last
// complete group (the shared pager's resume): every group once, in order.
func TestAssetGroupsResumeAfterCut(t *testing.T) {
	t.Parallel()
	resumed := 0
	for cut := 120; cut < 1400; cut += 97 {
		srv, c := newFake(t, 10)
		srv.InjectFault(qualystest.Fault{API: qualystest.APIAssetGroups, Call: 1, DropAfter: cut})
		var titles []string
		for g, err := range c.AssetGroups.List(context.Background(), nil) {
			if err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			titles = append(titles, g.Title)
		}
		if want := []string{"Data Center", "Cloud Estate", "Branch Offices"}; strings.Join(titles, "|") != strings.Join(want, "|") {
			t.Errorf("cut at %d: groups %q, want %q", cut, titles, want)
		}
		n := srv.Calls(qualystest.APIAssetGroups)
		if n > 2 {
			t.Errorf("cut at %d: %d calls, want at most 2", cut, n)
		}
		if n == 2 {
			resumed++
		}
	}
	if resumed == 0 {
		t.Error("no cut fell inside the answer: the test did not exercise a resume")
	}
}
